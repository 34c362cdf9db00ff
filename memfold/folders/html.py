"""HTML to blocks with the standard library's `html.parser`: headings, paragraphs, code, table rows.

Scripts, styles and the document head (except its `<title>`) are dropped. Headings are written
the Markdown way (`## Install`), so a chunk reads the same whatever format its file had.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from memfold.folders.document import Block

__all__ = ["parse_html"]

_SKIP = {"script", "style", "noscript", "template", "svg", "head"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKS = {
    "p", "div", "li", "dt", "dd", "blockquote", "section", "article", "main", "header", "footer",
    "nav", "aside", "figcaption", "caption", "tr", "ul", "ol", "table", "body", "form", "address",
}  # fmt: skip
_SPACE = re.compile(r"\s+")


class _BlockParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self._text: list[str] = []
        self._skip = 0
        self._pre = 0
        self._heading = 0
        self._title = False
        self._cells: list[str] | None = None

    # A block ends whenever another starts or ends: text never leaks across structure.
    def _flush(self) -> None:
        if self._pre:
            text = "".join(self._text).strip("\n")
            if text.strip():
                self.blocks.append(Block("code", text))
        else:
            text = _SPACE.sub(" ", "".join(self._text)).strip()
            if text:
                if self._heading:
                    self.blocks.append(Block("heading", f"{'#' * self._heading} {text}", self._heading))
                else:
                    self.blocks.append(Block("paragraph", text))
        self._text = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._flush()
            self._title = True
        elif tag in _SKIP:
            self._skip += 1
        elif tag in _HEADINGS:
            self._flush()
            self._heading = _HEADINGS[tag]
        elif tag == "pre":
            self._flush()
            self._pre += 1
        elif tag == "tr":
            self._flush()
            self._cells = []
        elif tag in ("td", "th") and self._cells is not None:
            self._text = []
        elif tag == "br":
            self._text.append("\n" if self._pre else " ")
        elif tag in _BLOCKS and not self._pre:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._heading, self._title = 1, False
            self._flush()
            self._heading = 0
        elif tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in _HEADINGS:
            self._flush()
            self._heading = 0
        elif tag == "pre":
            self._flush()
            self._pre = max(0, self._pre - 1)
        elif tag in ("td", "th") and self._cells is not None:
            self._cells.append(_SPACE.sub(" ", "".join(self._text)).strip())
            self._text = []
        elif tag == "tr" and self._cells is not None:
            if any(self._cells):
                self.blocks.append(Block("paragraph", " | ".join(self._cells)))
            self._cells, self._text = None, []
        elif tag in _BLOCKS and not self._pre:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._title or not self._skip:
            self._text.append(data)


def parse_html(text: str) -> list[Block]:
    parser = _BlockParser()
    parser.feed(text)
    parser.close()
    parser._flush()
    return parser.blocks
