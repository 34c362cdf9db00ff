"""Core memory: the agent's blocks as the step sees and edits them.

Edits happen in memory during a step and are written back with the step's commit, so a
step that fails leaves every block as it was. Every rule a model can break (unknown
label, read-only block, over the limit) raises `ToolError` with a message the model can
act on; the block stays unchanged.

Blocks can be shared by several agents, so each edit is also kept as an operation (`BlockEdit`).
At commit (`save`) the block row is read again under the write lock: if its version is still the
one this memory read, the edited value is written; if another writer saved a version meanwhile,
the step's operations are re-applied to the fresh value, so neither update is lost. When one of
them no longer applies (its text is gone, the block would go over its limit, a rewrite was based
on an older value) the step's edits of that block are dropped and the fresh value kept; `save`
returns a note for each such block. `refresh` reloads blocks another writer changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from html import escape
from typing import Literal

from sqlalchemy import Connection

from memfold.errors import NotFoundError, ToolError
from memfold.schemas.blocks import Block
from memfold.store import blocks as block_rows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BlockEdit:
    """One edit as a tool asked for it. `old` is the text to replace, or for a rewrite the value it
    replaced (a rewrite applies only to the value it was based on)."""

    kind: Literal["append", "replace", "insert", "rewrite"]
    text: str
    old: str = ""
    line: int = -1
    unique: bool = False

    def apply(self, label: str, current: str) -> str:
        if self.kind == "append":
            return f"{current}\n{self.text}" if current else self.text
        if self.kind == "replace":
            return _replaced(label, current, self.old, self.text, self.unique)
        if self.kind == "insert":
            return _inserted(current, self.text, self.line)
        if current != self.old:
            raise ToolError(f"memory block {label!r} changed since it was read; the rewrite is dropped")
        return self.text


def _replaced(label: str, current: str, old: str, new: str, unique: bool) -> str:
    if not old:
        raise ToolError("the text to replace must not be empty")
    count = current.count(old)
    if count == 0:
        raise ToolError(f"{old!r} was not found in memory block {label!r}; the block is unchanged")
    if unique and count > 1:
        raise ToolError(
            f"{old!r} appears {count} times in memory block {label!r}; "
            "include more surrounding text so it is unique"
        )
    return current.replace(old, new, 1 if unique else -1)


def _inserted(current: str, text: str, line: int) -> str:
    lines = current.split("\n") if current else []
    if line == -1 or line >= len(lines):
        lines.append(text)
    elif line < -1:
        raise ToolError(f"insert_line must be -1 (end) or a line number from 0, not {line}")
    else:
        lines.insert(line, text)
    return "\n".join(lines)


def _check(block: Block, value: str) -> None:
    if block.read_only:
        raise ToolError(f"memory block {block.label!r} is read-only and cannot be edited")
    if len(value) > block.limit:
        raise ToolError(
            f"edit rejected: block {block.label!r} would hold {len(value)} characters, over its limit of "
            f"{block.limit}; the block is unchanged. Shorten or condense the content and try again."
        )


def rebase(block: Block, edits: list[BlockEdit]) -> str:
    """`edits` applied in order to `block`'s (fresh) value, each checked as the tool checked it;
    raises `ToolError` naming the first one that no longer applies."""
    value = block.value
    for edit in edits:
        value = edit.apply(block.label, value)
        _check(block, value)
    return value


class CoreMemory:
    def __init__(self, blocks: list[Block], versions: dict[str, int] | None = None) -> None:
        self._blocks: dict[str, Block] = {b.label: b for b in blocks}
        self.versions: dict[str, int] = dict(versions or {})
        """`{block id: version}` as read; compared at commit and by `refresh`."""
        self.edited: set[str] = set()
        self.edits: dict[str, list[BlockEdit]] = {}
        """The operations behind `edited`, by label, in order."""

    @property
    def blocks(self) -> list[Block]:
        return list(self._blocks.values())

    def get(self, label: str) -> Block:
        block = self._blocks.get(label)
        if block is None:
            known = ", ".join(repr(k) for k in self._blocks) or "none"
            raise ToolError(f"no memory block labelled {label!r}; the blocks are: {known}")
        return block

    def _edit(self, label: str, edit: BlockEdit) -> None:
        block = self.get(label)
        value = edit.apply(label, block.value)
        _check(block, value)
        if value != block.value:
            self._blocks[label] = block.model_copy(update={"value": value})
            self.edited.add(label)
            self.edits.setdefault(label, []).append(edit)

    # --- the edit operations the built-in tools expose ---------------------------------

    def set_value(self, label: str, value: str) -> None:
        self._edit(label, BlockEdit("rewrite", value, old=self.get(label).value))

    def append(self, label: str, content: str) -> None:
        self._edit(label, BlockEdit("append", content))

    def replace(self, label: str, old: str, new: str, *, require_unique: bool = False) -> None:
        self._edit(label, BlockEdit("replace", new, old=old, unique=require_unique))

    def insert(self, label: str, text: str, line: int = -1) -> None:
        self._edit(label, BlockEdit("insert", text, line=line))

    def rewrite(self, label: str, value: str) -> None:
        self.set_value(label, value)

    # --- saving and refreshing (shared blocks) -------------------------------------------

    def save(self, conn: Connection, org_id: str, agent_id: str) -> list[str]:
        """Write the edits in the caller's write transaction, re-applied to any newer version (see the
        module docstring). Returns a note for each block whose edits were dropped."""
        notes: list[str] = []
        for label in sorted(self.edited, key=lambda label: self._blocks[label].id):  # one lock order
            block = self._blocks[label]
            value = block.value
            try:
                fresh, version = block_rows.block_for_update(conn, org_id, block.id)
            except NotFoundError as e:  # deleted meanwhile: nothing to save; `refresh` forgets it
                notes.append(f"edits of memory block {label!r} by agent {agent_id} dropped: {e}")
                log.warning(notes[-1])
                continue
            try:
                if version != self.versions.get(block.id) and label in self.edits:
                    value = rebase(fresh, self.edits[label])
                _check(fresh, value)  # read-only or limit may have changed meanwhile
            except ToolError as e:
                notes.append(f"edits of memory block {label!r} by agent {agent_id} dropped: {e}")
                log.warning(notes[-1])
                value = fresh.value
            if value != fresh.value:
                version += 1
                fresh = fresh.model_copy(update={"value": value})
                block_rows.save_value(conn, org_id, fresh, version, actor_type="agent", actor_id=agent_id)
            # The session now holds what is saved, so `refresh` reloads only for other writers.
            if fresh.label == label:  # (relabelled meanwhile: `refresh` reloads every block)
                self._blocks[label] = fresh
                self.versions[block.id] = version
        self.edited.clear()
        self.edits.clear()
        return notes

    def refresh(self, conn: Connection, agent_id: str) -> bool:
        """Reload the agent's blocks if any was changed, attached or detached since they were read
        (a cheap version check first). Unsaved edits are dropped, so call it after `save`."""
        if block_rows.versions_of_agent(conn, agent_id) == self.versions:
            return False
        pairs = block_rows.versioned_blocks_of_agent(conn, agent_id)
        self._blocks = {b.label: b for b, _ in pairs}
        self.versions = {b.id: v for b, v in pairs}
        self.edited.clear()
        self.edits.clear()
        return True

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
