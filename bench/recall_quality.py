"""How well `conversation_search` finds the message that answers a question (recall@5, recall@10).

A long multi-session conversation is generated deterministically: `--sessions` days of
chit-chat (user messages and the assistant's `send_message` replies, stored as MemGPT mode
stores them), full of distractors that share words with the facts (other sisters, other
flights, other cakes ...). Thirty facts are planted in random sessions, one user message
each. Each fact has a question asked the way a person would ask it later, mostly in other
words than the fact ("Which city does my sister live in now?" for "My sister Clara moved
to Porto last spring ..."). The evidence of a question is its fact's message.

Every question goes through `RecallStore.search` with the question as the query (the code
of the `conversation_search` tool) and the rank of the evidence is recorded. Three variants:
hybrid (the product), full text only and vectors only (each side of the fusion alone), all
with the default local embedding `local/hash-384`. The time to index the whole history (the
lazy catch-up of the first search) and the search latency are reported too.

    python -m bench.recall_quality [--sessions 100] [--messages-per-session 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._report import save_result
from bench.step_overhead import machine_info
from memfold.agent import lifecycle
from memfold.config import Settings
from memfold.errors import ProviderError
from memfold.ids import new_id
from memfold.llm.embeddings import Embedder
from memfold.llm.providers import ModelRegistry
from memfold.memory import recall as recall_module
from memfold.memory.recall import RecallStore
from memfold.memory.vectors import VectorCollections
from memfold.schemas.agents import CreateAgent
from memfold.schemas.messages import Message, StoredToolCall
from memfold.server.app import open_database
from memfold.store import agents as agent_rows
from memfold.store import messages as message_rows
from memfold.store.orgs import DEFAULT_ORG_ID

# (fact the user states once, question asked much later)
FACTS: list[tuple[str, str]] = [
    (
        "My sister Clara moved to Porto last spring and teaches violin there.",
        "Which city does my sister live in now?",
    ),
    ("I'm allergic to shellfish, I found out the hard way in Brittany.", "What food am I allergic to?"),
    ("Our dog Biscuit is a border collie, very clever.", "What breed is our dog?"),
    ("I started at Halden Robotics as a firmware engineer in March.", "Which company do I work for?"),
    ("My favourite novel is The Left Hand of Darkness by Le Guin.", "What's my favourite book?"),
    ("The wifi password at the cabin is pinecone-42.", "What was the wifi password at the cabin?"),
    ("Dad's birthday is on the 14th of August.", "When is my father's birthday?"),
    ("I run the Lisbon half marathon every October.", "Which race do I run every autumn?"),
    ("I drive a green 2015 Skoda Octavia.", "What car do I drive?"),
    (
        "The doctor put me on lisinopril for my blood pressure.",
        "What medication do I take for blood pressure?",
    ),
    ("We're planning a trip to Kyoto for the cherry blossoms.", "Where are we going to see cherry blossoms?"),
    ("My daughter Ines is learning chess at school.", "What is Ines learning at school?"),
    ("I switched to decaf because coffee kept me awake at night.", "Why did I stop drinking regular coffee?"),
    ("Our landlord raised the rent to 1450 euros a month.", "How much rent do we pay now?"),
    ("I'm learning Italian with a tutor on Thursday evenings.", "Which language am I studying?"),
    ("My best friend Tomás is getting married in Seville in June.", "Whose wedding is in June?"),
    ("I broke my left wrist skiing two winters ago.", "Which wrist did I break when skiing?"),
    ("The plumber comes on Monday to fix the boiler.", "When is the boiler getting fixed?"),
    ("I'm vegetarian but I still eat eggs and cheese.", "Do I eat eggs, given my diet?"),
    (
        "Grandma's apple cake recipe uses cardamom instead of cinnamon.",
        "What spice is in grandma's apple cake?",
    ),
    ("I keep my passport in the blue folder in the desk drawer.", "Where do I keep my passport?"),
    ("We adopted two cats from the shelter, Miso and Tofu.", "What are the names of our cats?"),
    ("My flight to Berlin leaves at 7:40 on Friday from gate B12.", "What time does my Berlin flight leave?"),
    ("I'm saving for a deposit on a flat in Lyon.", "What am I saving money for?"),
    ("My manager Priya wants the quarterly roadmap by the 30th.", "When is the roadmap due for my manager?"),
    ("I play bass guitar in a jazz trio on weekends.", "What instrument do I play in the trio?"),
    ("My son Leo is scared of thunderstorms.", "What is Leo afraid of?"),
    ("Our car insurance with Allianz renews in November.", "Which insurer covers our car?"),
    ("Lately I've been reading Seneca's letters on stoicism.", "Which philosopher have I been reading?"),
    (
        "Our anniversary dinner is booked at Taberna Sal on the 9th.",
        "Where is our anniversary dinner booked?",
    ),
]

_SUBJECTS = ["my sister", "a colleague", "my neighbour", "our friend", "my cousin", "the manager", "my dad"]
_TOPICS = [
    "a flight delay",
    "the new cafe",
    "a jazz concert",
    "the school play",
    "a car repair",
    "the rent",
    "a running club",
    "a cake recipe",
    "a wedding invitation",
    "the dog park",
    "a chess tournament",
    "a book club",
    "the boiler noise",
    "a skiing trip",
    "a doctor's appointment",
    "the insurance letter",
    "a passport renewal",
    "a language course",
    "the cherry tree",
    "a birthday party",
    "the cabin",
    "a thunderstorm",
    "a vegetarian restaurant",
    "the roadmap meeting",
    "a guitar lesson",
]
_VERBS = ["told me about", "complained about", "laughed about", "asked me about", "kept talking about"]
_TAILS = [
    "over lunch.",
    "on the phone yesterday.",
    "while we were walking.",
    "at the station.",
    "in the group chat.",
    "after work.",
    "this morning.",
]
_SMALL = [
    "It rained all day, I stayed in and cleaned the kitchen.",
    "Work was busy, lots of meetings and not much done.",
    "I tried a new pasta recipe tonight, it came out fine.",
    "The train was late again this morning.",
    "Watched a documentary about octopuses, amazing animals.",
    "I need to buy new running shoes soon.",
    "The garden needs weeding before the weekend.",
    "Had a long call with the bank about a card payment.",
]
_REPLIES = [
    "That sounds like quite a day!",
    "Thanks for telling me, I'll keep it in mind.",
    "Oh interesting, how did that go?",
    "I hope the rest of the week is calmer.",
    "Good to hear from you again.",
    "That's a lot to deal with, take it easy.",
]


@dataclass
class Quality:
    variant: str
    questions: int
    recall_at_5: float
    recall_at_10: float
    mrr_at_10: float
    p50_ms: float
    p95_ms: float


def conversation(
    sessions: int, per_session: int, seed: int = 11
) -> tuple[list[tuple[str, str, datetime]], dict[int, int]]:
    """(role, text, time) of every message, and fact index -> position of its message."""
    rng = random.Random(seed)
    planted = {session: [] for session in range(sessions)}  # session -> fact indexes
    for fact in range(len(FACTS)):
        planted[rng.randrange(sessions)].append(fact)
    messages: list[tuple[str, str, datetime]] = []
    evidence: dict[int, int] = {}
    start = datetime(2025, 1, 1, 9, tzinfo=UTC)
    for session in range(sessions):
        day = start + timedelta(days=session)
        facts = list(planted[session])
        for turn in range(per_session // 2):
            moment = day + timedelta(minutes=3 * turn)
            if facts and rng.random() < 0.3:
                fact = facts.pop()
                evidence[fact] = len(messages)
                user = FACTS[fact][0]
            elif rng.random() < 0.5:
                subject, verb = rng.choice(_SUBJECTS).capitalize(), rng.choice(_VERBS)
                user = f"{subject} {verb} {rng.choice(_TOPICS)} {rng.choice(_TAILS)}"
            else:
                user = rng.choice(_SMALL)
            messages.append(("user", user, moment))
            messages.append(("assistant", rng.choice(_REPLIES), moment + timedelta(seconds=20)))
        for fact in facts:  # any left over: at the end of the session
            evidence[fact] = len(messages)
            messages.append(("user", FACTS[fact][0], day + timedelta(hours=2)))
            messages.append(("assistant", rng.choice(_REPLIES), day + timedelta(hours=2, seconds=20)))
    return messages, evidence


class _NoEmbedder(Embedder):
    """Fails like an unreachable provider, so search falls back to full text alone."""

    handle: Any

    @property
    def dim(self) -> int:
        return 0

    async def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        raise ProviderError("disabled for the full-text-only variant", provider="bench")


async def run(sessions: int, per_session: int) -> tuple[list[Quality], dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="memfold-bench-recall-") as tmp:
        db = open_database(Settings(home=Path(tmp)))
        registry = ModelRegistry(environ={})
        with db.write() as conn:
            agent_id = lifecycle.create_agent(
                conn, DEFAULT_ORG_ID, CreateAgent(name="recall"), Settings(), "scripted/x"
            )
        messages, evidence = conversation(sessions, per_session)
        rows = []
        for role, text, moment in messages:
            if role == "user":
                rows.append(
                    Message(
                        id=new_id("message"), agent_id=agent_id, role="user", content=text, created_at=moment
                    )
                )
            else:
                call = StoredToolCall(
                    id=new_id("tool"), name="send_message", arguments=json.dumps({"message": text})
                )
                rows.append(
                    Message(
                        id=new_id("message"),
                        agent_id=agent_id,
                        role="assistant",
                        tool_calls=[call],
                        created_at=moment,
                    )
                )
        with db.write() as conn:
            message_rows.insert_messages(conn, DEFAULT_ORG_ID, rows)
            agent = agent_rows.get_agent(conn, DEFAULT_ORG_ID, agent_id)
        evidence_ids = {fact: rows[position].id for fact, position in evidence.items()}

        store = RecallStore(db, registry, VectorCollections())
        began = time.perf_counter()
        indexed = await store.index(agent_id, "local/hash-384")
        index_seconds = time.perf_counter() - began

        results: list[Quality] = []
        original_terms = recall_module.query_terms
        variants = {
            "hybrid (BM25 + vectors, RRF)": None,
            "full text only (BM25)": "text",
            "vectors only": "vector",
        }
        for variant, only in variants.items():
            if only == "text":
                registry._embedders[_handle("local/hash-384")] = _NoEmbedder()
            else:
                registry._embedders.pop(_handle("local/hash-384"), None)
            recall_module.query_terms = (lambda q: []) if only == "vector" else original_terms  # type: ignore[assignment]
            ranks, durations = [], []
            for fact, (_, question) in enumerate(FACTS):
                started = time.perf_counter()
                hits = await store.search(agent, question, limit=10)
                durations.append(time.perf_counter() - started)
                ids = [h.entry.message_id for h in hits]
                ranks.append(ids.index(evidence_ids[fact]) + 1 if evidence_ids[fact] in ids else None)
            recall_module.query_terms = original_terms
            cuts = statistics.quantiles(durations, n=20, method="inclusive")
            results.append(
                Quality(
                    variant=variant,
                    questions=len(FACTS),
                    recall_at_5=round(sum(1 for r in ranks if r and r <= 5) / len(ranks), 3),
                    recall_at_10=round(sum(1 for r in ranks if r) / len(ranks), 3),
                    mrr_at_10=round(statistics.fmean(1 / r if r else 0 for r in ranks), 3),
                    p50_ms=round(statistics.median(durations) * 1000, 2),
                    p95_ms=round(cuts[18] * 1000, 2),
                )
            )
        notes = {
            "messages": len(messages),
            "sessions": sessions,
            "indexed": indexed,
            "index_seconds": round(index_seconds, 3),
            "index_ms_per_message": round(index_seconds / max(indexed, 1) * 1000, 3),
            "machine": machine_info(db),
        }
        db.dispose()
        return results, notes


def _handle(text: str) -> Any:
    from memfold.llm.base import ModelHandle

    return ModelHandle.parse(text)


def markdown(results: list[Quality]) -> str:
    rows = [
        "| variant | questions | recall@5 | recall@10 | MRR@10 | p50 ms | p95 ms |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    rows += [
        f"| {r.variant} | {r.questions} | {r.recall_at_5:.2f} | {r.recall_at_10:.2f} | {r.mrr_at_10:.2f} "
        f"| {r.p50_ms:.2f} | {r.p95_ms:.2f} |"
        for r in results
    ]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.recall_quality", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--messages-per-session", type=int, default=20)
    parser.add_argument("--no-save", action="store_true", help="do not write JSON to bench/results/")
    args = parser.parse_args(argv)
    results, notes = asyncio.run(run(args.sessions, args.messages_per_session))
    print(markdown(results))
    print(json.dumps({k: v for k, v in notes.items() if k != "machine"}))
    if not args.no_save:
        save_result("recall_quality", {"results": [asdict(r) for r in results], **notes})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
