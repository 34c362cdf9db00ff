"""Uploaded files to structured text: a `Document` of headings, paragraphs, code and table rows.

One parser per type, chosen by the file name's extension (the declared content type is a
fallback): plain text, Markdown, HTML (stdlib `html.parser`), JSON, CSV, PDF (`pypdf`) and
DOCX (stdlib `zipfile` + `xml.etree`). Anything else, or bytes a parser cannot read, raises
`FileParseError` whose message says why; the ingestion job stores it as the file's error.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Callable
from xml.etree import ElementTree

from memfold.folders.document import Block, Document, FileParseError, paragraphs
from memfold.folders.html import parse_html

__all__ = ["SUPPORTED_TYPES", "Block", "Document", "FileParseError", "file_type", "parse_file"]

SUPPORTED_TYPES: dict[str, str] = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".log": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".json": "application/json",
    ".csv": "text/csv",
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
"""Extension -> MIME type of every file memfold can read."""


def file_type(name: str, declared: str | None = None) -> str | None:
    """The MIME type memfold reads `name` as, or None when it cannot read it."""
    lowered = name.lower()
    for extension, mime in SUPPORTED_TYPES.items():
        if lowered.endswith(extension):
            return mime
    base = (declared or "").split(";")[0].strip().lower()
    return base if base in SUPPORTED_TYPES.values() else None


def parse_file(name: str, data: bytes, declared: str | None = None) -> Document:
    mime = file_type(name, declared)
    if mime is None:
        known = ", ".join(sorted({e.lstrip(".") for e in SUPPORTED_TYPES}))
        raise FileParseError(f"unsupported file type {name!r} ({declared or 'unknown'}); supported: {known}")
    return _PARSERS[mime](data)


# --- text formats ----------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    if b"\x00" in data:
        raise FileParseError("the file is binary (it contains NUL bytes), not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise FileParseError(f"the file is not valid UTF-8 text (byte {e.start}: {e.reason})") from e
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _parse_text(data: bytes) -> Document:
    text = _decode(data)
    return Document(text, paragraphs(text))


_ATX = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)\s*$")


def _parse_markdown(data: bytes) -> Document:
    text = _decode(data)
    blocks: list[Block] = []
    para: list[str] = []
    code: list[str] | None = None
    fence = ""

    def end_paragraph() -> None:
        if para:
            blocks.append(Block("paragraph", "\n".join(para).strip()))
            para.clear()

    for line in text.split("\n"):
        if code is not None:
            code.append(line)
            if line.strip().startswith(fence) and line.strip().strip(fence[0]) == "":
                blocks.append(Block("code", "\n".join(code)))
                code = None
            continue
        if opened := _FENCE.match(line):
            end_paragraph()
            fence, code = opened.group(1), [line]
        elif heading := _ATX.match(line):
            end_paragraph()
            blocks.append(Block("heading", line.strip(), len(heading.group(1))))
        elif (setext := _SETEXT.match(line)) and len(para) == 1:
            level = 1 if setext.group(1).startswith("=") else 2
            blocks.append(Block("heading", f"{'#' * level} {para[0].strip()}", level))
            para.clear()
        elif not line.strip():
            end_paragraph()
        else:
            para.append(line)
    end_paragraph()
    if code is not None:  # an unclosed fence runs to the end of the file
        blocks.append(Block("code", "\n".join(code)))
    return Document(text, blocks)


def _parse_html(data: bytes) -> Document:
    blocks = parse_html(_decode(data))
    return Document("\n\n".join(b.text for b in blocks), blocks)


def _parse_json(data: bytes) -> Document:
    try:
        value = json.loads(_decode(data))
    except json.JSONDecodeError as e:
        raise FileParseError(f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from e
    text = json.dumps(value, indent=2, ensure_ascii=False)
    if isinstance(value, dict):
        items = [
            f"{json.dumps(k, ensure_ascii=False)}: {json.dumps(v, indent=2, ensure_ascii=False)}"
            for k, v in value.items()
        ]
    elif isinstance(value, list):
        items = [json.dumps(v, indent=2, ensure_ascii=False) for v in value]
    else:
        items = [text]
    return Document(text, [Block("code", item) for item in items])


def _parse_csv(data: bytes) -> Document:
    text = _decode(data)
    try:
        rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    except csv.Error as e:
        raise FileParseError(f"invalid CSV: {e}") from e
    if not rows:
        return Document(text)

    def line(row: list[str]) -> str:
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow(row)
        return out.getvalue()

    return Document(text, [Block("row", line(row)) for row in rows[1:]], header=line(rows[0]))


# --- binary formats --------------------------------------------------------------------------


def _parse_pdf(data: bytes) -> Document:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise FileParseError("the PDF is encrypted; upload an unencrypted copy")
        pages = [page.extract_text() or "" for page in reader.pages]
    except FileParseError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as e:
        raise FileParseError(f"cannot read the PDF: {e or type(e).__name__}") from e
    if not pages:
        raise FileParseError("the PDF has no pages")
    if not any(p.strip() for p in pages):
        raise FileParseError("the PDF has no extractable text (scanned pages need OCR, which memfold lacks)")
    blocks = [block for page in pages for block in paragraphs(page)]
    return Document("\n\n".join(p.strip() for p in pages if p.strip()), blocks)


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _docx_text(element: ElementTree.Element) -> str:
    parts: list[str] = []
    for node in element.iter():
        if node.tag == f"{_W}t" and node.text:
            parts.append(node.text)
        elif node.tag == f"{_W}tab":
            parts.append("\t")
        elif node.tag in (f"{_W}br", f"{_W}cr"):
            parts.append("\n")
    return "".join(parts).strip()


def _parse_docx(data: bytes) -> Document:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            root = ElementTree.fromstring(archive.read("word/document.xml"))
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError) as e:
        raise FileParseError(f"cannot read the DOCX file: {e}") from e
    body = root.find(f"{_W}body")
    blocks: list[Block] = []
    for child in body if body is not None else []:
        if child.tag == f"{_W}p":
            text = _docx_text(child)
            style = child.find(f"{_W}pPr/{_W}pStyle")
            name = style.get(f"{_W}val", "") if style is not None else ""
            level = 1 if name == "Title" else int(name[7:]) if re.fullmatch(r"Heading[1-6]", name) else 0
            if text:
                blocks.append(
                    Block("heading", f"{'#' * level} {text}", level) if level else Block("paragraph", text)
                )
        elif child.tag == f"{_W}tbl":
            for row in child.iter(f"{_W}tr"):
                cells = [_docx_text(cell) for cell in row.iter(f"{_W}tc")]
                if any(cells):
                    blocks.append(Block("paragraph", " | ".join(cells)))
    return Document("\n\n".join(b.text for b in blocks), blocks)


_PARSERS: dict[str, Callable[[bytes], Document]] = {
    "text/plain": _parse_text,
    "text/markdown": _parse_markdown,
    "text/html": _parse_html,
    "application/json": _parse_json,
    "text/csv": _parse_csv,
    "application/pdf": _parse_pdf,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": _parse_docx,
}
