"""A support agent learns a payments company's handbook offline, then answers a merchant's question.

Run a memfold server (`memfold serve`, with a provider configured, e.g. OPENAI_API_KEY), then:

    python examples/learn_payments.py --model openai/gpt-4o-mini

The documents of `examples/paywell/` go into a folder; the agent reads them chunk by chunk in a
background run (`POST /v1/agents/{id}/folders/{folder_id}/learn`, memfold's own route, called through
letta-client's generic `post`) and records what matters in its memory blocks and archival memory;
the run's `metadata.learning` shows the progress. Then it answers from memory, with no folder
attached. The same from a shell: `memfold folders upload paywell examples/paywell` and
`memfold folders learn paywell --agent paywell-support`.
"""

from __future__ import annotations

import argparse
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from letta_client import Letta
from letta_client.types.agents.run import Run

HANDBOOK = Path(__file__).resolve().parent / "paywell"
PERSONA = (
    "I am Paywell's support agent. I answer merchants' questions about Paywell's products, prices, "
    "refunds, chargebacks and risk rules, from what I have learned."
)


@dataclass
class Outcome:
    agent_id: str
    run: Run
    """The learning run as it ended (status, `metadata.learning` progress)."""
    answer: str
    """The agent's answer to the question, after learning."""


def progress_of(run: Run) -> dict[str, Any]:
    """The learning run's progress: `chunks_done`, `chunks_total`, `current_file`, ..."""
    learning = (run.metadata or {}).get("learning")
    return learning if isinstance(learning, dict) else {}


def wait(client: Letta, check: Any, what: str, timeout: float = 600.0) -> Any:
    deadline = time.monotonic() + timeout
    while (value := check()) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.5)
    return value


def learn_and_ask(client: Letta, model: str, question: str, *, handbook: Path = HANDBOOK) -> Outcome:
    """Upload the handbook, have a new agent learn it, ask it `question`. The folder and agent are
    deleted at the end."""
    name = f"paywell-{uuid.uuid4().hex[:8]}"
    folder = client.folders.create(name=name, description="Paywell's handbook")
    agent = None
    try:
        for path in sorted(handbook.glob("*.md")):
            client.folders.files.upload(folder.id, file=(path.name, path.read_bytes(), "text/markdown"))

        def processed() -> bool | None:
            files = client.folders.files.list(folder.id)
            return True if all(f.processing_status in ("completed", "error") for f in files) else None

        wait(client, processed, "the files to be processed")
        agent = client.agents.create(
            name=f"{name}-support",
            model=model,
            memory_blocks=[
                {"label": "persona", "value": PERSONA},
                {"label": "human", "value": "Merchants of Paywell write to me."},
                {"label": "company", "value": "What I know about Paywell:", "limit": 4000},
            ],
        )
        run = client.post(f"/v1/agents/{agent.id}/folders/{folder.id}/learn", cast_to=Run, body={})

        def finished() -> Run | None:
            current = client.runs.retrieve(run.id)
            progress = progress_of(current)
            done, total = progress.get("chunks_done"), progress.get("chunks_total")
            print(f"  learning: {done}/{total} chunks ({progress.get('current_file') or current.status})")
            return current if current.status in ("completed", "failed", "cancelled") else None

        ended: Run = wait(client, finished, "the learning run")
        reply = client.agents.messages.create(agent.id, input=question)
        said = [str(m.content) for m in reply.messages if m.message_type == "assistant_message"]
        return Outcome(agent.id, ended, "\n".join(said))
    finally:
        if agent is not None:
            client.agents.delete(agent.id)
        client.folders.delete(folder.id)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8283")
    parser.add_argument("--model", default="openai/gpt-4o-mini")
    parser.add_argument(
        "--question", default="A buyer disputed a payment. What does that cost me, and what can I do?"
    )
    args = parser.parse_args()
    outcome = learn_and_ask(Letta(base_url=args.url), args.model, args.question)
    print(f"learning run {outcome.run.id}: {outcome.run.status}")
    print(f"> {args.question}\n{outcome.answer}")


if __name__ == "__main__":
    main()
