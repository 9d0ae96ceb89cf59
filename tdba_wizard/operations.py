"""Adding and removing establishments: plan first, then apply, never half-written.

The CLI and the TUI both call these services. A plan is computed without side effects (so it
can be shown, or printed by ``--dry-run``); applying it writes the secret, then the config, and
undoes the secret if the config cannot be written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tdba_wizard.config import (
    Config,
    ConfigNotFoundError,
    Establishment,
    config_diff,
    load_config,
    save_config,
)
from tdba_wizard.errors import InputError
from tdba_wizard.secrets import SecretStore, StoreTarget


@dataclass(frozen=True)
class AddPlan:
    """What adding an establishment will write."""

    config_path: Path
    before: Config | None
    after: Config
    establishment: Establishment

    @property
    def diff(self) -> str:
        """Return the config change as a unified diff."""
        return config_diff(self.config_path, self.before, self.after)


@dataclass(frozen=True)
class RemovePlan:
    """What removing an establishment will change."""

    config_path: Path
    before: Config
    after: Config
    establishment: Establishment

    @property
    def diff(self) -> str:
        """Return the config change as a unified diff."""
        return config_diff(self.config_path, self.before, self.after)


def _load_existing(config_path: Path) -> Config | None:
    try:
        return load_config(config_path)
    except ConfigNotFoundError:
        return None


def plan_add(
    config_path: Path, establishment: Establishment, api_url: str | None = None
) -> AddPlan:
    """Return the plan to add ``establishment``; refuse a UAI+SIRET couple already present."""
    before = _load_existing(config_path)
    base = before if before is not None else Config()
    for existing in base.find(establishment.uai, establishment.siret):
        raise InputError(
            f"L'établissement UAI {existing.uai} / SIRET {existing.siret} est déjà configuré "
            f"(« {existing.name} »). Pour le remplacer, retirez-le d'abord avec "
            f"« tdba-wizard remove --uai {existing.uai} --siret {existing.siret} »."
        )
    api = base.api if api_url is None else base.api.model_copy(update={"url": api_url})
    after = Config.model_validate(
        {
            **base.model_dump(),
            "api": api.model_dump(),
            "establishments": [*base.model_dump()["establishments"], establishment.model_dump()],
        }
    )
    return AddPlan(config_path, before, after, establishment)


def apply_add(plan: AddPlan, store: SecretStore, key: str, target: StoreTarget) -> str:
    """Store the key, then write the config; return where the key went (in French)."""
    establishment = plan.establishment
    where = store.store(establishment.uai, establishment.siret, key, target)
    try:
        save_config(plan.config_path, plan.after)
    except BaseException:
        # Nothing half-written: the key of an establishment that is not configured goes too.
        store.delete(establishment.uai, establishment.siret)
        raise
    return where


def select(config: Config, uai: str, siret: str | None) -> Establishment:
    """Return the one establishment with this UAI (and SIRET), or explain why not."""
    matches = config.find(uai, siret)
    if not matches:
        couple = f"UAI {uai}" + (f" / SIRET {siret}" if siret else "")
        raise InputError(
            f"Aucun établissement configuré avec {couple}. « tdba-wizard list » les affiche."
        )
    if len(matches) > 1:
        sirets = ", ".join(m.siret for m in matches)
        raise InputError(
            f"Plusieurs établissements ont l'UAI {uai} (SIRET {sirets}) : précisez lequel "
            "avec --siret."
        )
    return matches[0]


def plan_remove(config_path: Path, uai: str, siret: str | None) -> RemovePlan:
    """Return the plan to remove the establishment with this UAI (and SIRET)."""
    before = load_config(config_path)
    target = select(before, uai, siret)
    after = before.model_copy(
        update={"establishments": [e for e in before.establishments if e is not target]}
    )
    return RemovePlan(config_path, before, after, target)


def apply_remove(plan: RemovePlan, store: SecretStore) -> list[str]:
    """Write the config without the establishment, then delete its key; return where it was."""
    save_config(plan.config_path, plan.after)
    return store.delete(plan.establishment.uai, plan.establishment.siret)
