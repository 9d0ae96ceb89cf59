"""What the interactive wizard does, as plain services (no Textual here).

The TUI keeps a :class:`Draft` of what is being set up; nothing is written until
:meth:`WizardServices.save` runs after the final confirmation. The change itself is a plan of
:mod:`tdba_wizard.operations`, the same as the command line's: the review screen shows its
text, word for word what ``--dry-run`` prints. Every method here may block (keyring, files,
network, crontab): the TUI calls them from workers. Tests drive them over real HTTP against
the sandbox, without the TUI.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tdba_wizard.config import (
    PREPROD_URL,
    PRODUCTION_URL,
    RECETTE_URL,
    Config,
    Establishment,
    Transmission,
)
from tdba_wizard.errors import TdbaError
from tdba_wizard.operations import (
    Plan,
    apply,
    keyring_only,
    load_existing,
    plan_add,
    plan_edit,
    plan_move_key,
    plan_remove,
    plan_schedule,
)
from tdba_wizard.outcomes import ApiInfo, Failure, KeyRefused, Ok, Organisme
from tdba_wizard.paths import credentials_path
from tdba_wizard.probe import CronKeyring, keyring_from_cron
from tdba_wizard.schedule import (
    Crontab,
    Entry,
    describe_runs,
    find_block,
    install,
    make_entry,
    parse_time,
    prove,
)
from tdba_wizard.secrets import KeyringUnavailableError, SecretError, SecretStore, StoreTarget
from tdba_wizard.state import last_sync_entry, load_last_sync

if TYPE_CHECKING:
    from tdba_wizard.api import TdbaClient

ENVIRONMENTS = {
    "production": PRODUCTION_URL,
    "recette": RECETTE_URL,
    "preprod": PREPROD_URL,
}
TDBA_SETTINGS_PAGE = "https://cfas.apprentissage.beta.gouv.fr/parametres"
Mode = Literal["onboarding", "add", "edit", "schedule"]


@dataclass
class Draft:
    """What the steps fill in. Never written as it is: a plan is made of it at the end."""

    api_url: str = PRODUCTION_URL
    key: str = field(default="", repr=False)
    siret: str = ""
    uai: str = ""
    organisme: Organisme | None = None
    name: str = ""
    sentite: int | None = None
    source: str | None = None
    secret_store: StoreTarget | None = None
    """Where the key goes; None until it matters (then the admin chooses, see
    :meth:`WizardServices.key_places`)."""
    schedule_time: str = "23:00"
    timezone: str = "Europe/Paris"
    report_to: str | None = None
    install_schedule: bool = True
    editing: Establishment | None = None
    """The establishment being edited, when the wizard edits instead of adding."""
    current_key: str = field(default="", repr=False)
    """When editing: the key already stored, used by the connection test if no new one."""
    mode: Mode = "onboarding"
    typed: dict[str, str] = field(default_factory=dict, repr=False)
    """What was typed in each field of the steps left with « Retour » (never the key)."""
    erp: str = "ammon"
    """The establishment's ERP, as TDBA names it."""
    transmission: Transmission = "export"
    """Who sends: tdba-wizard from the export, the ERP itself, or an Excel upload."""
    default_erp: str = "ammon"
    """The configuration's ``[api] erp``: an establishment with this ERP does not repeat it."""

    @property
    def test_key(self) -> str:
        """Return the key the connection test presents."""
        return self.key or self.current_key

    @property
    def has_key(self) -> bool:
        """Whether this establishment has a key (an Excel upload has none)."""
        return self.transmission != "excel"

    def establishment(self) -> Establishment:
        """Return the establishment this draft describes."""
        from tdba_wizard import erps

        return Establishment(
            name=self.name,
            siret=self.siret,
            uai=self.uai,
            sentite=self.sentite if erps.get(self.erp).needs_sentite else None,
            source=self.source if self.transmission != "erp" else None,
            erp=None if self.erp == self.default_erp else self.erp,
            transmission=self.transmission,
        )


@dataclass(frozen=True)
class ConnectionResult:
    """The connection test: the probe, then the key check."""

    probe: Ok[ApiInfo] | Failure
    key: Ok[None] | Failure | None

    @property
    def ok(self) -> bool:
        return isinstance(self.probe, Ok) and isinstance(self.key, Ok)


Fix = Literal["install-schedule", "move-to-file"]


@dataclass(frozen=True)
class Missing:
    """Something asked (or needed) that is not done, and what fixes it."""

    text: str
    fix: Fix | None = None


@dataclass(frozen=True)
class SaveResult:
    """What was done (French lines, never a key), what is missing, the next runs."""

    done: list[str]
    missing: list[Missing]
    runs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Lines that are neither done nor missing (the sandbox installs no job)."""


@dataclass(frozen=True)
class KeyPlaces:
    """Where the key of the draft can live, said before anything is written."""

    keyring: str | None
    """The keyring's French name, or None when it cannot be used in this session."""
    keyring_problem: str | None
    cron: CronKeyring | None
    """Whether the nightly job would reach the keyring (None: no job to worry about)."""
    job_on: bool
    file: Path

    @property
    def choice_needed(self) -> bool:
        """True when the keyring would not do and the admin must choose, explicitly."""
        return self.keyring is None or (self.cron is not None and self.cron.reachable is not True)


@dataclass(frozen=True)
class HomeRow:
    """One establishment on the home screen: its key's state and its last run, as cells."""

    establishment: Establishment
    key: str
    """« ✔ clé », « ✖ sans clé », « ✖ 2 clés », « ? illisible », or « — Excel » (no key)."""
    key_problem: str | None
    """Why the key is not as it should be, in French (None: it is)."""
    last_sync: str
    """« 03/12 23:00 », « jamais », « par l'ERP », « import Excel »."""


@dataclass(frozen=True)
class KeyTest:
    """The answer of TDBA on one establishment's key, as the home screen shows it."""

    index: int
    label: str
    """« ✔ acceptée », « ✖ refusée », « ✖ sans clé », « ? non vérif. », « — Excel »."""
    ok: bool | None
    """None: not known (TDBA did not answer), or nothing to test (Excel)."""
    problem: str | None = None


@dataclass(frozen=True)
class Review:
    """The last step's content: the plan and what will happen to the nightly job."""

    plan: Plan
    schedule: list[str]

    @property
    def text(self) -> str:
        lines = list(self.plan.lines) or ["Configuration : rien à modifier."]
        return "\n".join([*lines, *self.schedule])


@dataclass(frozen=True)
class Preparation:
    """Everything the last step shows: where keys can live, which keys are at stake, and the
    review once the admin has chosen (None until then)."""

    places: KeyPlaces
    at_stake: list[Establishment]
    """The establishments whose key would be in the keyring only after saving."""
    review: Review | None

    @property
    def choice_needed(self) -> bool:
        return bool(self.at_stake) and self.places.choice_needed


def short_date(moment: dt.datetime, now: dt.datetime | None = None) -> str:
    """Return a date for a narrow column: « 03/12 23:00 » this year, « 03/12/2025 » before."""
    local = moment.astimezone()
    today = (now or dt.datetime.now(dt.UTC)).astimezone()
    return local.strftime("%d/%m %H:%M" if local.year == today.year else "%d/%m/%Y")


def _client(url: str, **options: Any) -> TdbaClient:
    """The HTTP client, loaded when TDBA is first asked (not before the first screen)."""
    from tdba_wizard.api import TdbaClient

    return TdbaClient(url, **options)


class WizardServices:
    """The I/O the wizard needs: TDBA, config, keyring, crontab."""

    def __init__(
        self,
        config_path: Path,
        state_dir: Path,
        crontab: Crontab | None = None,
        *,
        cron_keyring: Callable[[], CronKeyring] = keyring_from_cron,
    ) -> None:
        self.config_path = config_path
        self.state_dir = state_dir
        self.store = SecretStore(credentials_path(config_path))
        self.crontab = crontab or Crontab()
        self._cron_keyring = cron_keyring
        self._cron_answer: CronKeyring | None = None
        self.sandbox = False
        """True when the wizard runs on the sandbox's temporary profile (no job installed)."""

    # -- reading -----------------------------------------------------------------------

    def load(self) -> Config | None:
        """Return the config, or None when there is none yet (a malformed one raises)."""
        return load_existing(self.config_path)

    def current_key(self, establishment: Establishment) -> str:
        """Return the key stored for an establishment, or "" when none can be read."""
        try:
            return self.store.get(establishment.uai, establishment.siret).value
        except SecretError:
            return ""

    def home_rows(self, config: Config) -> list[HomeRow]:
        """Return each establishment with its key state and last run (the keys of all of
        them read together: one search of the Secret Service)."""
        last = load_last_sync(self.state_dir)
        keyed = [(e.uai, e.siret) for e in config.establishments if e.transmission != "excel"]
        rows = []
        with self.store.reading_many(keyed):
            for e in config.establishments:
                if e.transmission == "excel":
                    rows.append(HomeRow(e, "— Excel", None, "import Excel"))
                    continue
                rows.append(HomeRow(e, *self._key_state(e), self._last_run(last, e)))
        return rows

    def _key_state(self, e: Establishment) -> tuple[str, str | None]:
        try:
            self.store.get(e.uai, e.siret)
        except KeyringUnavailableError as error:
            return "? illisible", error.message
        except SecretError as error:
            return "✖ sans clé", error.message
        if self.store.copies(e.uai, e.siret).differ:
            return "✖ 2 clés", (
                "deux clés différentes, l'une dans le trousseau, l'autre dans le fichier "
                "protégé ; « e » pour enregistrer la bonne."
            )
        return "✔ clé", None

    @staticmethod
    def _last_run(last: dict[str, Any], e: Establishment) -> str:
        if e.transmission == "erp":
            return "par l'ERP"
        entry = last_sync_entry(last, e.uai, e.siret)
        when = entry.get("last_success") if entry is not None else None
        return short_date(dt.datetime.fromisoformat(str(when))) if when else "jamais"

    async def test_keys(
        self, config: Config, each: Callable[[KeyTest], None], *, at_once: int = 8
    ) -> list[KeyTest]:
        """Ask TDBA about every establishment's key, ``at_once`` at a time, telling ``each``
        answer as it comes (an Excel establishment has no key to test); return them all.

        TDBA is reached once first: when it cannot be, no key is said refused — each is
        « non vérifiable ».
        """
        keys = await asyncio.to_thread(self._keys_of, config)
        results: list[KeyTest] = []

        def tell(result: KeyTest) -> None:
            results.append(result)
            each(result)

        async with _client(config.api.url, max_connections=at_once) as client:
            probe = await client.probe()
            slots = asyncio.Semaphore(at_once)

            async def one(index: int, e: Establishment) -> None:
                if e.transmission == "excel":
                    return tell(KeyTest(index, "— Excel", None))
                key = keys.get(index)
                if isinstance(key, str) and not key:
                    return tell(KeyTest(index, "✖ sans clé", False, "aucune clé enregistrée"))
                if key is None or isinstance(key, SecretError):
                    why = key.message if key is not None else "clé illisible"
                    return tell(KeyTest(index, "? illisible", None, why))
                if isinstance(probe, Failure):
                    return tell(KeyTest(index, "? non vérif.", None, probe.explanation))
                async with slots:
                    outcome = await client.check_key(key)
                if isinstance(outcome, Ok):
                    return tell(KeyTest(index, "✔ acceptée", True))
                if isinstance(outcome, KeyRefused):
                    return tell(KeyTest(index, "✖ refusée", False, outcome.explanation))
                return tell(KeyTest(index, "? non vérif.", None, outcome.explanation))

            await asyncio.gather(*(one(i, e) for i, e in enumerate(config.establishments)))
        return sorted(results, key=lambda r: r.index)

    def _keys_of(self, config: Config) -> dict[int, str | SecretError]:
        """Each establishment's key ("" when none is stored; the error when the keyring
        cannot be read), read together."""
        keyed = [(i, e) for i, e in enumerate(config.establishments) if e.transmission != "excel"]
        keys: dict[int, str | SecretError] = {}
        with self.store.reading_many([(e.uai, e.siret) for _, e in keyed]):
            for index, e in keyed:
                try:
                    keys[index] = self.store.get(e.uai, e.siret).value
                except KeyringUnavailableError as error:
                    keys[index] = error
                except SecretError:
                    keys[index] = ""
        return keys

    def job_installed(self) -> bool:
        """Return True when the crontab holds tdba-wizard's job."""
        if not self.crontab.available:
            return False
        try:
            return find_block(self.crontab.read()) is not None
        except TdbaError:
            return False

    def cron_keyring(self) -> CronKeyring:
        """Whether the keyring answers from cron's environment (asked once per wizard)."""
        if self._cron_answer is None:
            self._cron_answer = self._cron_keyring()
        return self._cron_answer

    def key_places(self, draft: Draft) -> KeyPlaces:
        """Say where the draft's key can live: the keyring here, and from the nightly job."""
        try:
            keyring: str | None = self.store.keyring_description()
            problem = None
        except KeyringUnavailableError as error:
            keyring, problem = None, error.message.split(" Solutions : ")[0]
        job_on = not self.sandbox and (
            (draft.mode in ("onboarding", "schedule") and draft.install_schedule)
            or self.job_installed()
        )
        cron = self.cron_keyring() if job_on and keyring is not None else None
        return KeyPlaces(keyring, problem, cron, job_on, self.store.credentials_file)

    # -- TDBA --------------------------------------------------------------------------

    async def probe(self, url: str) -> Ok[ApiInfo] | Failure:
        """Does this address answer like TDBA's API?"""
        async with _client(url) as client:
            return await client.probe()

    async def look_up(self, url: str, uai: str, siret: str) -> Ok[Organisme] | Failure:
        """The public look-up of an exact UAI+SIRET couple."""
        async with _client(url) as client:
            return await client.find_organisme(uai, siret)

    async def uais_for_siret(self, url: str, siret: str) -> Ok[list[Organisme]] | Failure:
        """Every organisme TDBA has for a SIRET, to offer its UAIs."""
        async with _client(url) as client:
            return await client.search_by_siret(siret)

    async def test_connection(self, url: str, key: str) -> ConnectionResult:
        """Probe the API, then check the key."""
        async with _client(url) as client:
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

    # -- the plan, then writing (only after the final confirmation) ---------------------

    def plan(self, draft: Draft) -> Plan:
        """Return the plan of what « Enregistrer » will do (reads, writes nothing)."""
        if draft.mode == "schedule":
            return plan_schedule(
                self.config_path, draft.schedule_time, draft.timezone, draft.report_to
            )
        if draft.editing is not None:
            return plan_edit(
                self.config_path,
                draft.editing,
                draft.establishment(),
                store=self.store,
                key=draft.key or None,
                target=draft.secret_store,
            )
        schedule = None
        if draft.mode == "onboarding":
            schedule = (draft.schedule_time, draft.timezone, draft.report_to)
        return plan_add(
            self.config_path,
            draft.establishment(),
            key=draft.key if draft.has_key else None,
            target=draft.secret_store or "keyring",
            store=self.store,
            api_url=draft.api_url if draft.mode == "onboarding" else None,
            schedule=schedule,
        )

    def keys_at_stake(self, draft: Draft, config: Config | None) -> list[Establishment]:
        """Return the establishments whose key would be in the keyring only after saving, if
        the admin chose nothing (the choice stays on screen once asked: it can be changed)."""
        if self.sandbox:
            return []  # the demo key goes to the temporary profile's file, by design
        if draft.mode != "schedule" and draft.transmission != "export":
            return []  # the nightly job does not read this key: the keyring will do
        if draft.mode == "schedule":
            return self.keyring_only(config) if config is not None else []
        if draft.editing is not None:
            copies = self.store.copies(draft.editing.uai, draft.editing.siret)
            if draft.key:
                return [draft.editing] if "file" not in copies.places else []
            return [draft.editing] if copies.places == ["keyring"] else []
        return [draft.establishment()] if draft.key and draft.has_key else []

    def prepare(self, draft: Draft) -> Preparation:
        """Find out what the last step must show (keyring, cron, config: may take a second)."""
        places = self.key_places(draft)
        at_stake = self.keys_at_stake(draft, self.load())
        preparation = Preparation(places, at_stake, None)
        if preparation.choice_needed and draft.secret_store is None:
            return preparation
        return Preparation(places, at_stake, self.review(draft))

    def review(self, draft: Draft) -> Review:
        """Return the plan and the lines about the nightly job, for the last step."""
        plan = self.plan(draft)
        moves: list[str] = []
        if draft.mode == "schedule" and draft.secret_store == "file":
            for establishment in self.keyring_only(self.load() or Config()):
                moves += plan_move_key(self.config_path, establishment, "file",
                                       store=self.store).lines  # fmt: skip
        return Review(plan, moves + self._schedule_lines(draft))

    def _schedule_lines(self, draft: Draft) -> list[str]:
        if draft.mode != "schedule" and draft.transmission != "export":
            from tdba_wizard import erps

            who = (f"c'est {erps.get(draft.erp).name} qui transmet" if draft.transmission == "erp"
                   else "import Excel")  # fmt: skip
            return [f"Envoi de nuit : aucun pour cet établissement ({who})."]
        if self.sandbox:
            return ["Envoi de nuit : aucun en bac à sable (il viserait un profil temporaire)."]
        if draft.mode in ("onboarding", "schedule"):
            if not draft.install_schedule:
                return ["Envoi de nuit : non installé (vous l'avez désactivé)."]
            return [
                f"Envoi de nuit : installé dans votre crontab, chaque jour à "
                f"{draft.schedule_time} ({draft.timezone}), après un essai dans "
                "l'environnement de cron."
            ]
        if self.job_installed():
            return ["Envoi de nuit : déjà installé ; un essai dans l'environnement de cron "
                    "vérifiera qu'il lit la clé."]  # fmt: skip
        return ["Envoi de nuit : non installé (« p » depuis l'accueil l'installe)."]

    def save(self, draft: Draft, plan: Plan) -> SaveResult:
        """Apply the plan, then install or prove the nightly job; say what is missing."""
        done = apply(plan, self.store)
        if draft.mode == "schedule" and draft.secret_store == "file":
            done += self._move_to_file(load_existing(self.config_path) or Config())
        if draft.mode != "schedule" and draft.transmission != "export":
            return SaveResult(done, [], notes=self._elsewhere_notes(draft))
        if draft.mode == "schedule" and not draft.install_schedule:
            return SaveResult(done, [Missing("Envoi de nuit non installé (vous l'avez "
                                             "désactivé).", "install-schedule")])  # fmt: skip
        if self.sandbox:
            return SaveResult(done, [], notes=[
                "Bac à sable : aucune tâche de nuit installée (elle viserait un profil "
                "temporaire). En usage réel, l'assistant l'installe à cette étape."
            ])  # fmt: skip
        config = load_existing(self.config_path) or Config()
        wanted = draft.mode in ("onboarding", "schedule") and draft.install_schedule
        if wanted or self.job_installed():
            outcome = self.install_schedule(config)
            return SaveResult(done + outcome.done, outcome.missing, outcome.runs)
        why = " (vous l'avez désactivé)" if draft.mode == "onboarding" else ""
        return SaveResult(done, [Missing(
            f"Envoi de nuit non installé{why} : rien ne partira vers TDBA tant qu'il ne "
            "l'est pas.", "install-schedule")])  # fmt: skip

    @staticmethod
    def _elsewhere_notes(draft: Draft) -> list[str]:
        """What is left to do when tdba-wizard does not send this establishment's records."""
        from tdba_wizard import erps

        erp = erps.get(draft.erp)
        if draft.transmission == "erp":
            return [
                f"Reste le côté de {erp.name} : « Fiche pour l'ERP » dit, dans ses menus, quoi y "
                "saisir (la clé, masquée ici, se copie sans s'afficher). « tdba-wizard --check » "
                "surveille ensuite la clé et l'établissement.",
            ]
        return [
            "Import Excel : chaque mois, « tdba-wizard xlsx --uai "
            f"{draft.uai} --out effectifs.xlsx » prépare le modèle de TDBA depuis l'export, à "
            "téléverser dans TDBA (Mes effectifs > « Ajouter via fichier Excel »).",
        ]

    def sheet(self, draft: Draft) -> str:
        """The ERP's side for the draft's establishment (the key masked)."""
        from tdba_wizard.sheet import erp_sheet

        config = load_existing(self.config_path) or Config()
        establishment = draft.establishment()
        for saved in config.establishments:
            if (saved.uai, saved.siret) == (establishment.uai, establishment.siret):
                establishment = saved
        key = draft.test_key or self.current_key(establishment) if draft.has_key else ""
        return erp_sheet(config, [establishment],
                         {(establishment.uai, establishment.siret): key or None})  # fmt: skip

    def install_schedule(self, config: Config | None = None) -> SaveResult:
        """Prove the job from cron's environment, then install it at the configured time."""
        config = config or load_existing(self.config_path) or Config()
        time, zone = config.schedule.time, config.schedule.timezone
        entry = self.schedule_entry(time, zone)
        if not self.crontab.available:
            return SaveResult([], [Missing(
                "Pas de crontab sur ce système : programmez vous-même, chaque jour à "
                f"{time} ({zone}), la commande : {entry.manual_command}")])  # fmt: skip
        proof = prove(entry)
        if not proof.ok:
            problems = [
                line.strip().removeprefix("✖").strip()
                for line in proof.output.splitlines()
                if line.strip().startswith("✖")
            ] or [proof.output.strip() or "le contrôle a échoué sans message"]
            in_keyring = self.keyring_only(config)
            text = ("Envoi de nuit non installé : essayé dans l'environnement de cron, il "
                    "échouerait — " + " ; ".join(problems))  # fmt: skip
            if in_keyring:
                return SaveResult([], [Missing(
                    text + ". Depuis cron, le trousseau du bureau n'est pas joignable : la clé "
                    "doit être dans le fichier protégé (0600, lisible par vous seul).",
                    "move-to-file")])  # fmt: skip
            return SaveResult([], [Missing(text + ".", "install-schedule")])
        try:
            install(self.crontab, entry)
        except TdbaError as error:
            return SaveResult([], [Missing(f"Envoi de nuit non installé : {error.message}",
                                           "install-schedule")])  # fmt: skip
        runs = self.next_runs(time, zone)
        return SaveResult(
            [f"Envoi de nuit installé dans votre crontab : chaque jour à {entry.when.hhmm} "
             f"({entry.when.timezone}), essayé dans l'environnement de cron."],
            [], runs,
        )  # fmt: skip

    def keyring_only(self, config: Config) -> list[Establishment]:
        """Return the establishments whose key is in the keyring and nowhere else."""
        return keyring_only(config, self.store)

    def move_keys_to_file(self) -> SaveResult:
        """Move every keyring-only key to the protected file, then install the job."""
        config = load_existing(self.config_path) or Config()
        done = self._move_to_file(config)
        outcome = self.install_schedule(config)
        return SaveResult(done + outcome.done, outcome.missing, outcome.runs)

    def _move_to_file(self, config: Config) -> list[str]:
        done: list[str] = []
        for establishment in self.keyring_only(config):
            plan = plan_move_key(self.config_path, establishment, "file", store=self.store)
            done += apply(plan, self.store)
        return done

    def remove(self, establishment: Establishment) -> list[str]:
        """Remove an establishment from the config and every copy of its key."""
        plan = plan_remove(self.config_path, establishment.uai, establishment.siret,
                           store=self.store)  # fmt: skip
        return apply(plan, self.store)
