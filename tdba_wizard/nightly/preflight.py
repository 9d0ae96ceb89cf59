"""Check mode of the nightly job: can this program, here, read its config and every key?

``tdba-wizard sync --preflight`` runs this; the schedule service runs that command in cron's
environment before it says the job is installed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tdba_wizard.config import Config, ConfigError, load_config
from tdba_wizard.paths import credentials_path
from tdba_wizard.secrets import SecretError, SecretStore


@dataclass(frozen=True)
class PreflightLine:
    """One checked item: success, and the French text."""

    ok: bool
    text: str


def _writable_dir(directory: Path) -> bool:
    """Return True when ``directory`` exists and is writable, or could be created."""
    candidate = directory
    while not candidate.exists():
        if candidate.parent == candidate:
            return False
        candidate = candidate.parent
    return candidate.is_dir() and os.access(candidate, os.W_OK | os.X_OK)


def preflight(config_path: Path, state_dir: Path) -> list[PreflightLine]:
    """Return the checks of the nightly job's prerequisites, without changing anything."""
    lines: list[PreflightLine] = []
    try:
        config: Config = load_config(config_path)
    except ConfigError as error:
        return [PreflightLine(False, error.message)]
    lines.append(PreflightLine(True, f"Configuration lue : {config_path}"))
    if not config.establishments:
        lines.append(PreflightLine(False, "Aucun établissement configuré."))
    store = SecretStore(credentials_path(config_path))
    sent = [e for e in config.establishments if e.transmission == "export"]
    with store.reading_many([(e.uai, e.siret) for e in sent]):  # all the keys in one read
        for establishment in config.establishments:
            label = f"« {establishment.name} » (UAI {establishment.uai})"
            if establishment.transmission != "export":
                how = "son ERP envoie lui-même" if establishment.transmission == "erp" else (
                    "import du modèle Excel")  # fmt: skip
                lines.append(PreflightLine(True, f"{label} : {how}, pas de clé à lire la nuit"))
                continue
            try:
                found = store.get(establishment.uai, establishment.siret)
            except SecretError as error:
                lines.append(PreflightLine(False, f"{label} : clé illisible. {error.message}"))
            else:
                lines.append(PreflightLine(True, f"{label} : clé lue dans le {found.where}"))
    if _writable_dir(state_dir):
        lines.append(PreflightLine(True, f"Dossier d'état utilisable : {state_dir}"))
    else:
        lines.append(PreflightLine(False, f"Dossier d'état non inscriptible : {state_dir}"))
    return lines


MIN_FREE_BYTES = 50 * 1024 * 1024


def state_dir_problem(state_dir: Path, needed: int = MIN_FREE_BYTES) -> str | None:
    """Return why the state directory cannot hold the spool and the reports, or None.

    Checked before any export is read: a run that could neither keep undelivered batches nor
    write its report must not start sending.
    """
    from tdba_wizard.files import ensure_private_dir, write_private_atomic

    try:
        ensure_private_dir(state_dir)
        probe = state_dir / ".ecriture-possible"
        write_private_atomic(probe, b"ok\n")
        probe.unlink()
    except OSError as error:
        return (
            f"Le dossier d'état {state_dir} n'est pas inscriptible ({error.strerror or error}) : "
            "ni les rapports ni les dossiers non transmis ne pourraient y être gardés. Rien n'a "
            "été envoyé."
        )
    try:
        info = os.statvfs(state_dir)
    except OSError:
        return None
    free = info.f_bavail * info.f_frsize
    if free < needed:
        return (
            f"Plus assez de place dans {state_dir} : {free // (1024 * 1024)} Mo libres, il en "
            f"faut au moins {needed // (1024 * 1024)} pour les rapports et les dossiers à "
            "garder. Rien n'a été envoyé."
        )
    return None
