"""One home per operation: add, edit, move a key, remove, schedule — planned, shown, applied.

The command line and the wizard both call these functions. A plan is computed from what is
on disk, without changing anything: its :attr:`Plan.text` is what ``--dry-run`` prints and
what the wizard's last step shows, word for word. Applying it holds the profile's write lock
(:func:`~tdba_wizard.files.profile_lock`), reads the configuration again and applies the
change to what it finds, so that two commands run at once never lose each other's work;
keys are written first, the configuration last, and the keys are put back as they were when
the configuration cannot be written. A key lives in one place: writing it anywhere removes
any other copy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tdba_wizard.config import (
    Config,
    ConfigNotFoundError,
    Establishment,
    describe_validation_error,
    load_config,
    save_config,
)
from tdba_wizard.errors import InputError, TdbaError
from tdba_wizard.files import profile_lock, remove_stale_temporaries
from tdba_wizard.identifiers import mask_api_key
from tdba_wizard.secrets import (
    KeyCopies,
    KeyringUnavailableError,
    SecretError,
    SecretStore,
    StoreTarget,
    entry_name,
)

PLACE = {"keyring": "trousseau du système", "file": "fichier protégé"}


def _valid(data: dict[str, Any]) -> Config:
    """Return the configuration a change leads to, or say in French why it cannot be."""
    try:
        return Config.model_validate(data)
    except ValidationError as error:
        raise InputError(
            "Cette modification rendrait la configuration invalide : "
            + " ; ".join(
                line.removeprefix("(fichier) : ") for line in describe_validation_error(error)
            )
            + ". Rien n'a été modifié."
        ) from None


def load_existing(config_path: Path) -> Config | None:
    """Return the configuration, or None when there is none yet (a malformed one raises)."""
    try:
        return load_config(config_path)
    except ConfigNotFoundError:
        return None


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


# -- plans -------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyPlan:
    """What happens to one establishment's key. Its repr shows no key."""

    establishment: Establishment
    new_key: str | None = field(default=None, repr=False)
    """The key to store (None: the one stored already, when it moves)."""
    target: StoreTarget | None = None
    """Where the key will live (None: removed everywhere)."""
    before: KeyCopies = field(default_factory=lambda: KeyCopies(None, None), repr=False)
    """Its copies when the plan was made."""

    @property
    def others(self) -> list[StoreTarget]:
        """Return the places whose copy is removed."""
        return [place for place in self.before.places if place != self.target]


@dataclass(frozen=True)
class Plan:
    """An operation ready to apply: what changes, said in French, and how."""

    title: str
    config_path: Path
    before: Config | None
    after: Config
    change: Callable[[Config | None], Config] = field(repr=False)
    """The change, applied again to the configuration found when the plan is applied."""
    keys: tuple[KeyPlan, ...] = ()
    lines: tuple[str, ...] = ()
    done: str = ""
    """What to say once it is applied (« « CFA 1 » ajouté. »)."""

    @property
    def text(self) -> str:
        """Return what the plan does, as ``--dry-run`` prints it and the wizard shows it."""
        return "\n".join(self.lines)

    @property
    def changes_config(self) -> bool:
        return self.before != self.after


def _config_lines(path: Path, before: Config | None, after: Config) -> list[str]:
    """Return the changes from ``before`` to ``after``, field by field, in French."""
    lines: list[str] = []
    base = before if before is not None else Config()
    if base.api.url != after.api.url or before is None:
        lines.append(f"  API TDBA : {after.api.url}")
    old, new = base.schedule, after.schedule
    if (old.time, old.timezone) != (new.time, new.timezone):
        lines.append(f"  envoi de nuit : {old.time} ({old.timezone}) → {new.time} ({new.timezone})")
    if old.report_to != new.report_to:
        lines.append(f"  compte rendu : {old.report_to or '—'} → {new.report_to or '—'}")
    old_by_couple = {(e.uai, e.siret): e for e in base.establishments}
    new_by_couple = {(e.uai, e.siret): e for e in after.establishments}
    for couple, gone in old_by_couple.items():
        if couple not in new_by_couple:
            lines.append(f"  − « {gone.name} »")
            lines.append(f"      UAI {gone.uai} · SIRET {gone.siret}")
    for couple, establishment in new_by_couple.items():
        previous = old_by_couple.get(couple)
        if previous is None:
            lines.append(f"  + « {establishment.name} »")
            lines.append(f"      {_identity(establishment)}")
            if establishment.source:
                lines.append(f"      export : {establishment.source}")
        elif previous != establishment:
            lines.append(f"  ~ « {previous.name} » (UAI {previous.uai}) :")
            lines += _field_changes(previous, establishment)
    if not lines:
        return []
    status = "" if before is not None else " (nouveau fichier)"
    return [f"Configuration {path}{status} :", *lines]


def _identity(establishment: Establishment) -> str:
    parts = [f"UAI {establishment.uai}", f"SIRET {establishment.siret}"]
    if establishment.sentite is not None:
        parts.append(f"CFA_SENTITE {establishment.sentite}")
    if establishment.erp is not None:
        parts.append(f"ERP {establishment.erp}")
    parts.append(TRANSMISSION[establishment.transmission])
    return " · ".join(parts)


TRANSMISSION = {
    "export": "envoi par tdba-wizard (export)",
    "erp": "envoi par l'ERP lui-même",
    "excel": "import Excel",
}


def _field_changes(old: Establishment, new: Establishment) -> list[str]:
    labels = {
        "name": "nom",
        "sentite": "CFA_SENTITE",
        "source": "export",
        "erp": "ERP",
        "transmission": "transmission",
    }
    lines = []
    for name, label in labels.items():
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            lines.append(f"      {label} : {before if before is not None else '—'} → "
                         f"{after if after is not None else '—'}")  # fmt: skip
    return lines


def _key_lines(plan: KeyPlan, store: SecretStore) -> list[str]:
    """Return what happens to a key, in French (the key masked), one short line per fact."""
    name = plan.establishment.name
    if plan.target is None:
        places = [store.where(place) for place in plan.before.places]
        if not places:
            return [f"Clé d'échange de « {name} » : aucune n'était enregistrée."]
        return [f"Clé d'échange de « {name} » :", *(f"  supprimée du {p}" for p in places)]
    where = store.where(plan.target)
    if plan.new_key is None:
        source = store.where(plan.before.places[0])
        return [f"Clé d'échange de « {name} » :", f"  déplacée du {source}", f"  vers le {where}"]
    entry = entry_name(plan.establishment.uai, plan.establishment.siret)
    verb = "remplace l'ancienne dans le" if plan.target in plan.before.places else "rangée dans le"
    lines = [
        f"Clé d'échange de « {name} » :",
        f"  {mask_api_key(plan.new_key)}",
        f"  {verb} {where}",
        f"  entrée {entry}",
    ]
    lines += [
        f"  l'autre copie, dans le {store.where(place)}, est retirée" for place in plan.others
    ]
    return lines


def _copies(store: SecretStore, establishment: Establishment) -> KeyCopies:
    return store.copies(establishment.uai, establishment.siret)


def _refuse_shared_key(
    store: SecretStore, config: Config | None, key: str, skip: Establishment | None = None
) -> None:
    """Refuse a key that is another establishment's already (a key belongs to one organisme)."""
    if config is None:
        return
    for other in config.establishments:
        if skip is not None and (other.uai, other.siret) == (skip.uai, skip.siret):
            continue
        try:
            found = store.get(other.uai, other.siret).value
        except SecretError:
            continue
        if found == key:
            raise InputError(
                f"Cette clé d'échange est déjà celle de « {other.name} » (UAI {other.uai}). "
                "Une clé appartient à un seul organisme : générez dans TDBA celle de cet "
                "établissement (Paramètres → « Vous avez un ERP ? »), connecté avec son compte."
            )


def _target_or_explain(store: SecretStore, target: StoreTarget) -> None:
    """Raise, in French, when the keyring is chosen but cannot be used here."""
    if target == "keyring":
        store.keyring_description()  # raises KeyringUnavailableError with the ways out


def refuse_duplicate(config: Config, establishment: Establishment) -> None:
    """Raise :class:`InputError` when the establishment (UAI and SIRET) is configured."""
    for existing in config.find(establishment.uai, establishment.siret):
        raise InputError(
            f"L'établissement UAI {existing.uai} / SIRET {existing.siret} est déjà "
            f"configuré (« {existing.name} »). Pour le remplacer, retirez-le d'abord avec "
            f"« tdba-wizard remove --uai {existing.uai} --siret {existing.siret} »."
        )


def plan_add(
    config_path: Path,
    establishment: Establishment,
    *,
    key: str | None,
    target: StoreTarget,
    store: SecretStore,
    api_url: str | None = None,
    schedule: tuple[str, str, str | None] | None = None,
) -> Plan:
    """Plan adding an establishment and its key; refuse a couple or a key already present.

    ``schedule`` is (time, time zone, report address) to record with it (the wizard's first
    set-up).
    """
    before = load_existing(config_path)

    def change(current: Config | None) -> Config:
        base = current if current is not None else Config()
        refuse_duplicate(base, establishment)
        data = base.model_dump()
        if api_url is not None:
            data["api"]["url"] = api_url
        if schedule is not None:
            time, timezone, report_to = schedule
            data["schedule"].update(time=time, timezone=timezone, report_to=report_to)
        data["establishments"].append(establishment.model_dump())
        return _valid(data)

    after = change(before)
    keys: tuple[KeyPlan, ...] = ()
    if key is not None:  # an Excel upload has no key
        _refuse_shared_key(store, before, key)
        _target_or_explain(store, target)
        keys = (KeyPlan(establishment, key, target, _copies(store, establishment)),)
    lines = [*_config_lines(config_path, before, after)]
    for key_plan in keys:
        lines += _key_lines(key_plan, store)
    return Plan(f"Ajouter « {establishment.name} »", config_path, before, after, change, keys,
                tuple(lines), f"« {establishment.name} » ajouté.")  # fmt: skip


def _replace_establishment(
    original: Establishment, updated: Establishment
) -> Callable[..., Config]:
    def change(current: Config | None) -> Config:
        if current is None or not current.find(original.uai, original.siret):
            raise InputError(
                f"« {original.name} » (UAI {original.uai}) n'est plus dans la configuration : "
                "une autre commande l'a retiré entre-temps. Rien n'a été modifié."
            )
        data = current.model_dump()
        data["establishments"] = [
            updated.model_dump() if (e.uai, e.siret) == (original.uai, original.siret)
            else e.model_dump()
            for e in current.establishments
        ]  # fmt: skip
        return _valid(data)

    return change


def plan_edit(
    config_path: Path,
    original: Establishment,
    updated: Establishment,
    *,
    store: SecretStore,
    key: str | None = None,
    target: StoreTarget | None = None,
) -> Plan:
    """Plan changing an establishment's settings and, if given, its key.

    A new key replaces the old one where it lives (or in ``target``, when given) and every
    other copy is removed; with no new key, ``target`` moves the stored one.
    """
    if (updated.uai, updated.siret) != (original.uai, original.siret):
        raise InputError("L'UAI et le SIRET d'un établissement ne se modifient pas : retirez-le "
                         "puis ajoutez le bon.")  # fmt: skip
    before = load_existing(config_path)
    change = _replace_establishment(original, updated)
    after = change(before)
    copies = _copies(store, original)
    keys: tuple[KeyPlan, ...] = ()
    if key is not None:
        _refuse_shared_key(store, before, key, skip=original)
        where = target or _home_of(copies)
        _target_or_explain(store, where)
        keys = (KeyPlan(updated, key, where, copies),)
    elif target is not None and copies.places != [target]:
        keys = (_move(store, updated, target, copies),)
    lines = [*_config_lines(config_path, before, after)]
    for key_plan in keys:
        lines += _key_lines(key_plan, store)
    if not lines:
        lines = [f"« {original.name} » : rien à modifier."]
    return Plan(f"Modifier « {original.name} »", config_path, before, after, change, keys,
                tuple(lines), f"« {updated.name} » modifié.")  # fmt: skip


def _home_of(copies: KeyCopies) -> StoreTarget:
    """Return where a replaced key goes: where the old one lives; with a copy in each place,
    the file, the one place both the session and the nightly job (cron) read."""
    if "file" in copies.places:
        return "file"
    return "keyring"


def _move(
    store: SecretStore, establishment: Establishment, target: StoreTarget, copies: KeyCopies
) -> KeyPlan:
    if not copies.places:
        problem = f" ({copies.keyring_problem})" if copies.keyring_problem else ""
        raise SecretError(
            f"Aucune clé enregistrée pour « {establishment.name} » (UAI {establishment.uai})"
            f"{problem} : il n'y a rien à déplacer. Enregistrez-la avec « tdba-wizard key "
            f"--uai {establishment.uai} --api-key-stdin »."
        )
    if copies.differ:
        raise SecretError(
            f"« {establishment.name} » a deux clés différentes, l'une dans le trousseau, "
            "l'autre dans le fichier protégé : laquelle est la bonne ne peut pas se deviner. "
            f"Enregistrez la bonne avec « tdba-wizard key --uai {establishment.uai} "
            f"--api-key-stdin --secret-store {target} » : l'autre sera retirée."
        )
    _target_or_explain(store, target)
    return KeyPlan(establishment, None, target, copies)


def plan_move_key(
    config_path: Path, establishment: Establishment, target: StoreTarget, *, store: SecretStore
) -> Plan:
    """Plan moving a stored key to the keyring or to the protected file (no key typed)."""
    before = load_existing(config_path)
    after = before if before is not None else Config()
    key_plan = _move(store, establishment, target, _copies(store, establishment))
    if key_plan.before.places == [target]:
        lines: list[str] = [
            f"Clé d'échange de « {establishment.name} » : déjà dans le {store.where(target)} "
            "et nulle part ailleurs ; rien à faire."
        ]
        return Plan("Déplacer une clé", config_path, before, after, lambda c: c or Config(),
                    (), tuple(lines))  # fmt: skip
    return Plan("Déplacer la clé", config_path, before, after, lambda c: c or Config(),
                (key_plan,), tuple(_key_lines(key_plan, store)),
                f"Clé de « {establishment.name} » déplacée.")  # fmt: skip


def plan_remove(config_path: Path, uai: str, siret: str | None, *, store: SecretStore) -> Plan:
    """Plan removing an establishment and every copy of its key."""
    before = load_config(config_path)
    target = select(before, uai, siret)

    def change(current: Config | None) -> Config:
        base = current if current is not None else Config()
        data = base.model_dump()
        data["establishments"] = [
            e.model_dump() for e in base.establishments if (e.uai, e.siret) != (uai, target.siret)
        ]
        return _valid(data)

    after = change(before)
    copies = _copies(store, target)
    key_plan = KeyPlan(target, None, None, copies)
    lines = [*_config_lines(config_path, before, after)]
    if copies.keyring_problem and not copies.places:
        lines.append(f"Clé d'échange de « {target.name} » : le trousseau est illisible "
                     f"({copies.keyring_problem}) ; elle y resterait.")  # fmt: skip
    else:
        lines += _key_lines(key_plan, store)
    return Plan(f"Retirer « {target.name} »", config_path, before, after, change, (key_plan,),
                tuple(lines), f"« {target.name} » retiré.")  # fmt: skip


def plan_schedule(config_path: Path, time: str, timezone: str, report_to: str | None) -> Plan:
    """Plan recording the nightly job's time, zone and report address in the configuration."""
    before = load_config(config_path)

    def change(current: Config | None) -> Config:
        base = current if current is not None else Config()
        data = base.model_dump()
        data["schedule"] = {**data["schedule"], "time": time, "timezone": timezone}
        if report_to:
            data["schedule"]["report_to"] = report_to
        return _valid(data)

    after = change(before)
    lines = _config_lines(config_path, before, after)
    return Plan("Enregistrer l'heure de l'envoi de nuit", config_path, before, after, change,
                (), tuple(lines), "Heure de l'envoi de nuit enregistrée.")  # fmt: skip


# -- applying ----------------------------------------------------------------------------


@dataclass
class _Undo:
    """How to put the keys back as they were."""

    store: SecretStore
    steps: list[Callable[[], object]] = field(default_factory=list)

    def restore(self, establishment: Establishment, place: StoreTarget, value: str | None) -> None:
        uai, siret = establishment.uai, establishment.siret
        if value is None:
            self.steps.append(lambda: self.store.delete_from(uai, siret, place))
        else:
            self.steps.append(lambda: self.store.store(uai, siret, value, place))

    def run(self) -> None:
        for step in reversed(self.steps):
            # Best effort: the error that stopped the operation is what the user sees.
            with contextlib.suppress(TdbaError):
                step()


def _apply_key(plan: KeyPlan, store: SecretStore, undo: _Undo) -> list[str]:
    """Store, move or remove one key; return what was done, in French."""
    e, done = plan.establishment, []
    current = store.copies(e.uai, e.siret)
    if plan.target is not None:
        value = plan.new_key
        if value is None:  # a move: the key stored now
            value = current.file if current.keyring is None else current.keyring
            if value is None:
                raise SecretError(f"La clé de « {e.name} » a disparu entre-temps : rien n'a "
                                  "été modifié.")  # fmt: skip
        undo.restore(e, plan.target, getattr(current, plan.target))
        where = store.store(e.uai, e.siret, value, plan.target)
        done.append(f"Clé d'échange {mask_api_key(value)} de « {e.name} » dans le {where}.")
    places: tuple[StoreTarget, ...] = ("keyring", "file")
    for place in places:
        if place == plan.target:
            continue
        previous = getattr(current, place)
        if previous is None:
            continue
        where = _place_name(store, place)
        if store.delete_from(e.uai, e.siret, place):
            undo.restore(e, place, previous)
            if plan.target is None:
                done.append(f"Clé d'échange de « {e.name} » supprimée du {where}.")
            else:
                done.append(f"Autre copie de la clé de « {e.name} » retirée du {where}.")
    return done


def _place_name(store: SecretStore, place: StoreTarget) -> str:
    """Return the French name of a place (the keyring's own name when it can be told)."""
    try:
        return store.where(place)
    except SecretError:
        return PLACE[place]


def apply(plan: Plan, store: SecretStore) -> list[str]:
    """Apply a plan under the profile's lock; return what was done (French lines).

    Raises :class:`~tdba_wizard.errors.TdbaError` when something cannot be done; nothing is
    then left half-done.
    """
    directory = plan.config_path.parent
    with profile_lock(directory):
        remove_stale_temporaries(directory, [plan.config_path.name, store.credentials_file.name])
        current = load_existing(plan.config_path)
        after = plan.change(current)
        undo = _Undo(store)
        done: list[str] = []
        try:
            for key_plan in plan.keys:
                done += _apply_key(key_plan, store, undo)
            if after != current:
                save_config(plan.config_path, after)
                done.insert(0, f"Configuration enregistrée : {plan.config_path}.")
        except BaseException:
            undo.run()
            raise
    return done


def keyring_only(config: Config, store: SecretStore) -> list[Establishment]:
    """The establishments whose key is in the keyring and nowhere else (the nightly job,
    under cron, would not read it on a server); the keys read together."""
    with store.reading_many([(e.uai, e.siret) for e in config.establishments]):
        return [
            e for e in config.establishments
            if store.copies(e.uai, e.siret).places == ["keyring"]
        ]  # fmt: skip


def keyring_unusable(store: SecretStore) -> str | None:
    """Return why keys cannot go to the keyring here, or None when they can."""
    try:
        store.keyring_description()
    except KeyringUnavailableError as error:
        return error.message
    return None
