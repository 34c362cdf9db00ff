"""What a turn produces, as it produces it: the channel between the step loop and a streaming client.

The loop writes (`message`, `delta`, `finish`, `fail`) without ever waiting; a reader iterates the
events. The turn never depends on the reader: a client that goes away stops reading, and the turn
runs to the end of its steps (each of which commits atomically) regardless.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from memfold.errors import MemfoldError
from memfold.schemas.messages import Message

if TYPE_CHECKING:
    from memfold.agent.loop import TurnResult


@dataclass(frozen=True)
class MessageEvent:
    """A message of the turn, complete. Emitted once, in the order of the turn's messages."""

    message: Message


@dataclass(frozen=True)
class DeltaEvent:
    """A piece of a message still being generated (token streaming). `kind` says which view it
    extends: the assistant's text, its reasoning, or a tool call's arguments."""

    message_id: str
    kind: Literal["assistant", "reasoning", "tool_call"]
    text: str
    tool_call_id: str | None = None
    tool_name: str | None = None


@dataclass(frozen=True)
class FinishEvent:
    result: TurnResult


@dataclass(frozen=True)
class ErrorEvent:
    error: MemfoldError


TurnEvent = MessageEvent | DeltaEvent | FinishEvent | ErrorEvent


class TurnStream:
    """An unbounded, single-reader queue of a turn's events. Writing never blocks the loop."""

    def __init__(self, *, deltas: bool = False) -> None:
        self.deltas = deltas
        """Whether the reader wants token deltas (the loop then asks the model to stream)."""
        self._queue: asyncio.Queue[TurnEvent] = asyncio.Queue()
        self.closed = False

    def message(self, message: Message) -> None:
        self._queue.put_nowait(MessageEvent(message))

    def delta(self, delta: DeltaEvent) -> None:
        if self.deltas:
            self._queue.put_nowait(delta)

    def finish(self, result: TurnResult) -> None:
        self._queue.put_nowait(FinishEvent(result))
        self.closed = True

    def fail(self, error: MemfoldError) -> None:
        self._queue.put_nowait(ErrorEvent(error))
        self.closed = True

    async def events(self, *, ping_every: float | None = None) -> AsyncIterator[TurnEvent | None]:
        """The events up to and including the finish (or error). With `ping_every`, yields None
        whenever that many seconds pass without an event (a keep-alive for the transport)."""
        while True:
            try:
                event = self._queue.get_nowait()  # the common case under token streaming: no timer
            except asyncio.QueueEmpty:
                try:
                    event = await asyncio.wait_for(self._queue.get(), ping_every)
                except TimeoutError:
                    yield None
                    continue
            yield event
            if isinstance(event, FinishEvent | ErrorEvent):
                return
