"""Reading an `.af` file: JSON, either generation of the format, and its internal references.

The older generation (Letta before the multi-entity format) is one agent at the top level:
`agent_type`, `core_memory` (its blocks), `messages` with `in_context_message_indices`
(positions in `messages`), inline `tools`, `llm_config`, ... It is converted here into the
current shape, with file-local ids (`agent-0`, `block-N`, `tool-N`, `message-N`), so the
importer knows one shape only.

Everything that is wrong with a file is found here, before anything is stored: not JSON
(400), not an agent file or a field of the wrong type (422, with the field's path), an id
used twice or a reference to an id the file does not hold (422).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from memfold.agentfile.format import AgentFile
from memfold.errors import BadRequestError, InvalidValueError

__all__ = ["is_legacy", "parse_agent_file", "upgrade_legacy"]

_LEGACY_ONLY = (
    "core_memory",
    "messages",
    "in_context_message_indices",
    "tools",
    "multi_agent_group",
    "version",
    "message_buffer_autoclear",
    "created_at",
    "updated_at",
)


def parse_agent_file(data: bytes | str) -> AgentFile:
    """The file's content, validated and in the current generation's shape."""
    try:
        raw: Any = json.loads(data)
        if isinstance(raw, str):  # double-encoded JSON: a JSON string holding the file
            raw = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadRequestError(f"the agent file is not valid JSON: {e}") from None
    if not isinstance(raw, dict):
        raise InvalidValueError(f"an agent file is a JSON object, not {type(raw).__name__}")
    if "agents" in raw:
        document = raw
    elif is_legacy(raw):
        document = upgrade_legacy(raw)
    else:
        raise InvalidValueError(
            "not an agent file: expected a top-level 'agents' list (current format) or 'agent_type' "
            "and 'core_memory' (older single-agent format)"
        )
    try:
        agent_file = AgentFile.model_validate(document)
    except ValidationError as e:
        raise _invalid(e) from None
    check_references(agent_file)
    return agent_file


def is_legacy(raw: dict[str, Any]) -> bool:
    return "agent_type" in raw and ("core_memory" in raw or "messages" in raw)


def upgrade_legacy(raw: dict[str, Any]) -> dict[str, Any]:
    """An older single-agent file in the current shape (file-local ids assigned by position)."""
    blocks = _entries(raw, "core_memory", "block")
    tools = _entries(raw, "tools", "tool")
    messages = _entries(raw, "messages", "message")
    indices = raw.get("in_context_message_indices") or []
    if not isinstance(indices, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in indices
    ):
        raise InvalidValueError("in_context_message_indices must be a list of integers")
    outside = [i for i in indices if not 0 <= i < len(messages)]
    if outside:
        raise InvalidValueError(
            f"in_context_message_indices {outside} point outside 'messages' ({len(messages)} messages)"
        )
    agent = {k: v for k, v in raw.items() if k not in _LEGACY_ONLY}
    agent.update(
        id="agent-0",
        block_ids=[b["id"] for b in blocks],
        tool_ids=[t["id"] for t in tools],
        messages=messages,
        in_context_message_ids=[messages[i]["id"] for i in indices],
    )
    group = raw.get("multi_agent_group")
    return {
        "agents": [agent],
        "blocks": blocks,
        "tools": tools,
        "groups": [group] if group else [],
        "metadata": {"version": str(raw["version"])} if raw.get("version") else None,
        "created_at": raw.get("created_at"),
    }


def _entries(raw: dict[str, Any], key: str, prefix: str) -> list[dict[str, Any]]:
    value = raw.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InvalidValueError(f"'{key}' must be a list of objects")
    return [{**entry, "id": f"{prefix}-{i}"} for i, entry in enumerate(value)]


def check_references(agent_file: AgentFile) -> None:
    """Every id is unique within its kind and every reference points at an entity of the file."""
    agents = _unique("agent", (a.id for a in agent_file.agents))
    blocks = _unique("block", (b.id for b in agent_file.blocks))
    tools = _unique("tool", (t.id for t in agent_file.tools))
    _unique("message", (m.id for a in agent_file.agents for m in a.messages))
    problems: list[str] = []
    for agent in agent_file.agents:
        messages = {m.id for m in agent.messages}
        problems += _dangling(agent.id, "block_ids", agent.block_ids, blocks)
        problems += _dangling(agent.id, "tool_ids", agent.tool_ids, tools)
        problems += _dangling(agent.id, "in_context_message_ids", agent.in_context_message_ids, messages)
        repeated = [i for i, n in Counter(agent.in_context_message_ids).items() if n > 1]
        if repeated:
            problems.append(f"agent {agent.id!r} lists messages {repeated} twice in in_context_message_ids")
    for passage in agent_file.archival_passages:
        if passage.agent_id not in agents:
            problems.append(
                f"an archival passage names agent {passage.agent_id!r}, which the file does not hold"
            )
    if problems:
        raise InvalidValueError("invalid agent file: " + "; ".join(problems[:5]))


def _unique(kind: str, ids: Iterable[str]) -> set[str]:
    counts = Counter(ids)
    repeated = sorted(i for i, n in counts.items() if n > 1)
    if repeated:
        raise InvalidValueError(f"invalid agent file: {kind} ids {repeated[:5]} are used more than once")
    return set(counts)


def _dangling(agent_id: str, field: str, ids: list[str], known: set[str]) -> list[str]:
    missing = [i for i in ids if i not in known]
    return [f"agent {agent_id!r}: {field} {missing[:5]} are not in the file"] if missing else []


def _invalid(error: ValidationError) -> InvalidValueError:
    errors = [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in error.errors()
    ]
    shown = "; ".join(f"{'.'.join(e['loc']) or 'file'}: {e['msg']}" for e in errors[:5])
    more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
    return InvalidValueError(f"invalid agent file: {shown}{more}", details=errors)
