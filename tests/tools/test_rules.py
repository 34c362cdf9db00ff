"""The tool-rules solver: one or more tests per rule type, their combinations and conflicts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from memfold.schemas.tool_rules import ToolRule, load_rules, parse_rules, with_requires_approval
from memfold.tools.rules import ToolRulesSolver, describe_rules, exit_reminder, output_matches

TOOLS = ["start", "prep", "search", "answer", "save", "send_message"]


def solver(*rules: dict[str, Any], approval_defaults: tuple[str, ...] = ()) -> ToolRulesSolver:
    return ToolRulesSolver(parse_rules(list(rules)), approval_defaults=approval_defaults)


def init(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "run_first", "tool_name": name, **extra}


def child(name: str, *children: str, **extra: Any) -> dict[str, Any]:
    return {"type": "constrain_child_tools", "tool_name": name, "children": list(children), **extra}


def parent(name: str, *children: str) -> dict[str, Any]:
    return {"type": "parent_last_tool", "tool_name": name, "children": list(children)}


def conditional(name: str, mapping: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"type": "conditional", "tool_name": name, "child_output_mapping": mapping, **extra}


def max_count(name: str, limit: int) -> dict[str, Any]:
    return {"type": "max_count_per_step", "tool_name": name, "max_count_limit": limit}


def simple(kind: str, name: str) -> dict[str, Any]:
    return {"type": kind, "tool_name": name}


# -- no rules ---------------------------------------------------------------------------


def test_without_rules_everything_is_allowed_and_nothing_is_forced() -> None:
    s = solver()
    assert s.allowed(TOOLS) == TOOLS
    s.record("search", "x")
    assert s.allowed(TOOLS) == TOOLS
    assert all(s.violation(n, TOOLS) is None for n in TOOLS)
    assert not s.ends_turn("send_message") and not s.forces_continue("search")
    assert s.missing_before_exit(TOOLS) == [] and not s.requires_approval("search")
    assert s.prompt() == ""


def test_allowed_keeps_the_available_order_drops_duplicates_and_is_empty_only_for_nothing() -> None:
    s = solver(init("save"), init("prep"))
    assert s.allowed(["save", "x", "prep", "save"]) == ["save", "prep"]
    assert s.allowed([]) == []


# -- init -------------------------------------------------------------------------------


def test_init_rules_offer_their_union_until_the_first_call() -> None:
    s = solver(init("start"), init("prep"))
    assert s.allowed(TOOLS) == ["start", "prep"]
    problem = s.violation("search", TOOLS)
    assert problem is not None and "first call must be one of: start, prep" in problem
    assert s.violation("prep", TOOLS) is None
    s.record("prep", "ready")
    assert s.allowed(TOOLS) == TOOLS


def test_init_applies_again_after_reset_turn() -> None:
    s = solver(init("start"))
    s.record("start", "ok")
    assert s.allowed(TOOLS) == TOOLS
    s.reset_turn()
    assert s.calls == []
    assert s.allowed(TOOLS) == ["start"]


def test_init_tool_that_is_not_attached_falls_back_to_every_tool() -> None:
    s = solver(init("not_attached"))
    assert s.allowed(TOOLS) == TOOLS
    assert s.violation("search", TOOLS) is None


def test_init_args_are_prefilled_on_the_first_call_only() -> None:
    s = solver(init("start", args={"mode": "fast"}))
    assert s.apply_prefilled("start", {"mode": "slow", "q": 1}) == {"mode": "fast", "q": 1}
    assert s.prefilled_args("search") == {}
    s.record("start", "ok")
    assert s.apply_prefilled("start", {"mode": "slow"}) == {"mode": "slow"}


# -- terminal and continue ---------------------------------------------------------------


def test_terminal_tool_ends_the_turn() -> None:
    s = solver(simple("exit_loop", "answer"))
    assert s.ends_turn("answer") and not s.ends_turn("search")
    assert not s.forces_continue("answer")
    assert s.allowed(TOOLS) == TOOLS  # terminal rules do not restrict what may be called


def test_continue_tool_forces_another_step() -> None:
    s = solver(simple("continue_loop", "search"))
    assert s.forces_continue("search") and not s.forces_continue("answer")
    assert not s.ends_turn("search")


def test_terminal_wins_over_a_child_rule_on_the_same_tool() -> None:
    s = solver(simple("exit_loop", "answer"), child("answer", "save"))
    assert s.ends_turn("answer") and not s.forces_continue("answer")


# -- child ------------------------------------------------------------------------------


def test_child_rule_restricts_only_the_call_right_after_its_tool() -> None:
    s = solver(child("search", "answer", "save"))
    assert s.allowed(TOOLS) == TOOLS
    s.record("search", "found")
    assert s.allowed(TOOLS) == ["answer", "save"]
    assert s.forces_continue("search")
    problem = s.violation("send_message", TOOLS)
    assert problem is not None
    assert "after search the next call must be one of: answer, save" in problem
    assert problem.endswith("Tools you may call now: answer, save")
    s.record("answer", "done")
    assert s.allowed(TOOLS) == TOOLS


def test_init_and_child_chain_walk_a_fixed_path() -> None:
    s = solver(init("start"), child("start", "prep"), child("prep", "search"), child("search", "answer"))
    path = []
    for _ in range(4):
        offered = s.allowed(TOOLS)
        assert len(offered) == 1
        path.append(offered[0])
        s.record(offered[0], "ok")
    assert path == ["start", "prep", "search", "answer"]
    assert s.allowed(TOOLS) == TOOLS  # the chain has ended


def test_two_child_rules_on_one_tool_intersect() -> None:
    s = solver(child("search", "answer", "save"), child("search", "save", "send_message"))
    s.record("search", "x")
    assert s.allowed(TOOLS) == ["save"]


def test_disjoint_child_rules_fall_back_to_every_tool() -> None:
    s = solver(child("search", "answer"), child("search", "save"))
    s.record("search", "x")
    assert s.allowed(TOOLS) == TOOLS
    assert s.violation("prep", TOOLS) is None


def test_child_arg_nodes_prefill_the_next_call() -> None:
    rule = child("search", "answer", "save", child_arg_nodes=[{"name": "save", "args": {"key": "k1"}}])
    s = solver(rule)
    assert s.prefilled_args("save") == {}
    s.record("search", "x")
    assert s.apply_prefilled("save", {"key": "model's", "value": "v"}) == {"key": "k1", "value": "v"}
    assert s.prefilled_args("answer") == {}


# -- parent -----------------------------------------------------------------------------


def test_parent_rule_hides_children_until_the_parent_has_been_called_in_the_turn() -> None:
    s = solver(parent("search", "answer", "save"))
    assert s.allowed(TOOLS) == ["start", "prep", "search", "send_message"]
    problem = s.violation("answer", TOOLS)
    assert problem is not None and "only be called after search" in problem
    s.record("search", "x")
    s.record("prep", "y")  # not right after: still allowed for the rest of the turn
    assert s.allowed(TOOLS) == TOOLS
    s.reset_turn()
    assert "answer" not in s.allowed(TOOLS)


def test_a_child_of_two_parents_needs_both() -> None:
    s = solver(parent("search", "answer"), parent("prep", "answer"))
    s.record("search", "x")
    assert "answer" not in s.allowed(TOOLS)
    s.record("prep", "y")
    assert "answer" in s.allowed(TOOLS)


def test_init_that_names_a_gated_child_gives_way_to_the_parent_rule() -> None:
    # The init rule (sequencing) conflicts with the parent rule; sequencing is dropped first.
    s = solver(init("answer"), parent("search", "answer"))
    assert s.allowed(TOOLS) == ["start", "prep", "search", "save", "send_message"]
    problem = s.violation("answer", TOOLS)
    assert problem is not None and "only be called after search" in problem


# -- conditional ------------------------------------------------------------------------


def test_conditional_routes_on_the_output() -> None:
    s = solver(conditional("search", {"found": "answer", "empty": "prep"}, default_child="send_message"))
    s.record("search", "found")
    assert s.allowed(TOOLS) == ["answer"]
    assert s.forces_continue("search")
    s.record("answer", "x")
    s.record("search", " empty\n")
    assert s.allowed(TOOLS) == ["prep"]
    s.record("prep", "x")
    s.record("search", "something else")
    assert s.allowed(TOOLS) == ["send_message"]  # the default child
    problem = s.violation("answer", TOOLS)
    assert problem is not None and "after search returned 'something else'" in problem


def test_conditional_without_match_or_default_allows_any_tool() -> None:
    s = solver(conditional("search", {"found": "answer"}))
    s.record("search", "nope")
    assert s.allowed(TOOLS) == TOOLS
    assert s.record("search", "nope") is None


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("True", "answer"),  # str(True), what a Python tool returning True produces
        ("true", "answer"),  # JSON
        ("False", "prep"),
        ("false", "prep"),
        ("1", "save"),
        ("1.0", "save"),
        ('"1"', "save"),  # a JSON string holding the key's text
        ('"yes"', "send_message"),
        ("yes", "send_message"),
    ],
)
def test_conditional_matches_parsed_json_and_python_values(output: str, expected: str) -> None:
    mapping = {"true": "answer", "False": "prep", "1": "save", "yes": "send_message"}
    s = solver(conditional("search", mapping))
    s.record("search", output)
    assert s.allowed(TOOLS) == [expected]


@pytest.mark.parametrize(
    ("key", "output", "matches"),
    [
        ("ok", "ok", True),
        ("ok", "OK", False),  # strings compare exactly
        ("true", "True", True),
        ("TRUE", "true", True),
        ("true", "1", False),  # a boolean never equals a number
        ("1", "True", False),
        ("2", "2.0", True),
        ("2", "2.5", False),
        ("null", "None", True),
        ('{"a": 1}', "{'a': 1}", True),  # str() of a dict, read as a Python literal
        ("[1, 2]", "[1, 2]", True),
        ("x", "", False),
    ],
)
def test_output_matches(key: str, output: str, matches: bool) -> None:
    assert output_matches(key, output) is matches


def test_the_first_matching_case_wins() -> None:
    s = solver(conditional("search", {"1": "answer", "1.0": "save"}))
    s.record("search", "1")
    assert s.allowed(TOOLS) == ["answer"]


def test_strict_conditional_without_match_is_an_error_and_offers_the_mapped_tools() -> None:
    s = solver(
        conditional(
            "search",
            {"found": "answer", "empty": "prep"},
            default_child="send_message",  # ignored when strict, as in Letta
            require_output_mapping=True,
        )
    )
    error = s.record("search", "maybe")
    assert error is not None
    assert "'maybe'" in error and "'found', 'empty'" in error and "call one of: answer, prep" in error
    assert s.routing_error() == error
    assert s.allowed(TOOLS) == ["prep", "answer"]  # in the available order
    s.record("answer", "x")
    assert s.routing_error() is None
    assert s.record("search", "found") is None


def test_a_failed_call_routes_to_the_default_child() -> None:
    s = solver(conditional("search", {"found": "answer"}, default_child="prep"))
    s.record("search", None)
    assert s.allowed(TOOLS) == ["prep"]
    strict = solver(conditional("search", {"found": "answer"}, require_output_mapping=True))
    error = strict.record("search", None)
    assert error is not None and "(nothing)" in error


def test_conditional_and_child_rule_on_one_tool_intersect() -> None:
    s = solver(child("search", "answer", "save"), conditional("search", {"a": "answer", "s": "prep"}))
    s.record("search", "a")
    assert s.allowed(TOOLS) == ["answer"]
    s.record("search", "s")  # the conditional says prep, the child rule says answer/save: conflict
    assert s.allowed(TOOLS) == TOOLS


# -- max count --------------------------------------------------------------------------


def test_max_count_per_turn_then_not_offered() -> None:
    s = solver(max_count("search", 2))
    for _ in range(2):
        assert "search" in s.allowed(TOOLS)
        assert s.violation("search", TOOLS) is None
        s.record("search", "x")
    assert "search" not in s.allowed(TOOLS)
    problem = s.violation("search", TOOLS)
    assert problem is not None and "at most 2 times per turn" in problem
    assert not s.forces_continue("search")  # unlike Letta, a limit does not force a step
    s.reset_turn()
    assert "search" in s.allowed(TOOLS)


def test_a_child_that_hit_its_limit_is_not_offered_even_after_its_parent_tool() -> None:
    s = solver(child("search", "answer"), max_count("answer", 1))
    s.record("search", "x")
    s.record("answer", "y")
    s.record("search", "x")
    # The child rule demands answer, the limit forbids it: the limit holds, the sequencing gives way.
    assert s.allowed(TOOLS) == ["start", "prep", "search", "save", "send_message"]
    problem = s.violation("answer", TOOLS)
    assert problem is not None and "at most 1 time per turn" in problem


def test_when_every_tool_is_exhausted_every_tool_is_offered_again() -> None:
    s = solver(max_count("search", 1), max_count("answer", 1))
    s.record("search", "x")
    s.record("answer", "y")
    assert s.allowed(["search", "answer"]) == ["search", "answer"]
    assert s.violation("search", ["search", "answer"]) is None


# -- required before exit ---------------------------------------------------------------


def test_required_before_exit_until_called() -> None:
    s = solver(simple("required_before_exit", "save"), simple("required_before_exit", "answer"))
    assert s.missing_before_exit() == ["save", "answer"]
    assert s.missing_before_exit(["answer", "search"]) == ["answer"]  # only attached tools count
    s.record("save", "ok")
    assert s.missing_before_exit(TOOLS) == ["answer"]
    s.record("answer", "ok")
    assert s.missing_before_exit(TOOLS) == []
    s.reset_turn()
    assert s.missing_before_exit(TOOLS) == ["save", "answer"]
    assert "save, answer" in exit_reminder(["save", "answer"])


def test_required_tool_does_not_restrict_what_is_offered() -> None:
    s = solver(simple("required_before_exit", "save"), simple("exit_loop", "send_message"))
    assert s.allowed(TOOLS) == TOOLS
    assert s.ends_turn("send_message") and s.missing_before_exit(TOOLS) == ["save"]


# -- approval ---------------------------------------------------------------------------


def test_requires_approval_from_a_rule_or_the_tools_default() -> None:
    s = solver(simple("requires_approval", "save"), approval_defaults=("answer",))
    assert s.requires_approval("save") and s.requires_approval("answer")
    assert not s.requires_approval("search")
    assert s.allowed(TOOLS) == TOOLS


def test_with_requires_approval_adds_once_and_removes() -> None:
    rules = parse_rules([simple("exit_loop", "answer")])
    added = with_requires_approval(rules, "save", True)
    assert with_requires_approval(added, "save", True) == added
    assert [r.type for r in added] == ["exit_loop", "requires_approval"]
    assert with_requires_approval(added, "save", False) == rules


# -- state for a restart ----------------------------------------------------------------


def test_from_history_rebuilds_the_same_state_from_serialised_calls() -> None:
    rules = [
        init("start"),
        child("start", "search"),
        conditional("search", {"hit": "answer"}, require_output_mapping=True),
        max_count("search", 2),
        simple("required_before_exit", "save"),
    ]
    live = solver(*rules)
    for name, output in [("start", "ok"), ("search", "miss")]:
        live.record(name, output)
    stored = json.loads(json.dumps(live.calls))  # what a restart would read back
    rebuilt = ToolRulesSolver.from_history(parse_rules(rules), [(n, o) for n, o in stored])
    assert rebuilt.calls == live.calls
    assert rebuilt.allowed(TOOLS) == live.allowed(TOOLS) == ["answer"]
    assert rebuilt.routing_error() == live.routing_error() is not None
    assert rebuilt.missing_before_exit(TOOLS) == ["save"]


def test_violation_ignores_tools_that_are_not_available() -> None:
    s = solver(init("start"))
    assert s.violation("no_such_tool", TOOLS) is None


# -- the system prompt text -------------------------------------------------------------


def test_describe_rules_is_one_line_per_rule() -> None:
    rules = parse_rules(
        [
            init("start"),
            init("prep"),
            simple("exit_loop", "send_message"),
            simple("continue_loop", "search"),
            child("start", "search"),
            parent("search", "answer"),
            conditional("search", {"hit": "answer"}, default_child="prep"),
            max_count("search", 3),
            simple("required_before_exit", "save"),
            simple("requires_approval", "save"),
        ]
    )
    text = describe_rules(rules)
    lines = text.splitlines()
    assert lines[0].startswith("Tool rules")
    assert lines[1] == "- Begin each turn by calling one of: start, prep."
    assert "- send_message ends your turn when called." in lines
    assert "- After search you always get another step." in lines
    assert "- After start, call search." in lines
    assert "- answer: only after search has been called in the turn." in lines
    assert "- After search, its output picks the next tool: 'hit' -> answer; otherwise prep." in lines
    assert "- search: at most 3 times per turn." in lines
    assert "- Call save before ending your turn." in lines
    assert len(lines) == 9  # a header and 8 rules: approval is not described to the model


def test_prompt_templates_are_rendered_with_the_rules_fields() -> None:
    rules = parse_rules(
        [
            child(
                "search", "answer", "save", prompt_template="{{ tool_name }} -> {{ children | join(' or ') }}"
            ),
            {
                "type": "exit_loop",
                "tool_name": "answer",
                "prompt_template": "{{tool_name}} stops{{ nothing }}.",
            },
            {
                "type": "requires_approval",
                "tool_name": "save",
                "prompt_template": "{{ tool_name }} needs a yes",
            },
            init("start", prompt_template="Always {{ tool_name }} first ({{ children }})"),
        ]
    )
    assert describe_rules(rules).splitlines()[1:] == [
        "- search -> answer or save",
        "- answer stops.",
        "- save needs a yes",
        "- Always start first ()",
    ]


# -- schema -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        {"tool_name": "x"},  # no type
        {"type": "teleport", "tool_name": "x"},
        {"type": "exit_loop"},
        {"type": "exit_loop", "tool_name": ""},
        {"type": "constrain_child_tools", "tool_name": "x", "children": []},
        {"type": "parent_last_tool", "tool_name": "x"},
        {"type": "conditional", "tool_name": "x", "child_output_mapping": {}},
        {"type": "max_count_per_step", "tool_name": "x", "max_count_limit": 0},
        {"type": "max_count_per_step", "tool_name": "x", "max_count_limit": "many"},
    ],
)
def test_malformed_rules_do_not_validate(raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        parse_rules([raw])


def test_contradictory_rule_sets_do_not_validate() -> None:
    with pytest.raises(ValueError, match="cannot both end the turn"):
        parse_rules([simple("exit_loop", "x"), simple("continue_loop", "x")])
    with pytest.raises(ValueError, match="not among its children: z"):
        parse_rules([child("x", "y", child_arg_nodes=[{"name": "z", "args": {}}])])


def test_stored_rules_that_no_longer_validate_are_skipped() -> None:
    rules: list[ToolRule] = load_rules([{"type": "bogus"}, simple("exit_loop", "x"), {"tool_name": "y"}])
    assert [(r.type, r.tool_name) for r in rules] == [("exit_loop", "x")]
    assert load_rules(None) == []
