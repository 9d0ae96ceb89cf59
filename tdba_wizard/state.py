"""What the nightly job leaves for ``--check`` and the home screen: ``last-sync.json``.

Kept apart from ``sync`` so that reading it does not load the export readers and record rules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tdba_wizard.secrets import entry_name

LAST_SYNC = "last-sync.json"


def load_last_sync(state_dir: Path) -> dict[str, Any]:
    """Return what the last runs left (empty when none ran or the file is unreadable)."""
    try:
        data = json.loads((state_dir / LAST_SYNC).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def last_sync_entry(last: dict[str, Any], uai: str, siret: str) -> dict[str, Any] | None:
    """Return the last-sync entry of one establishment, if any."""
    establishments = last.get("establishments")
    entry = establishments.get(entry_name(uai, siret)) if isinstance(establishments, dict) else None
    return entry if isinstance(entry, dict) else None
