"""The tool-rules solver: which tools the model may call next, and what a call does to the turn.

Pure: no I/O, no clock. Its only state is the list of calls made in the current turn, as
`(tool name, output)` pairs, so the loop can rebuild it from stored messages after a restart
(`ToolRulesSolver.from_history`). One solver serves one turn; `reset_turn()` starts the next.

How the loop uses it, per step:

    offered = solver.allowed(attached)                  # the tools to put in the request
    for call in response.tool_calls:
        if (problem := solver.violation(call.name, attached)) is not None:
            ...                                         # an error result; the call does not run
        if solver.requires_approval(call.name): ...     # stop and wait for a person
        args = solver.apply_prefilled(call.name, args)
        output = run(call)
        note = solver.record(call.name, output)         # a routing error to show the model, or None
        if solver.ends_turn(call.name): ...             # stop reason `tool_rule`
        elif solver.forces_continue(call.name): ...     # another step, heartbeat or not
    if the turn would end and solver.missing_before_exit(attached):
        ...                                             # another step, with exit_reminder(...)

The semantics, including where memfold departs from Letta's implementation, are tabled in
docs/architecture.md ("Tool rules").
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from memfold.schemas.tool_rules import (
    ChildToolRule,
    ConditionalToolRule,
    ContinueToolRule,
    InitToolRule,
    MaxCountPerStepToolRule,
    ParentToolRule,
    RequiredBeforeExitToolRule,
    RequiresApprovalToolRule,
    TerminalToolRule,
    ToolRule,
)

Call = tuple[str, str | None]
"""One call of the turn: the tool's name and its output (None when it produced none, e.g. failed)."""

# Constraint levels, strictest first. When the rules leave no available tool at one level, the
# next drops one kind of constraint: first sequencing (init, child, conditional), then parent
# gating; max-count limits go last. The last level offers every available tool.
_SEQUENCING, _PARENTS, _LIMITS = "sequencing", "parents", "limits"
_LEVELS: tuple[frozenset[str], ...] = (
    frozenset({_SEQUENCING, _PARENTS, _LIMITS}),
    frozenset({_PARENTS, _LIMITS}),
    frozenset({_LIMITS}),
    frozenset(),
)
_MAX_PARSED_OUTPUT = 10_000  # longer outputs are matched as text only


class ToolRulesSolver:
    """Applies an agent's tool rules to one turn. See the module docstring."""

    def __init__(self, rules: Iterable[ToolRule], *, approval_defaults: Iterable[str] = ()) -> None:
        self.rules: list[ToolRule] = list(rules)
        self._init = [r for r in self.rules if isinstance(r, InitToolRule)]
        self._children = [r for r in self.rules if isinstance(r, ChildToolRule)]
        self._conditionals = [r for r in self.rules if isinstance(r, ConditionalToolRule)]
        self._parents = [r for r in self.rules if isinstance(r, ParentToolRule)]
        self._limits = [r for r in self.rules if isinstance(r, MaxCountPerStepToolRule)]
        self._terminal = {r.tool_name for r in self.rules if isinstance(r, TerminalToolRule)}
        self._continue = {r.tool_name for r in self.rules if isinstance(r, ContinueToolRule)}
        self._required = list(
            dict.fromkeys(r.tool_name for r in self.rules if isinstance(r, RequiredBeforeExitToolRule))
        )
        self._approval = {r.tool_name for r in self.rules if isinstance(r, RequiresApprovalToolRule)}
        self._approval |= set(approval_defaults)
        self._calls: list[Call] = []

    @classmethod
    def from_history(
        cls, rules: Iterable[ToolRule], calls: Iterable[Call], *, approval_defaults: Iterable[str] = ()
    ) -> ToolRulesSolver:
        """A solver in the state reached after `calls` (this turn's calls, oldest first)."""
        solver = cls(rules, approval_defaults=approval_defaults)
        for name, output in calls:
            solver.record(name, output)
        return solver

    # -- the turn's state ---------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """This turn's calls so far, oldest first: what `from_history` needs to rebuild the solver."""
        return list(self._calls)

    def reset_turn(self) -> None:
        """Forget the turn's calls: the next call is a turn's first again."""
        self._calls.clear()

    def record(self, name: str, output: str | None) -> str | None:
        """Note that `name` ran and produced `output` (its result as text; None if it failed or gave
        nothing). Returns an error for the model when the call left the rules with no valid way on
        (a strict conditional rule whose output matched no case), else None."""
        self._calls.append((name, output))
        return self.routing_error()

    def routing_error(self) -> str | None:
        """The error of the last call's strict conditional rule if its output matched no case."""
        if not self._calls:
            return None
        name, output = self._calls[-1]
        for rule in self._conditionals:
            if rule.tool_name == name and rule.require_output_mapping and _route(rule, output) is None:
                cases = ", ".join(repr(k) for k in rule.child_output_mapping)
                return (
                    f"Error: the output of {name} ({_shorten(output)}) matches none of the cases its tool "
                    f"rule expects ({cases}); call one of: {', '.join(_branches(rule))}"
                )
        return None

    # -- what may be called -------------------------------------------------------------

    def allowed(self, available: Sequence[str]) -> list[str]:
        """The tools to offer for the next call, in `available`'s order. Never empty when `available`
        is not: if the rules conflict, constraints are dropped level by level (see `_LEVELS`)."""
        names = list(dict.fromkeys(available))
        for level in _LEVELS:
            offered = [n for n in names if self._why_not(n, level) is None]
            if offered:
                return offered
        return names

    def violation(self, name: str, available: Sequence[str]) -> str | None:
        """Why calling `name` now breaks the rules (a message for the model), or None if it may be
        called. Judged exactly as `allowed(available)` offers. A name that is not in `available` is
        not the solver's business (the executor answers "no such tool"): None."""
        names = list(dict.fromkeys(available))
        if name not in names:
            return None
        for level in _LEVELS:
            if any(self._why_not(n, level) is None for n in names):
                reason = self._why_not(name, level)
                if reason is None:
                    return None
                allowed = ", ".join(n for n in names if self._why_not(n, level) is None)
                return f"Error: {name} may not be called now: {reason}. Tools you may call now: {allowed}"
        return None

    def _why_not(self, name: str, level: frozenset[str]) -> str | None:
        if _LIMITS in level:
            for rule in self._limits:
                if rule.tool_name == name and self._count(name) >= rule.max_count_limit:
                    times = "time" if rule.max_count_limit == 1 else "times"
                    return f"it may be called at most {rule.max_count_limit} {times} per turn"
        if _PARENTS in level:
            called = {n for n, _ in self._calls}
            for parent in self._parents:
                if name in parent.children and parent.tool_name not in called:
                    return f"it may only be called after {parent.tool_name}"
        if _SEQUENCING in level:
            allow, because = self._sequencing()
            if allow is not None and name not in allow:
                return because
        return None

    def _sequencing(self) -> tuple[frozenset[str] | None, str]:
        """The set the next call must come from (None: no such constraint), and why."""
        if not self._calls:
            if not self._init:
                return None, ""
            first = list(dict.fromkeys(r.tool_name for r in self._init))
            return frozenset(first), f"a turn's first call must be {_one_of(first)}"
        name, output = self._calls[-1]
        allow: frozenset[str] | None = None
        reasons: list[str] = []
        for child in self._children:
            if child.tool_name == name:
                allow = _narrow(allow, child.children)
                reasons.append(f"after {name} the next call must be {_one_of(child.children)}")
        for rule in self._conditionals:
            if rule.tool_name != name:
                continue
            target = _route(rule, output)
            if target is not None:
                branches = [target]
            elif rule.require_output_mapping:  # matched no case: routing_error() tells the model
                branches = _branches(rule)
            else:  # no case, no default: any tool
                continue
            allow = _narrow(allow, branches)
            reasons.append(
                f"after {name} returned {_shorten(output)} the next call must be {_one_of(branches)}"
            )
        return allow, "; ".join(reasons)

    def _count(self, name: str) -> int:
        return sum(1 for n, _ in self._calls if n == name)

    # -- what a call does to the turn ---------------------------------------------------

    def ends_turn(self, name: str) -> bool:
        """Calling `name` ends the turn once it has run (a terminal rule)."""
        return name in self._terminal

    def forces_continue(self, name: str) -> bool:
        """Calling `name` takes another step whether or not the model asked for one: a continue rule,
        or a child or conditional rule on it (the next call is constrained, so there is a next call).
        A terminal rule wins: a tool that ends the turn never forces it on."""
        if self.ends_turn(name):
            return False
        return (
            name in self._continue
            or any(r.tool_name == name for r in self._children)
            or any(r.tool_name == name for r in self._conditionals)
        )

    def missing_before_exit(self, available: Sequence[str] | None = None) -> list[str]:
        """Required-before-exit tools not yet called in this turn (only those in `available`, if given)."""
        called = {n for n, _ in self._calls}
        missing = [n for n in self._required if n not in called]
        return missing if available is None else [n for n in missing if n in set(available)]

    def requires_approval(self, name: str) -> bool:
        """A call of `name` must wait for a person's approval (a rule, or the tool's default)."""
        return name in self._approval

    def prefilled_args(self, name: str) -> dict[str, Any]:
        """Arguments the rules fix for a call of `name` made now: an init rule's `args` for the turn's
        first call, a child rule's `child_arg_nodes` right after its tool. Later rules win."""
        fixed: dict[str, Any] = {}
        if not self._calls:
            for init in self._init:
                if init.tool_name == name and init.args:
                    fixed.update(init.args)
            return fixed
        last = self._calls[-1][0]
        for child in self._children:
            if child.tool_name == last:
                for node in child.child_arg_nodes or ():
                    if node.name == name and node.args:
                        fixed.update(node.args)
        return fixed

    def apply_prefilled(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The model's `arguments` with the rules' prefilled ones laid over them."""
        return {**arguments, **self.prefilled_args(name)}

    def prompt(self) -> str:
        """A compact description of the rules for the system prompt ("" when there is none)."""
        return describe_rules(self.rules)


def exit_reminder(missing: Sequence[str]) -> str:
    """What the model is told when it tried to end the turn before calling required tools."""
    return f"You tried to end your turn, but the tool rules require you to call {_all_of(missing)} first."


# -- conditional outputs ----------------------------------------------------------------


def _route(rule: ConditionalToolRule, output: str | None) -> str | None:
    """The child `output` maps to: the first matching case, else (unless the rule is strict) the
    default child. None: no case matched and there is no default (or the rule is strict)."""
    if output is not None:
        for key, child in rule.child_output_mapping.items():
            if output_matches(key, output):
                return child
    return None if rule.require_output_mapping else rule.default_child or None


def _branches(rule: ConditionalToolRule) -> list[str]:
    return list(dict.fromkeys(rule.child_output_mapping.values()))


def output_matches(key: str, output: str) -> bool:
    """Whether a tool's `output` matches a case `key` of a conditional rule.

    Equal text (surrounding whitespace aside) matches. Otherwise both sides are read as values --
    JSON first, then a Python literal (tools' results are `str()` of what they return, so `True`,
    `None`, `'x'`) -- and compared: booleans only with booleans (`true`/`True`), numbers by value
    (`1` = `1.0`), strings exactly (so the JSON string `"yes"` matches the key `yes`).
    """
    key, output = key.strip(), output.strip()
    if key == output:
        return True
    k, o = _value(key), _value(output)
    if (isinstance(o, str) and o == key) or (isinstance(k, str) and k == output):
        return True  # a JSON/Python string holding the other side's text
    if isinstance(k, bool) or isinstance(o, bool):
        return isinstance(k, bool) and isinstance(o, bool) and k == o
    numbers = (int, float)
    if isinstance(k, numbers) and isinstance(o, numbers):
        return k == o
    return type(k) is type(o) and bool(k == o)


def _value(text: str) -> Any:
    text = text.strip()
    if len(text) > _MAX_PARSED_OUTPUT:
        return text
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


# -- describing rules to the model ------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*(?:\|\s*join\(\s*(['\"])(.*?)\2\s*\)\s*)?\}\}")


def describe_rules(rules: Sequence[ToolRule]) -> str:
    """One line per rule (its `prompt_template` filled in, or memfold's wording), under a header.
    Init rules without a template share one line; approval rules are not shown unless templated."""
    lines: list[str] = []
    first = [r.tool_name for r in rules if isinstance(r, InitToolRule) and not r.prompt_template]
    if first:
        lines.append(f"Begin each turn by calling {_one_of(list(dict.fromkeys(first)))}.")
    for rule in rules:
        text = render_template(rule) if rule.prompt_template else _default_text(rule)
        if text and text not in lines:
            lines.append(text)
    if not lines:
        return ""
    return "Tool rules (the server enforces them):\n" + "\n".join(f"- {line}" for line in lines)


def render_template(rule: ToolRule) -> str:
    """`rule.prompt_template` with `{{ field }}` / `{{ field | join(', ') }}` filled from the rule's
    fields; an unknown field renders empty. Other template syntax is left as written."""
    values = rule.model_dump()

    def fill(match: re.Match[str]) -> str:
        value, separator = values.get(match.group(1)), match.group(3)
        if isinstance(value, list):
            return (", " if separator is None else separator).join(str(v) for v in value)
        if isinstance(value, dict):
            return ", ".join(f"{k}: {v}" for k, v in value.items())
        return "" if value is None else str(value)

    return _PLACEHOLDER.sub(fill, rule.prompt_template or "").strip()


def _default_text(rule: ToolRule) -> str:
    name = rule.tool_name
    if isinstance(rule, TerminalToolRule):
        return f"{name} ends your turn when called."
    if isinstance(rule, ContinueToolRule):
        return f"After {name} you always get another step."
    if isinstance(rule, ChildToolRule):
        return f"After {name}, call {_one_of(rule.children)}."
    if isinstance(rule, ParentToolRule):
        return f"{_all_of(rule.children)}: only after {name} has been called in the turn."
    if isinstance(rule, ConditionalToolRule):
        cases = ", ".join(f"{k!r} -> {v}" for k, v in rule.child_output_mapping.items())
        otherwise = f"; otherwise {rule.default_child}" if rule.default_child else ""
        return f"After {name}, its output picks the next tool: {cases}{otherwise}."
    if isinstance(rule, MaxCountPerStepToolRule):
        times = "time" if rule.max_count_limit == 1 else "times"
        return f"{name}: at most {rule.max_count_limit} {times} per turn."
    if isinstance(rule, RequiredBeforeExitToolRule):
        return f"Call {name} before ending your turn."
    return ""  # init rules share one line; approval is not the model's concern


# -- small helpers ----------------------------------------------------------------------


def _narrow(allow: frozenset[str] | None, names: Iterable[str]) -> frozenset[str]:
    return frozenset(names) if allow is None else allow & frozenset(names)


def _one_of(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else "one of: " + ", ".join(names)


def _all_of(names: Sequence[str]) -> str:
    return ", ".join(names)


def _shorten(output: str | None, limit: int = 80) -> str:
    if output is None:
        return "nothing"
    text = output.strip()
    return repr(text if len(text) <= limit else text[:limit] + "...")


__all__ = [
    "Call",
    "ToolRulesSolver",
    "describe_rules",
    "exit_reminder",
    "output_matches",
    "render_template",
]
