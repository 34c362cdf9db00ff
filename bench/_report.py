"""How a benchmark prints its result and keeps it: a markdown table and the machine's facts on
stdout, and (unless told not to) a JSON record in `bench/results/`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent


def report(
    name: str,
    title: str,
    *,
    table: str,
    machine: dict[str, Any],
    command: str,
    settings: dict[str, Any],
    elapsed: float,
    results: list[dict[str, Any]],
    now: datetime,
    save: bool,
) -> None:
    print(f"## {title} ({now:%Y-%m-%d %H:%M} UTC, {elapsed:.1f} s)\n")
    print(table)
    print()
    for key, value in machine.items():
        print(f"- {key}: {value}")
    if save:
        payload = {
            "benchmark": name,
            "date": now.isoformat(timespec="seconds"),
            "command": command,
            "settings": settings,
            "elapsed_s": round(elapsed, 2),
            "machine": machine,
            "results": results,
        }
        save_result(name, payload, now)


def save_result(name: str, payload: dict[str, Any], now: datetime | None = None) -> Path:
    """Write `payload` as `bench/results/<name>-<UTC stamp>.json` and say where."""
    now = now or datetime.now(UTC)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"{name}-{now:%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return out
