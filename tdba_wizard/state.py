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
    return read_last_sync(state_dir)[0]


def read_last_sync(state_dir: Path) -> tuple[dict[str, Any], str | None]:
    """Return what the last runs left, and why the file could not be read (None: it could,
    or there is none yet)."""
    path = state_dir / LAST_SYNC
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, None
    except OSError as error:
        return {}, f"{path} illisible ({error.strerror})"
    except (ValueError, UnicodeDecodeError) as error:
        return {}, f"{path} mal formé ({type(error).__name__})"
    if not isinstance(data, dict):
        return {}, f"{path} mal formé (un objet JSON est attendu)"
    establishments = data.get("establishments")
    if establishments is not None and not isinstance(establishments, dict):
        return {}, f"{path} mal formé (« establishments » n'est pas un objet)"
    return data, None


def last_sync_entry(last: dict[str, Any], uai: str, siret: str) -> dict[str, Any] | None:
    """Return the last-sync entry of one establishment, if any."""
    establishments = last.get("establishments")
    entry = establishments.get(entry_name(uai, siret)) if isinstance(establishments, dict) else None
    return entry if isinstance(entry, dict) else None
