"""A supervisor agent hands a task to its worker agents and reports their answers.

Run a memfold server (`memfold serve`, with a provider configured, e.g. OPENAI_API_KEY), then:

    python examples/supervisor_workers.py --model openai/gpt-4o-mini --workers 3

The workers share a tag. The supervisor has the `send_message_to_agents_matching_tags` tool: one call
messages every worker with the tag at the same time and returns their replies, which the supervisor
sums up for you. Each worker sees who wrote to it ("[message from <supervisor id>]").
Uses only `letta-client`, so it runs against Letta as well.
"""

from __future__ import annotations

import argparse
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from letta_client import Letta

SUPERVISOR_PERSONA = (
    "I am the supervisor. When the user gives me a task, I send it to my workers with "
    "send_message_to_agents_matching_tags (match_all: the team tag, match_some: []), then tell the "
    "user what each worker answered."
)
WORKER_PERSONA = "I am a worker. When my supervisor messages me, I do the task and answer in one sentence."


@dataclass
class Outcome:
    supervisor_id: str
    worker_ids: list[str]
    summary: str
    """What the supervisor told the user."""
    worker_replies: dict[str, str] = field(default_factory=dict)
    """Each worker's reply, by agent id, as the supervisor received it."""


def run_supervisor_workers(client: Letta, model: str, task: str, *, workers: int = 3) -> Outcome:
    """Create a team (a supervisor and `workers` workers with a shared tag), give the supervisor the
    task, and return what came back. The agents are deleted at the end."""
    team = f"team-{uuid.uuid4().hex[:8]}"
    created: list[str] = []
    try:
        worker_ids = []
        for index in range(workers):
            worker = client.agents.create(
                name=f"{team}-worker-{index}",
                model=model,
                tags=["worker", team],
                memory_blocks=[
                    {"label": "persona", "value": WORKER_PERSONA},
                    {"label": "human", "value": f"My supervisor leads {team}."},
                ],
            )
            created.append(worker.id)
            worker_ids.append(worker.id)
        supervisor = client.agents.create(
            name=f"{team}-supervisor",
            model=model,
            tags=["supervisor", team],
            tools=["send_message_to_agents_matching_tags"],
            memory_blocks=[
                {"label": "persona", "value": f"{SUPERVISOR_PERSONA} My team tag is {team}."},
                {"label": "human", "value": "The user gives me tasks."},
            ],
        )
        created.append(supervisor.id)

        response = client.agents.messages.create(supervisor.id, input=task)
        outcome = Outcome(supervisor.id, worker_ids, summary="")
        for message in response.messages:
            kind = message.message_type
            if kind == "tool_return_message" and getattr(message, "status", None) == "success":
                outcome.worker_replies.update(_replies(str(getattr(message, "tool_return", ""))))
            elif kind == "assistant_message":
                outcome.summary = str(getattr(message, "content", ""))
        return outcome
    finally:
        for agent_id in created:
            client.agents.delete(agent_id)


def _replies(tool_return: str) -> dict[str, str]:
    """The tags tool answers with a JSON list of {agent_id, agent_name, reply | error}."""
    try:
        items: Any = json.loads(tool_return)
    except json.JSONDecodeError:
        return {}
    if not isinstance(items, list):
        return {}
    return {str(i["agent_id"]): str(i.get("reply", i.get("error", ""))) for i in items if isinstance(i, dict)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8283")
    parser.add_argument("--model", default="openai/gpt-4o-mini")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--task", default="Name one prime number between 10 and 50.")
    args = parser.parse_args()
    outcome = run_supervisor_workers(
        Letta(base_url=args.base_url), args.model, args.task, workers=args.workers
    )
    for agent_id, reply in outcome.worker_replies.items():
        print(f"{agent_id}: {reply}")
    print(f"supervisor: {outcome.summary}")


if __name__ == "__main__":
    main()
