"""An agent's file tools with a scripted model: open a window (seen in the next request), grep, search
by meaning, and the open-file limit closing the least recently used file. Plus the pure parts:
windows, grep pages, rendering."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from memfold.errors import ToolError
from memfold.folders.grep import PAGE_MATCHES, GrepFile, grep
from memfold.folders.views import locate, render_files, view_window
from memfold.llm.scripted import ScriptedModel, tool_call_response
from memfold.store.agent_files import AgentFile
from memfold.store.folders import FolderRecord
from tests.folders.helpers import make_folder, processed, upload
from tests.helpers import create_agent

GUIDE = "\n".join(
    [
        "# Handbook",
        "Welcome to the team.",
        "## Holidays",
        "You get 25 days of paid leave.",
        "Unused leave carries over until March.",
        "## Equipment",
        "Laptops are replaced every three years.",
        "Ask IT for a second monitor.",
    ]
).encode()
NOTES = (
    b"Kitchen rules.\n\nThe coffee machine is descaled every Friday by the facilities team.\n\n"
    b"Label your food in the fridge.\n"
)


# --- the pure parts --------------------------------------------------------------------------


def test_view_window_numbers_lines_and_stops_at_the_char_limit() -> None:
    text = "\n".join(f"line {i}" for i in range(1, 101))
    window = view_window(text, 10, 5, char_limit=10_000)
    assert (window.start_line, window.end_line, window.total_lines, window.cut) == (10, 14, 100, False)
    assert window.text.splitlines() == [f"line {i}" for i in range(10, 15)]
    small = view_window(text, 1, None, char_limit=60)  # "1: line 1\n" is 10 characters
    assert (small.end_line, small.cut) == (6, True)
    with pytest.raises(ToolError, match="past the end"):
        view_window(text, 101, None, char_limit=1000)
    with pytest.raises(ToolError, match="numbered from 1"):
        view_window(text, 0, None, char_limit=1000)
    huge = view_window("x" * 5000, None, None, char_limit=200)
    assert huge.end_line == 1 and len(huge.text) < 220 and "more characters" in huge.text


def test_grep_pages_with_context_and_offset() -> None:
    lines = [f"row {i} {'hit' if i % 3 == 0 else 'miss'}" for i in range(1, 121)]
    files = [GrepFile("docs/a.txt", "\n".join(lines)), GrepFile("docs/b.txt", "nothing\nhit here\nend")]
    first = grep(files, r"\bhit\b", context_lines=1, offset=0)
    assert first.startswith("41 matches for /\\bhit\\b/ in 2 of 2 files")
    assert "== docs/a.txt ==" in first and "3: row 3 hit" in first and "2- row 2 miss" in first
    assert f"More results: call grep_files again with offset={PAGE_MATCHES}." in first
    last = grep(files, r"\bhit\b", context_lines=0, offset=40)
    assert "== docs/b.txt ==" in last and "2: hit here" in last and "More results" not in last
    assert "row" not in last  # no context lines asked for
    assert "No matches at offset 50" in grep(files, "hit", offset=50)
    assert grep(files, "absent") == "No matches for /absent/ in 2 files."
    with pytest.raises(ToolError, match="not a valid"):
        grep(files, "(unclosed")


def test_grep_output_is_bounded_for_long_lines() -> None:
    text = "\n".join("match " + "y" * 2_000 for _ in range(50))
    page = grep([GrepFile("f/long.txt", text)], "match", context_lines=0)
    assert len(page) < 6_000 and "[... clipped]" in page and "More results" in page


def test_locate_finds_a_chunk_even_behind_its_heading_path() -> None:
    content = "# Guide\nintro\n## Install\nstep one\nstep two\n"
    assert locate(content, "step one\nstep two") == (4, 5)
    assert locate(content, "Guide > Install\nstep two") == (5, 5)
    assert locate(content, "not there") is None


def _open_file(name: str, text: str, minute: int) -> AgentFile:
    lines = text.count("\n") + 1
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minute)
    return AgentFile(
        f"file-{name}", name, "source-1", "docs", "completed", None, at, True, 1, lines, lines, text, at
    )


def test_open_windows_past_the_budget_are_named_but_not_shown() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    folder = FolderRecord("source-1", "org", "archive-1", "docs", None, "Use me.", None, 300, now, now)
    old = _open_file("old.txt", "o" * 900, 1)
    new = _open_file("new.txt", "n" * 900, 2)
    small = _open_file("small.txt", "s" * 50, 0)
    text = render_files([folder], [old, new, small], 5, budget=1_000)
    assert "n" * 900 in text and "o" * 900 not in text and "s" * 50 in text
    assert '<file name="docs/old.txt" status="open" lines="1-1 of 1" hidden=' in text
    assert "Use me." in text and "3 of at most 5 are open" in text
    assert "o" * 900 in render_files([folder], [old, new, small], 5)  # no budget: all shown


# --- a scripted agent ------------------------------------------------------------------------


async def _agent_with_folder(
    client: httpx.AsyncClient, **agent: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    folder = await make_folder(client, "docs")
    for name, data in (("guide.md", GUIDE), ("notes.txt", NOTES)):
        created = (await upload(client, folder["id"], name, data)).json()
        assert (await processed(client, folder["id"], created["id"]))["processing_status"] == "completed"
    created_agent = await create_agent(client, name="reader", **agent)
    attached = await client.patch(f"/v1/agents/{created_agent['id']}/folders/attach/{folder['id']}")
    assert attached.status_code == 200, attached.text
    return attached.json(), folder


def _tool_returns(body: dict[str, Any]) -> list[str]:
    return [m["tool_return"] for m in body["messages"] if m["message_type"] == "tool_return_message"]


async def _turn(client: httpx.AsyncClient, scripted: ScriptedModel, agent_id: str, *calls: Any) -> list[str]:
    """One turn: the scripted model makes each (tool, arguments) call with a heartbeat, then replies."""
    for name, arguments in calls:
        scripted.enqueue(tool_call_response(name, **arguments, request_heartbeat=True))
    scripted.enqueue(tool_call_response("send_message", message="done"))
    response = await client.post(
        f"/v1/agents/{agent_id}/messages", json={"messages": [{"role": "user", "content": "go"}]}
    )
    assert response.status_code == 200, response.text
    return _tool_returns(response.json())


async def test_an_open_file_shows_in_the_next_request(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent, _ = await _agent_with_folder(client)
    names = {t["name"] for t in agent["tools"]}
    assert {"open_files", "grep_files", "semantic_search_files"} <= names
    request = {"file_name": "docs/guide.md", "offset": 3, "length": 3}
    [result] = await _turn(client, scripted, agent["id"], ("open_files", {"file_requests": [request]}))
    assert "Opened docs/guide.md: lines 3-5 of 8" in result
    system = scripted.requests[1].messages[0].content or ""
    assert '<file name="docs/guide.md" status="open" lines="3-5 of 8">' in system
    assert "4: You get 25 days of paid leave." in system
    assert "Welcome to the team" not in system and "Laptops" not in system  # outside the window
    assert '<file name="docs/notes.txt" status="closed"/>' in system
    before = scripted.requests[0].messages[0].content or ""
    assert 'status="open"' not in before  # the first request came before the open

    # The window stays in context on the next turn, and can move.
    moved = {"file_name": "guide.md", "offset": 6}
    [result] = await _turn(client, scripted, agent["id"], ("open_files", {"file_requests": [moved]}))
    assert "lines 6-8 of 8" in result
    system = scripted.last_request.messages[0].content or ""
    assert "7: Laptops are replaced every three years." in system and "paid leave" not in system


async def test_grep_finds_the_right_lines_with_context(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent, _ = await _agent_with_folder(client)
    [found, none, bad] = await _turn(
        client,
        scripted,
        agent["id"],
        ("grep_files", {"pattern": r"leave\b", "context_lines": 1}),
        ("grep_files", {"pattern": "leave", "include": "*.txt"}),
        ("grep_files", {"pattern": "[unclosed"}),
    )
    assert found.startswith("2 matches for /leave\\b/ in 1 of 2 files")
    assert found.splitlines()[1:] == [
        "== docs/guide.md ==",
        "3- ## Holidays",
        "4: You get 25 days of paid leave.",
        "5: Unused leave carries over until March.",
        "6- ## Equipment",
    ]
    assert none == "No matches for /leave/ in 1 file."
    assert "not a valid (Python) regular expression" in bad


async def test_semantic_search_ranks_the_right_file_first(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent, _ = await _agent_with_folder(client)
    [result] = await _turn(
        client,
        scripted,
        agent["id"],
        ("semantic_search_files", {"query": "when is the coffee machine descaled"}),
    )
    first = result.split("\n\n[2] ")[0].split("\n\n", 1)[1]
    assert first.startswith("[1] docs/notes.txt (chunk 0, lines 1-5):\nKitchen rules.")
    assert "descaled every Friday" in first


async def test_opening_past_the_limit_closes_the_least_recently_used(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent, folder = await _agent_with_folder(client, max_files_open=2)
    assert agent["max_files_open"] == 2
    third = (await upload(client, folder["id"], "faq.md", b"# FAQ\n\nParking is free.\n")).json()
    await processed(client, folder["id"], third["id"])
    opens = [("open_files", {"file_requests": [{"file_name": n}]}) for n in ("guide.md", "notes.txt")]
    await _turn(client, scripted, agent["id"], *opens)
    # guide.md is used again (moved), so notes.txt is now the least recently used.
    again = ("open_files", {"file_requests": [{"file_name": "guide.md", "offset": 2}]})
    faq = ("open_files", {"file_requests": [{"file_name": "faq.md"}]})
    results = await _turn(client, scripted, agent["id"], again, faq)
    assert "Closed: docs/notes.txt." in results[1]
    listed = (await client.get(f"/v1/agents/{agent['id']}/files", params={"is_open": True})).json()
    assert sorted(f["file_name"] for f in listed["files"]) == ["docs/faq.md", "docs/guide.md"]
    system = scripted.last_request.messages[0].content or ""
    assert '<file name="docs/notes.txt" status="closed"/>' in system
    assert "Parking is free." in system

    too_many = [{"file_name": n} for n in ("guide.md", "notes.txt", "faq.md")]
    [refused] = await _turn(client, scripted, agent["id"], ("open_files", {"file_requests": too_many}))
    assert "at most 2 files can be open at once" in refused


async def test_bad_requests_are_errors_the_model_reads(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent, _ = await _agent_with_folder(client)
    results = await _turn(
        client,
        scripted,
        agent["id"],
        ("open_files", {"file_requests": [{"file_name": "missing.md"}]}),
        ("open_files", {"file_requests": [{"file_name": "guide.md", "offset": 99}]}),
        ("open_files", {"file_requests": [{"path": "guide.md"}]}),
        ("semantic_search_files", {"query": "  "}),
    )
    assert "there is no file 'missing.md'; your files: docs/guide.md, docs/notes.txt" in results[0]
    assert "offset 99 is past the end of the file, which has 8 lines" in results[1]
    assert "needs a file_name" in results[2]
    assert "query is empty" in results[3]
    files = (await client.get(f"/v1/agents/{agent['id']}/files", params={"is_open": True})).json()
    assert files["files"] == []  # nothing was opened by a failed request


async def test_context_breakdown_lists_files_and_windows(
    client: httpx.AsyncClient, scripted: ScriptedModel
) -> None:
    agent, _ = await _agent_with_folder(client)
    await _turn(
        client,
        scripted,
        agent["id"],
        ("open_files", {"file_requests": [{"file_name": "guide.md", "length": 2}]}),
    )
    overview = (await client.get(f"/v1/agents/{agent['id']}/context")).json()
    by_name = {f["file_name"]: f for f in overview["files"]}
    guide, notes = by_name["docs/guide.md"], by_name["docs/notes.txt"]
    assert (guide["is_open"], guide["start_line"], guide["end_line"], guide["total_lines"]) == (True, 1, 2, 8)
    assert notes["is_open"] is False and notes["start_line"] is None
    assert guide["num_tokens"] > notes["num_tokens"] > 0
    assert overview["num_tokens_files"] >= guide["num_tokens"] + notes["num_tokens"]
    assert json.dumps(overview).count("Welcome to the team.") == 1  # in the files part, not elsewhere
