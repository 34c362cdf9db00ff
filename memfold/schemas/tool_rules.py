"""Tool rules: constraints on the tool-call graph of an agent, in Letta's shapes.

Nine rule types, told apart by `type` (the SDK's literal values). What each one means at run
time is `memfold.tools.rules.ToolRulesSolver`'s business; this module only says what a rule
looks like, what makes a rule set invalid (a 422), and how rules are stored (JSON dicts).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

log = logging.getLogger("memfold.tool_rules")

ToolName = Annotated[str, Field(min_length=1)]


class BaseToolRule(BaseModel):
    """Fields every rule has. Unknown fields are ignored, like every request body's."""

    model_config = ConfigDict(extra="ignore")

    tool_name: ToolName = Field(description="The tool this rule is about.")
    prompt_template: str | None = Field(
        default=None,
        description="How the rule is described to the model in the system prompt. `{{ tool_name }}` and "
        "the rule's other fields are filled in; lists may use `{{ children | join(', ') }}`.",
    )


class InitToolRule(BaseToolRule):
    """The first call of a turn must be to one of the tools with an init rule."""

    type: Literal["run_first"] = "run_first"
    args: dict[str, Any] | None = Field(
        default=None,
        description="Arguments that override the model's when this tool is the turn's first call.",
    )


class TerminalToolRule(BaseToolRule):
    """Calling this tool ends the turn (after it runs)."""

    type: Literal["exit_loop"] = "exit_loop"


class ContinueToolRule(BaseToolRule):
    """Calling this tool always takes another step, as if it asked for a heartbeat."""

    type: Literal["continue_loop"] = "continue_loop"


class ChildArgNode(BaseModel):
    """Arguments prefilled for one child of a `ChildToolRule` when it is called next."""

    model_config = ConfigDict(extra="ignore")

    name: ToolName
    args: dict[str, Any] | None = None


class ChildToolRule(BaseToolRule):
    """After `tool_name` runs, the next call must be one of `children`."""

    type: Literal["constrain_child_tools"] = "constrain_child_tools"
    children: list[ToolName] = Field(min_length=1)
    child_arg_nodes: list[ChildArgNode] | None = None


class ParentToolRule(BaseToolRule):
    """`children` may be called only once `tool_name` has been called in this turn."""

    type: Literal["parent_last_tool"] = "parent_last_tool"
    children: list[ToolName] = Field(min_length=1)


class ConditionalToolRule(BaseToolRule):
    """After `tool_name` runs, its output picks the next tool: `child_output_mapping[output]`, else
    `default_child` (None: any tool); with `require_output_mapping`, an output matching no case is an
    error."""

    type: Literal["conditional"] = "conditional"
    child_output_mapping: dict[str, ToolName] = Field(min_length=1)
    default_child: str | None = None
    require_output_mapping: bool = False


class MaxCountPerStepToolRule(BaseToolRule):
    """`tool_name` may be called at most `max_count_limit` times per turn (Letta's "step")."""

    type: Literal["max_count_per_step"] = "max_count_per_step"
    max_count_limit: int = Field(ge=1)


class RequiredBeforeExitToolRule(BaseToolRule):
    """The turn may not end until `tool_name` has been called in it."""

    type: Literal["required_before_exit"] = "required_before_exit"


class RequiresApprovalToolRule(BaseToolRule):
    """A call of `tool_name` waits for a person's approval before it runs."""

    type: Literal["requires_approval"] = "requires_approval"


ToolRule = Annotated[
    ChildToolRule
    | InitToolRule
    | TerminalToolRule
    | ConditionalToolRule
    | ContinueToolRule
    | RequiredBeforeExitToolRule
    | MaxCountPerStepToolRule
    | ParentToolRule
    | RequiresApprovalToolRule,
    Field(discriminator="type"),
]

TOOL_RULE_TYPES: tuple[str, ...] = (
    "run_first",
    "exit_loop",
    "continue_loop",
    "constrain_child_tools",
    "parent_last_tool",
    "conditional",
    "max_count_per_step",
    "required_before_exit",
    "requires_approval",
)


def check_rule_set(rules: list[ToolRule]) -> list[ToolRule]:
    """Reject rule sets that contradict themselves (a request that sends one gets a 422)."""
    terminal = {r.tool_name for r in rules if isinstance(r, TerminalToolRule)}
    both = sorted(terminal & {r.tool_name for r in rules if isinstance(r, ContinueToolRule)})
    if both:
        raise ValueError(f"{', '.join(both)}: a tool cannot both end the turn (exit_loop) and continue it")
    for rule in rules:
        if isinstance(rule, ChildToolRule) and rule.child_arg_nodes:
            strays = [n.name for n in rule.child_arg_nodes if n.name not in rule.children]
            if strays:
                raise ValueError(
                    f"child_arg_nodes of the rule on {rule.tool_name!r} name tools that are not among "
                    f"its children: {', '.join(strays)}"
                )
    return rules


ToolRuleList = Annotated[list[ToolRule], AfterValidator(check_rule_set)]
"""A list of rules in a request: each rule valid, and the set consistent."""

_RULES: TypeAdapter[list[ToolRule]] = TypeAdapter(list[ToolRule])
_RULE: TypeAdapter[ToolRule] = TypeAdapter(ToolRule)


def dump_rules(rules: Iterable[ToolRule]) -> list[dict[str, Any]]:
    """Rules as stored (`agents.tool_rules`): JSON dicts in the API's shape."""
    return [rule.model_dump(mode="json") for rule in rules]


def load_rules(stored: Sequence[dict[str, Any]] | None) -> list[ToolRule]:
    """Stored rules back as models. A stored rule that no longer validates (written before rules were
    typed) is skipped with a warning rather than breaking every read of the agent."""
    rules: list[ToolRule] = []
    for raw in stored or ():
        try:
            rules.append(_RULE.validate_python(raw))
        except ValidationError as e:
            log.warning("skipping a stored tool rule that is not valid: %r (%s)", raw, e.errors()[0]["msg"])
    return rules


def parse_rules(raw: Any) -> list[ToolRule]:
    """Validate a list of rules given as plain data; raises pydantic's `ValidationError`."""
    return check_rule_set(_RULES.validate_python(raw))


def with_requires_approval(rules: Sequence[ToolRule], tool_name: str, required: bool) -> list[ToolRule]:
    """`rules` with a `RequiresApprovalToolRule` for `tool_name` added (`required`) or removed. An
    existing rule is kept as it is; other rules are untouched and keep their order."""
    has = any(isinstance(r, RequiresApprovalToolRule) and r.tool_name == tool_name for r in rules)
    if required:
        return [*rules] if has else [*rules, RequiresApprovalToolRule(tool_name=tool_name)]
    return [r for r in rules if not (isinstance(r, RequiresApprovalToolRule) and r.tool_name == tool_name)]


__all__ = [
    "TOOL_RULE_TYPES",
    "BaseToolRule",
    "ChildArgNode",
    "ChildToolRule",
    "ConditionalToolRule",
    "ContinueToolRule",
    "InitToolRule",
    "MaxCountPerStepToolRule",
    "ParentToolRule",
    "RequiredBeforeExitToolRule",
    "RequiresApprovalToolRule",
    "TerminalToolRule",
    "ToolRule",
    "ToolRuleList",
    "check_rule_set",
    "dump_rules",
    "load_rules",
    "parse_rules",
    "with_requires_approval",
]
