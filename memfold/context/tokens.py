"""Token accounting without a tokenizer: a conservative estimate, corrected by the provider's count.

No tokenizer is downloaded at run time (tiktoken fetches its BPE files from the network), and
each provider tokenizes differently anyway. `estimate_text` instead splits text the way BPE
tokenizers pre-tokenize it (words with their leading space, runs of up to three digits,
punctuation runs, whitespace) and prices every piece by its class: a short lowercase word is
one token, longer and capitalized or all-caps words more, every non-ASCII character a
per-script weight (CJK 1.3, Tamil 1.8, Cyrillic 0.75, emoji 2.7, ...). A BPE token never
spans two pieces, so the piece count is a floor that the weights build on.

Measured against OpenAI's cl100k_base and o200k_base (the larger of the two counts, over
texts cut into 40-4,000 characters; `python -m bench.token_estimate` reruns it), the estimate
is 1.3x real on English prose, 1.4x on code, 1.47x on JSON, 1.12-1.64x on 18 other languages,
1.04x on lists of proper names, exact on numbers. Single short texts can come out below (the
worst chunk seen: 0.84, Polish UI strings); random base64 is the one kind of text counted
low overall (0.87x). docs/architecture.md keeps the table.

On top of the text: `MESSAGE_OVERHEAD` per message, `TOOL_CALL_OVERHEAD` per tool call,
`TOOL_OVERHEAD` per tool schema (whose JSON is estimated like text) and `REQUEST_OVERHEAD`.

`Calibration` corrects the estimate with what the provider reports: after each call the
ratio of the provider's `prompt_tokens` to our estimate of the same request raises the factor
at once (plus 5 %), and lets it fall back only slowly, never below 1.0 -- the provider's
count decides whether a request is rejected, so the estimate may only err on the high side.
"""

from __future__ import annotations

import bisect
import json
import math
import re
from dataclasses import dataclass

from memfold.llm.base import ChatMessage, ModelRequest, ToolSpec

__all__ = [
    "MESSAGE_OVERHEAD",
    "REQUEST_OVERHEAD",
    "TOOL_CALL_OVERHEAD",
    "TOOL_OVERHEAD",
    "Calibration",
    "estimate_message",
    "estimate_request",
    "estimate_text",
    "estimate_tools",
    "truncate_to_tokens",
]

MESSAGE_OVERHEAD = 4
"""Role and delimiters of one message (OpenAI documents 3 to 4)."""
TOOL_CALL_OVERHEAD = 8
"""One tool call in an assistant message, beside its name and arguments."""
TOOL_OVERHEAD = 8
"""One tool schema, beside the JSON of its name, description and parameters."""
REQUEST_OVERHEAD = 12
"""Once per request: reply priming, and the preamble of the tool section."""

# The pre-tokenization of cl100k/o200k, with Python's `re` (no \p{L}): letters with one leading
# non-letter (usually the space), digit runs of up to three, punctuation runs, whitespace.
_PIECES = re.compile(r"[^\r\n\w]?[^\W\d_]+|\d{1,3}| ?[^\s\w]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+|_+")
_SEGMENTS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")

# Tokens per non-ASCII character, by Unicode block: (first code point past the block, weight).
_SCRIPT_BLOCKS = (
    (0x0250, 1.3),  # Latin-1 supplement and Latin extended (accented letters)
    (0x0370, 1.5),  # IPA, spacing modifiers, combining diacritics
    (0x0400, 1.3),  # Greek
    (0x0530, 0.75),  # Cyrillic
    (0x0590, 1.5),  # Armenian
    (0x0600, 1.25),  # Hebrew
    (0x0700, 0.95),  # Arabic
    (0x0900, 1.5),  # Syriac, Thaana, ...
    (0x0980, 1.3),  # Devanagari
    (0x0B80, 1.55),  # Bengali, Gurmukhi, Gujarati, Oriya
    (0x0C00, 1.8),  # Tamil
    (0x0E00, 1.55),  # Telugu, Kannada, Malayalam, Sinhala
    (0x0E80, 1.1),  # Thai
    (0x3040, 1.5),  # Lao, Tibetan, Georgian, ..., general punctuation, symbols
    (0xA000, 1.3),  # kana and CJK ideographs
    (0xAC00, 1.5),
    (0xD7B0, 1.3),  # Hangul syllables
    (0x10000, 1.5),
    (0x110000, 2.7),  # emoji and everything outside the basic plane
)
_BLOCK_ENDS = [end for end, _ in _SCRIPT_BLOCKS]
_BLOCK_WEIGHTS = [weight for _, weight in _SCRIPT_BLOCKS]

_piece_costs: dict[str, float] = {}
_PIECE_CACHE_SIZE = 200_000


def _word_cost(piece: str) -> float:
    """An ASCII word, maybe with one leading character: by case segment and length."""
    first = piece[0]
    cost = 0.0
    if first.isalpha():
        cost += 0.3  # no leading space (start of a line): less common, split more often
    elif first != " ":
        cost += 1.0  # a leading quote or bracket is often a token of its own
    for segment in _SEGMENTS.findall(piece):
        n = len(segment)
        if segment.islower():
            cost += 1 + max(0, n - 6) / 3
        elif segment.isupper() and n > 1:
            cost += 1 + max(0, n - 2) / 2
        else:
            cost += 1 + max(0, n - 3) / 2.5
    return cost


def _piece_cost(piece: str) -> float:
    if piece.isascii():
        if piece[-1].isalpha():
            return _word_cost(piece)
        if piece.isdigit():
            return 1.0
        if piece.isspace():
            return 1.0 + len(piece) // 8
        return 1.0 + (len(piece.strip()) - 1) * 0.5  # punctuation run
    cost = 0.0
    for char in piece:
        code = ord(char)
        cost += 0.5 if code < 128 else _BLOCK_WEIGHTS[bisect.bisect_right(_BLOCK_ENDS, code)]
    return max(1.0, cost)


def _text_cost(text: str) -> float:
    costs = _piece_costs
    if len(costs) > _PIECE_CACHE_SIZE:
        costs.clear()
    total = 0.0
    for piece in _PIECES.findall(text):
        cost = costs.get(piece)
        if cost is None:
            cost = costs[piece] = _piece_cost(piece)
        total += cost
    return total


def estimate_text(text: str | None) -> int:
    """A conservative token count of `text` for today's BPE tokenizers (see the module docstring)."""
    if not text:
        return 0
    return math.ceil(_text_cost(text))


def estimate_message(message: ChatMessage) -> int:
    """Tokens of one message of a request: its text, tool calls and overhead."""
    tokens = MESSAGE_OVERHEAD + estimate_text(message.content)
    if message.name:
        tokens += 1 + estimate_text(message.name)
    for call in message.tool_calls:
        tokens += TOOL_CALL_OVERHEAD + estimate_text(call.name) + estimate_text(call.arguments)
    return tokens


def estimate_tools(tools: list[ToolSpec]) -> int:
    """Tokens of the tool schemas offered with a request."""
    tokens = 0
    for tool in tools:
        schema = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
        tokens += TOOL_OVERHEAD + estimate_text(json.dumps(schema, ensure_ascii=False))
    return tokens


def estimate_request(request: ModelRequest) -> int:
    """Our estimate of the prompt tokens of `request` (before calibration)."""
    return (
        REQUEST_OVERHEAD + estimate_tools(request.tools) + sum(estimate_message(m) for m in request.messages)
    )


def truncate_to_tokens(text: str, budget: int) -> str:
    """The longest prefix of `text` whose estimate fits in `budget` tokens (cut between pieces)."""
    if budget <= 0:
        return ""
    total = 0.0
    for match in _PIECES.finditer(text):
        total += _piece_cost(match.group())
        if total > budget:
            return text[: match.start()]
    return text


@dataclass
class Calibration:
    """How far the provider's token count runs above our estimate, for one agent and model.

    `factor` multiplies every estimate. An observation above it raises it at once (with a
    5 % margin); observations below let it decay by a tenth of the gap per call. It never
    goes below 1.0: the estimator is built to overcount, and the provider's count is the one
    that rejects requests.
    """

    factor: float = 1.0
    observations: int = 0

    MARGIN = 1.05
    DECAY = 0.1
    CEILING = 8.0

    def apply(self, tokens: int) -> int:
        return math.ceil(tokens * self.factor)

    def observe(self, estimated: int, reported: int) -> None:
        """Record that a request we estimated at `estimated` tokens was counted `reported` by the provider."""
        if estimated <= 0 or reported <= 0:
            return
        self.observations += 1
        wanted = reported / estimated * self.MARGIN
        if wanted > self.factor:
            self.factor = min(wanted, self.CEILING)
        else:
            self.factor = max(1.0, self.factor - self.DECAY * (self.factor - wanted))

    def overflowed(self) -> None:
        """The provider rejected a request we thought fit: count a quarter higher from now on."""
        self.factor = min(self.factor * 1.25, self.CEILING)
