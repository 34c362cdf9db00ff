"""Docs that no test checks go stale: every setting is documented."""

from __future__ import annotations

from pathlib import Path

from memfold.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    for name in Settings.model_fields:
        assert f"`MEMFOLD_{name.upper()}`" in text, f"MEMFOLD_{name.upper()} is not in docs/configuration.md"


def test_every_documented_memfold_variable_exists() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    documented = {word.strip("`") for word in text.split() if word.startswith("`MEMFOLD_")}
    assert documented == {f"MEMFOLD_{name.upper()}" for name in Settings.model_fields}
