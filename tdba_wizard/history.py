"""The journal of the nightly runs, longer than TDBA's 15 days: ``history.jsonl``.

One line per establishment and run (figures only: no learner data), kept 400 days and
bounded in size; ``tdba-wizard history`` shows it. Kept apart from ``sync`` so that reading it
loads nothing of the nightly job.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

HISTORY = "history.jsonl"
KEEP = dt.timedelta(days=400)
MAX_BYTES = 8 * 1024 * 1024
FIGURES = (
    "rows_read",
    "rejected_locally",
    "sent",
    "accepted",
    "rejected_by_tdba",
    "predicted_failing",
    "duplicates",
    "spooled",
    "held",
)


def read_history(state_dir: Path, uai: str | None = None) -> list[dict[str, Any]]:
    """Return the journal's entries, oldest first (one establishment's, when ``uai``)."""
    try:
        text = (state_dir / HISTORY).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    entries = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a damaged line is skipped, never a traceback
        if isinstance(entry, dict) and (uai is None or entry.get("uai") == uai):
            entries.append(entry)
    return entries


def append_runs(state_dir: Path, entries: list[dict[str, Any]], now: dt.datetime) -> None:
    """Add a run's entries; drop what is older than 400 days, then the oldest beyond the size
    bound. Raises OSError when the file cannot be written."""
    from tdba_wizard.files import write_private_atomic

    kept = []
    for entry in read_history(state_dir):
        try:
            when = dt.datetime.fromisoformat(str(entry["finished_at"]))
        except (KeyError, ValueError):
            continue
        if when.tzinfo is not None and now - when <= KEEP:
            kept.append(entry)
    lines = [json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in kept + entries]
    size = sum(len(line) + 1 for line in lines)
    while lines and size > MAX_BYTES:
        size -= len(lines.pop(0)) + 1
    write_private_atomic(state_dir / HISTORY, ("\n".join(lines) + "\n").encode("utf-8"))
