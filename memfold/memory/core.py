"""Core memory: the agent's blocks as the step sees and edits them.

Edits happen in memory during a step and are written back with the step's commit, so a
step that fails leaves every block as it was. Every rule a model can break (unknown
label, read-only block, over the limit) raises `ToolError` with a message the model can
act on; the block stays unchanged.
"""

from __future__ import annotations

from html import escape

from memfold.errors import ToolError
from memfold.schemas.blocks import Block


class CoreMemory:
    def __init__(self, blocks: list[Block]) -> None:
        self._blocks: dict[str, Block] = {b.label: b for b in blocks}
        self.edited: set[str] = set()

    @property
    def blocks(self) -> list[Block]:
        return list(self._blocks.values())

    def get(self, label: str) -> Block:
        block = self._blocks.get(label)
        if block is None:
            known = ", ".join(repr(k) for k in self._blocks) or "none"
            raise ToolError(f"no memory block labelled {label!r}; the blocks are: {known}")
        return block

    def set_value(self, label: str, value: str) -> None:
        block = self.get(label)
        if block.read_only:
            raise ToolError(f"memory block {label!r} is read-only and cannot be edited")
        if len(value) > block.limit:
            raise ToolError(
                f"edit rejected: block {label!r} would hold {len(value)} characters, over its limit of "
                f"{block.limit}; the block is unchanged. Shorten or condense the content and try again."
            )
        if value != block.value:
            self._blocks[label] = block.model_copy(update={"value": value})
            self.edited.add(label)

    # --- the edit operations the built-in tools expose ---------------------------------

    def append(self, label: str, content: str) -> None:
        current = self.get(label).value
        self.set_value(label, f"{current}\n{content}" if current else content)

    def replace(self, label: str, old: str, new: str, *, require_unique: bool = False) -> None:
        current = self.get(label).value
        if not old:
            raise ToolError("the text to replace must not be empty")
        count = current.count(old)
        if count == 0:
            raise ToolError(f"{old!r} was not found in memory block {label!r}; the block is unchanged")
        if require_unique and count > 1:
            raise ToolError(
                f"{old!r} appears {count} times in memory block {label!r}; "
                "include more surrounding text so it is unique"
            )
        self.set_value(label, current.replace(old, new, 1 if require_unique else -1))

    def insert(self, label: str, text: str, line: int = -1) -> None:
        current = self.get(label).value
        lines = current.split("\n") if current else []
        if line == -1 or line >= len(lines):
            lines.append(text)
        elif line < -1:
            raise ToolError(f"insert_line must be -1 (end) or a line number from 0, not {line}")
        else:
            lines.insert(line, text)
        self.set_value(label, "\n".join(lines))

    def rewrite(self, label: str, value: str) -> None:
        self.set_value(label, value)

    # --- rendering ---------------------------------------------------------------------

    def render(self) -> str:
        """The blocks as they appear in the system prompt: label, description, size/limit, value."""
        parts = ["<memory_blocks>"]
        for block in self._blocks.values():
            if block.hidden:
                continue
            parts.append(f"<{block.label}>")
            if block.description:
                parts.append(f"<description>{escape(block.description, quote=False)}</description>")
            access = " read_only" if block.read_only else ""
            parts.append(f"<metadata chars_current={len(block.value)} chars_limit={block.limit}{access}/>")
            parts.append(f"<value>\n{block.value}\n</value>")
            parts.append(f"</{block.label}>")
        parts.append("</memory_blocks>")
        return "\n".join(parts)
