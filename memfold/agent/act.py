"""Acting on a model's response: its tool calls run under the agent's tool rules; calls that need a
person's approval, or that the client runs itself, wait; an approval answer resumes them.

A call that breaks a rule does not run: its result is an error the model reads. A call that waits
stops the turn with `requires_approval`; the assistant message records which calls wait
(`approval.pending`), so the waiting state lives in the stored history and survives a restart.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from memfold.agent.session import AgentSession
from memfold.errors import BadRequestError, ConflictError
from memfold.ids import new_id
from memfold.llm.base import ModelResponse, ToolCall, ToolSpec
from memfold.schemas.base import utcnow
from memfold.schemas.messages import (
    ApprovalCreate,
    ApprovalReturn,
    ClientTool,
    Message,
    StopReasonType,
    StoredToolCall,
    ToolReturnInput,
)
from memfold.schemas.tool_rules import load_rules
from memfold.schemas.tools import DEFAULT_RETURN_CHAR_LIMIT, Tool
from memfold.tools.builtin import ToolContext
from memfold.tools.executor import THINKING_PARAM, ToolResult, execute, parse_arguments
from memfold.tools.rules import ToolRulesSolver, exit_reminder

Emit = Callable[[Message], None]


@dataclass
class TurnTools:
    """What one turn may call: the agent's tools, the client's tools, and the rules over them."""

    attached: dict[str, Tool]
    client: dict[str, ClientTool]
    solver: ToolRulesSolver
    specs: list[ToolSpec]

    @classmethod
    def build(
        cls,
        session: AgentSession,
        specs: list[ToolSpec],
        client_tools: list[ClientTool] | None,
        *,
        continuing: bool,
    ) -> TurnTools:
        """`continuing`: the turn goes on from stored history (an approval answer, a resumed run), so
        the rules see the calls made since the last user message; a new message starts afresh."""
        attached = {t.name: t for t in session.tools}
        client = {t.name: t for t in client_tools or () if t.name not in attached}
        client_specs = [
            ToolSpec(t.name, t.description or "", t.parameters or {"type": "object", "properties": {}})
            for t in client.values()
        ]
        history = _calls_this_turn(session) if continuing else []
        solver = ToolRulesSolver.from_history(load_rules(session.agent.tool_rules), history)
        return cls(attached, client, solver, [*specs, *client_specs])

    @property
    def names(self) -> list[str]:
        return [*self.attached, *self.client]

    def offered(self) -> list[ToolSpec]:
        """The tools the rules allow for the next step."""
        allowed = set(self.solver.allowed(self.names))
        return [spec for spec in self.specs if spec.name in allowed]

    def waits(self, name: str) -> bool:
        return name in self.client or self.solver.requires_approval(name)


@dataclass
class Step:
    """One step's acting context."""

    session: AgentSession
    tools: TurnTools
    ctx: ToolContext
    memgpt: bool
    step_id: str
    run_id: str
    emit: Emit
    assistant_id: str | None = None
    """The id of the step's assistant message when chosen before the LLM call (token streaming names it)."""

    def message(self, message_id: str | None = None, **fields: Any) -> Message:
        return Message(
            id=message_id or new_id("message"),
            agent_id=self.session.agent.id,
            step_id=self.step_id,
            run_id=self.run_id,
            created_at=utcnow(),
            **fields,
        )


async def act(step: Step, response: ModelResponse) -> tuple[list[Message], StopReasonType | None]:
    """Execute the response's tool calls. Returns the new messages and the stop reason, or None to
    take another step."""
    reasoning = response.reasoning
    if step.memgpt and response.content and response.tool_calls:
        reasoning = "\n".join(filter(None, [reasoning, response.content]))
    if not reasoning:  # MemGPT mode: the calls' `thinking` is the step's reasoning
        reasoning = "\n".join(filter(None, (_thinking(c.arguments) for c in response.tool_calls))) or None
    names = step.tools.names
    broken = {c.id: v for c in response.tool_calls if (v := step.tools.solver.violation(c.name, names))}
    waiting = [c for c in response.tool_calls if c.id not in broken and step.tools.waits(c.name)]
    assistant = step.message(
        step.assistant_id,
        role="assistant",
        content=None if step.memgpt and response.tool_calls else response.content,
        reasoning=reasoning,
        tool_calls=[StoredToolCall(id=c.id, name=c.name, arguments=c.arguments) for c in response.tool_calls]
        or None,
        approval=_waiting(waiting, step.tools) if waiting else None,
    )
    step.emit(assistant)
    if not response.tool_calls:
        # A plain-text reply ends the turn. In MemGPT mode it is a model slip; the text is delivered
        # as the reply rather than lost.
        produced = [assistant]
        return produced, _unless_required(step, produced, "end_turn" if response.content else "no_tool_call")
    produced = [assistant]
    keep_going, ends = not step.memgpt, False
    waiting_ids = {c.id for c in waiting}
    for call in response.tool_calls:
        if call.id in waiting_ids:
            continue
        if call.id in broken:
            result = ToolResult(ok=False, content=broken[call.id])
            step.tools.solver.record(call.name, None)
            produced.append(_returned(step, call, result, None))
            keep_going = True
            continue
        returned, go, end = await run_call(step, call)
        produced.append(returned)
        keep_going, ends = keep_going or go, ends or end
    if waiting:
        return produced, "requires_approval"
    return produced, _decide(step, produced, keep_going, ends)


async def run_call(step: Step, call: ToolCall) -> tuple[Message, bool, bool]:
    """Run one call that is allowed to run. Returns its result message, whether it asks for another
    step, and whether it ends the turn (a terminal rule)."""
    solver = step.tools.solver
    call = _prefilled(call, solver)
    result = await execute(call, step.tools.attached, step.ctx)
    note = solver.record(call.name, result.content if result.ok else None)
    returned = _returned(step, call, result, note)
    go = (
        (not result.ok or result.heartbeat or bool(note) or solver.forces_continue(call.name))
        if step.memgpt
        else True
    )
    return returned, go, solver.ends_turn(call.name)


async def resolve_approval(step: Step, answer: ApprovalCreate) -> tuple[list[Message], StopReasonType | None]:
    """Apply a person's (or the client's) answer to the calls waiting for it."""
    request = pending_approval(step.session.in_context)
    if request is None:
        raise ConflictError("no tool call is waiting for approval")
    if answer.approval_request_id and answer.approval_request_id != request.id:
        raise BadRequestError(
            f"approval_request_id {answer.approval_request_id!r} is not the waiting request ({request.id!r})"
        )
    waiting = waiting_calls(request)
    decisions = _decisions(answer, waiting, set((request.approval or {}).get("client", ())))
    record = step.message(
        role="approval",
        approval={
            "request_id": request.id,
            "reason": answer.reason,
            "decisions": [d.model_dump(mode="json", exclude_none=True) for d in decisions.values()],
        },
    )
    step.emit(record)
    produced = [record]
    keep_going, ends = False, False
    for call in waiting:
        decision = decisions[call.id]
        if isinstance(decision, ToolReturnInput):
            step.tools.solver.record(call.name, decision.text())
            result = ToolResult(ok=decision.status == "success", content=decision.text())
            produced.append(_returned(step, call, result, None))
            keep_going = True
        elif decision.approve:
            returned, go, end = await run_call(step, call)
            produced.append(returned)
            keep_going, ends = keep_going or go, ends or end
        else:
            step.tools.solver.record(call.name, None)
            why = f" Reason: {decision.reason}" if decision.reason else ""
            denied = ToolResult(ok=False, content=f"Error: the user denied this tool call.{why}")
            produced.append(_returned(step, call, denied, None))
            keep_going = True
    return produced, _decide(step, produced, keep_going or not step.memgpt, ends)


def pending_approval(in_context: list[Message]) -> Message | None:
    """The assistant message whose calls wait for approval, if the agent is waiting."""
    answered: set[str] = set()
    for message in reversed(in_context):
        if message.role == "tool" and message.tool_call_id:
            answered.add(message.tool_call_id)
        elif message.role == "assistant":
            pending = set((message.approval or {}).get("pending", ()))
            return message if pending - answered else None
        else:
            return None
    return None


def waiting_calls(request: Message) -> list[ToolCall]:
    pending = set((request.approval or {}).get("pending", ()))
    return [ToolCall(c.id, c.name, c.arguments) for c in request.tool_calls or () if c.id in pending]


def _decisions(
    answer: ApprovalCreate, waiting: list[ToolCall], client: set[str]
) -> dict[str, ApprovalReturn | ToolReturnInput]:
    ids = {c.id for c in waiting}
    given: dict[str, ApprovalReturn | ToolReturnInput] = {d.tool_call_id: d for d in answer.approvals or ()}
    if unknown := sorted(set(given) - ids):
        raise BadRequestError(f"no waiting tool call has id {unknown[0]!r}; waiting: {sorted(ids)}")
    if answer.approve is not None:
        for call_id in ids - set(given):
            given[call_id] = ApprovalReturn(
                tool_call_id=call_id, approve=answer.approve, reason=answer.reason
            )
    if missing := [c.id for c in waiting if c.id not in given]:
        raise BadRequestError(f"answer every waiting tool call; no decision for {missing}")
    for call in waiting:
        if call.id in client and not isinstance(given[call.id], ToolReturnInput):
            raise BadRequestError(
                f"{call.name!r} is a client-side tool: send its result (a tool return) for {call.id!r}"
            )
    return given


def _waiting(waiting: list[ToolCall], tools: TurnTools) -> dict[str, list[str]]:
    marks = {"pending": [c.id for c in waiting]}
    if client := [c.id for c in waiting if c.name in tools.client]:
        marks["client"] = client
    return marks


def _decide(step: Step, produced: list[Message], keep_going: bool, ends: bool) -> StopReasonType | None:
    if ends:
        return _unless_required(step, produced, "tool_rule")
    return None if keep_going else _unless_required(step, produced, "end_turn")


def _unless_required(step: Step, produced: list[Message], stop: StopReasonType) -> StopReasonType | None:
    """`stop`, unless a tool the rules require before the turn ends has not been called: then the
    model is told so and gets another step."""
    missing = step.tools.solver.missing_before_exit(step.tools.names)
    if not missing:
        return stop
    reminder = exit_reminder(missing)
    last = produced[-1]
    if last.role == "tool":
        last.content = f"{last.content}\n\n{reminder}"
    else:
        produced.append(step.message(role="user", name="system", content=reminder))
        step.emit(produced[-1])
    return None


def _returned(step: Step, call: ToolCall, result: ToolResult, note: str | None) -> Message:
    tool = step.tools.attached.get(call.name)
    limit = tool.return_char_limit if tool is not None else DEFAULT_RETURN_CHAR_LIMIT
    content = result.content + (f"\n\n{note}" if note else "")
    message = step.message(
        role="tool",
        content=_clip(content, limit),
        tool_call_id=call.id,
        tool_status="success" if result.ok else "error",
        name=call.name,
    )
    step.emit(message)
    return message


def _prefilled(call: ToolCall, solver: ToolRulesSolver) -> ToolCall:
    """The call with the arguments the rules fix (init `args`, child `child_arg_nodes`) filled in."""
    if not solver.prefilled_args(call.name):
        return call
    try:
        arguments = parse_arguments(call.arguments)
    except Exception:
        return call  # the executor reports the bad arguments
    filled = solver.apply_prefilled(call.name, arguments)
    return ToolCall(call.id, call.name, json.dumps(filled))


def _calls_this_turn(session: AgentSession) -> list[tuple[str, str | None]]:
    """(name, output) of the calls since the last user message: the turn a resumed run or an
    approval answer continues."""
    messages = session.in_context
    start = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1) + 1
    outputs = {m.tool_call_id: m for m in messages[start:] if m.role == "tool"}
    calls: list[tuple[str, str | None]] = []
    for message in messages[start:]:
        for call in message.tool_calls or () if message.role == "assistant" else ():
            result = outputs.get(call.id)
            ok = result is not None and result.tool_status == "success"
            calls.append((call.name, result.content if ok and result is not None else None))
    return calls


def _thinking(arguments: str) -> str | None:
    """The `thinking` argument of a MemGPT-mode call (shown as the step's reasoning), if any."""
    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError:
        return None
    thought = parsed.get(THINKING_PARAM) if isinstance(parsed, dict) else None
    return thought if isinstance(thought, str) else None


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"... [clipped: {len(text)} characters in all]"
