"""What the interactive wizard does, as plain services (no Textual here).

The TUI keeps a :class:`Draft` of the establishment being set up; nothing is written until
:meth:`WizardServices.save` runs after the final confirmation. Tests drive these services over
real HTTP against the sandbox, without the TUI.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from tdba_wizard.api import ApiInfo, Failure, Ok, Organisme, TdbaClient
from tdba_wizard.config import (
    PREPROD_URL,
    PRODUCTION_URL,
    RECETTE_URL,
    Config,
    ConfigNotFoundError,
    Establishment,
    load_config,
    save_config,
)
from tdba_wizard.errors import TdbaError
from tdba_wizard.operations import AddPlan, apply_add, apply_remove, plan_add, plan_remove
from tdba_wizard.paths import credentials_path
from tdba_wizard.schedule import (
    Crontab,
    Entry,
    describe_runs,
    install,
    make_entry,
    parse_time,
    prove,
)
from tdba_wizard.secrets import SecretError, SecretStore, StoreTarget
from tdba_wizard.state import last_sync_entry, load_last_sync

ENVIRONMENTS = {
    "production": PRODUCTION_URL,
    "recette": RECETTE_URL,
    "preprod": PREPROD_URL,
}
TDBA_SETTINGS_PAGE = "https://cfas.apprentissage.beta.gouv.fr/parametres"


@dataclass
class Draft:
    """The establishment being set up, as the steps fill it in. Never written as it is."""

    api_url: str = PRODUCTION_URL
    key: str = field(default="", repr=False)
    siret: str = ""
    uai: str = ""
    organisme: Organisme | None = None
    name: str = ""
    sentite: int | None = None
    source: str | None = None
    secret_store: StoreTarget = "keyring"
    schedule_time: str = "23:00"
    timezone: str = "Europe/Paris"
    report_to: str | None = None
    install_schedule: bool = True
    editing: Establishment | None = None
    """The establishment being edited, when the wizard edits instead of adding."""
    current_key: str = field(default="", repr=False)
    """When editing: the key already stored, used by the connection test if no new one."""
    mode: str = "onboarding"
    """onboarding, add, edit or schedule."""

    @property
    def test_key(self) -> str:
        """Return the key the connection test presents."""
        return self.key or self.current_key

    def establishment(self) -> Establishment:
        """Return the establishment this draft describes."""
        return Establishment(
            name=self.name,
            siret=self.siret,
            uai=self.uai,
            sentite=self.sentite or 0,
            source=self.source,
        )


@dataclass(frozen=True)
class ConnectionResult:
    """The connection test: the probe, then the key check."""

    probe: Ok[ApiInfo] | Failure
    key: Ok[None] | Failure | None

    @property
    def ok(self) -> bool:
        return isinstance(self.probe, Ok) and isinstance(self.key, Ok)


@dataclass(frozen=True)
class SaveResult:
    """What was written where (never the key)."""

    config_path: Path
    key_location: str
    schedule: str | None
    schedule_problem: str | None


@dataclass(frozen=True)
class HomeRow:
    """One establishment on the home screen."""

    establishment: Establishment
    key_location: str | None
    key_problem: str | None
    last_sync: str | None


class WizardServices:
    """The I/O the wizard needs: TDBA, config, keyring, crontab."""

    def __init__(self, config_path: Path, state_dir: Path, crontab: Crontab | None = None) -> None:
        self.config_path = config_path
        self.state_dir = state_dir
        self.store = SecretStore(credentials_path(config_path))
        self.crontab = crontab or Crontab()

    # -- reading -----------------------------------------------------------------------

    def load(self) -> Config | None:
        """Return the config, or None when there is none yet (a malformed one raises)."""
        try:
            return load_config(self.config_path)
        except ConfigNotFoundError:
            return None

    def keyring_problem(self) -> str | None:
        """Return why the keyring cannot hold a key here, or None when it can."""
        try:
            self.store.keyring_description()
        except SecretError as error:
            return error.message
        return None

    def keyring_description(self) -> str:
        """Return where keys go by default, or why the keyring cannot be used."""
        try:
            return self.store.keyring_description()
        except SecretError as error:
            return f"indisponible — {error.message}"

    def home_rows(self, config: Config) -> list[HomeRow]:
        """Return each establishment with its key state and last sync."""
        last = load_last_sync(self.state_dir)
        rows = []
        for e in config.establishments:
            try:
                found = self.store.get(e.uai, e.siret)
                location, problem = found.where, None
            except SecretError as error:
                location, problem = None, error.message
            entry = last_sync_entry(last, e.uai, e.siret)
            when = entry.get("last_success") if entry is not None else None
            shown = (
                dt.datetime.fromisoformat(when).astimezone().strftime("%d/%m/%Y %H:%M")
                if when
                else None
            )
            rows.append(HomeRow(e, location, problem, shown))
        return rows

    # -- TDBA --------------------------------------------------------------------------

    async def look_up(self, url: str, uai: str, siret: str) -> Ok[Organisme] | Failure:
        """The public look-up of an exact UAI+SIRET couple."""
        async with TdbaClient(url) as client:
            return await client.find_organisme(uai, siret)

    async def uais_for_siret(self, url: str, siret: str) -> Ok[list[Organisme]] | Failure:
        """Every organisme TDBA has for a SIRET, to offer its UAIs."""
        async with TdbaClient(url) as client:
            return await client.search_by_siret(siret)

    async def test_connection(self, url: str, key: str) -> ConnectionResult:
        """Probe the API, then check the key."""
        async with TdbaClient(url) as client:
            probe = await client.probe()
            if isinstance(probe, Failure):
                return ConnectionResult(probe, None)
            return ConnectionResult(probe, await client.check_key(key))

    # -- schedule ----------------------------------------------------------------------

    def schedule_entry(self, time: str, timezone: str) -> Entry:
        """Return the crontab entry for this time (raises ScheduleError on bad input)."""
        return make_entry(parse_time(time, timezone), self.config_path, self.state_dir)

    def next_runs(self, time: str, timezone: str) -> list[str]:
        """Return the next runs, in the zone and on the system clock."""
        return describe_runs(parse_time(time, timezone), dt.datetime.now(dt.UTC))

    # -- writing (only after the final confirmation) -----------------------------------

    def save(self, draft: Draft) -> SaveResult:
        """Write the config and the key, then install the schedule if asked."""
        if draft.mode == "schedule":
            config = load_config(self.config_path)
            save_config(
                self.config_path,
                config.with_schedule(draft.schedule_time, draft.timezone, draft.report_to),
            )
            location = "inchangé"
        elif draft.editing is not None:
            location = self._save_edit(draft)
        else:
            plan = plan_add(self.config_path, draft.establishment(), draft.api_url)
            after = plan.after.with_schedule(draft.schedule_time, draft.timezone, draft.report_to)
            plan = AddPlan(plan.config_path, plan.before, after, plan.establishment)
            location = apply_add(plan, self.store, draft.key, draft.secret_store)
        schedule, problem = None, None
        if draft.install_schedule:
            schedule, problem = self._install_schedule(draft)
        return SaveResult(self.config_path, location, schedule, problem)

    def _save_edit(self, draft: Draft) -> str:
        assert draft.editing is not None
        config = load_config(self.config_path)
        updated = [
            draft.establishment() if e == draft.editing else e for e in config.establishments
        ]
        new_config = Config.model_validate(
            {**config.model_dump(), "establishments": [e.model_dump() for e in updated]}
        )
        location = "inchangé"
        if draft.key:
            location = self.store.store(draft.uai, draft.siret, draft.key, draft.secret_store)
        save_config(self.config_path, new_config)
        return location

    def _install_schedule(self, draft: Draft) -> tuple[str | None, str | None]:
        if not self.crontab.available:
            entry = self.schedule_entry(draft.schedule_time, draft.timezone)
            return None, (
                "Pas de crontab sur ce système : programmez vous-même chaque jour à "
                f"{draft.schedule_time} la commande : {entry.manual_command}"
            )
        try:
            entry = self.schedule_entry(draft.schedule_time, draft.timezone)
            proof = prove(entry)
            if not proof.ok:
                return None, (
                    "Tâche non installée : depuis cron, le programme ne lit pas sa configuration "
                    "ou une clé. " + proof.output.replace("\n", " ")
                )
            install(self.crontab, entry)
        except TdbaError as error:
            return None, error.message
        return f"chaque jour à {entry.when.hhmm} ({entry.when.timezone})", None

    def remove(self, establishment: Establishment) -> list[str]:
        """Remove an establishment from the config and delete its key."""
        plan = plan_remove(self.config_path, establishment.uai, establishment.siret)
        return apply_remove(plan, self.store)
