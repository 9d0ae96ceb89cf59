"""The health check behind ``tdba-wizard --check``: one report, for a human or for monitoring.

Exit codes follow monitoring-plugin semantics (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), the same
with and without ``--json``. This module never imports Textual.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import shlex
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tdba_wizard import erps
from tdba_wizard.api import (
    NATURE_LABELS,
    ApiInfo,
    Failure,
    KeyRefused,
    Ok,
    OrganismeNotFound,
    Pacers,
    TdbaClient,
    UnexpectedAnswer,
    trust_store,
)
from tdba_wizard.config import Config, ConfigError, ConfigNotFoundError, Establishment, load_config
from tdba_wizard.errors import NagiosCode
from tdba_wizard.identifiers import IdentifierError, mask_api_key, parse_api_key
from tdba_wizard.nightly.organismes import Known, OrganismeDirectory
from tdba_wizard.paths import credentials_path
from tdba_wizard.schedule import (
    Crontab,
    ScheduleError,
    cron_daemon_running,
    installed_lines,
    installed_program,
    make_entry,
    parse_time,
    run_as_cron,
)
from tdba_wizard.secrets import (
    FoundSecret,
    SecretError,
    SecretStore,
    fingerprint,
    installation_salt,
)
from tdba_wizard.state import last_sync_entry, read_last_sync

SCHEMA = "tdba-wizard/check/1"
WARN_AFTER = dt.timedelta(days=2)
CRITICAL_AFTER = dt.timedelta(days=7)
REVOCATION = dt.timedelta(days=365)  # TDBA revokes a key after 12 months without sending
REVOCATION_WARNING = dt.timedelta(days=335)  # ~11 months
CONCURRENCY = 50
LOOKUP_TTL = dt.timedelta(hours=1)
"""How long --check trusts TDBA's answer on an establishment (known, open): it changes with
TDBA's referential, not from minute to minute; the key itself is asked every time. Monitoring
every few minutes stays well under TDBA's 300 look-ups per minute per IP."""
# Establishments per connection pool. httpcore's pool does work quadratic in the requests it
# holds (101 at once cost 2.7 s of CPU in one pool, 0.25 s spread over 13 pools).
PER_POOL = 4
LABELS = {
    NagiosCode.OK: "✔",
    NagiosCode.WARNING: "⚠",
    NagiosCode.CRITICAL: "✖",
    NagiosCode.UNKNOWN: "?",
}


@dataclass
class Check:
    """One verified item: a stable code, a status, a French message and, if needed, the fix."""

    code: str
    status: NagiosCode
    message: str
    fix: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "status": self.status.name,
            "message": self.message,
            "fix": self.fix,
            "figures": self.figures,
        }


@dataclass
class EstablishmentChecks:
    """The checks of one establishment."""

    establishment: Establishment
    checks: list[Check] = field(default_factory=list)

    @property
    def status(self) -> NagiosCode:
        return worst(c.status for c in self.checks)


@dataclass
class CheckReport:
    """The whole health check."""

    config_path: Path
    checked_at: dt.datetime
    checks: list[Check] = field(default_factory=list)
    establishments: list[EstablishmentChecks] = field(default_factory=list)
    timezone: str | None = None
    """The configured zone, in which times are shown (None: the system's)."""

    @property
    def status(self) -> NagiosCode:
        return worst([c.status for c in self.checks] + [e.status for e in self.establishments])

    def as_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "status": self.status.name,
            "exit_code": int(self.status),
            "checked_at": self.checked_at.isoformat(),
            "config": str(self.config_path),
            "checks": [c.as_json() for c in self.checks],
            "establishments": [
                {
                    "name": e.establishment.name,
                    "uai": e.establishment.uai,
                    "siret": e.establishment.siret,
                    "status": e.status.name,
                    "checks": [c.as_json() for c in e.checks],
                }
                for e in self.establishments
            ],
        }


def worst(statuses: Any) -> NagiosCode:
    """Return the most severe status (UNKNOWN ranks between WARNING and CRITICAL, as is usual)."""
    rank = {NagiosCode.OK: 0, NagiosCode.WARNING: 1, NagiosCode.UNKNOWN: 2, NagiosCode.CRITICAL: 3}
    result = NagiosCode.OK
    for status in statuses:
        if rank[status] > rank[result]:
            result = status
    return result


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _age(delta: dt.timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours < 48:
        return f"{hours:.0f} h"
    return f"{delta.days} jours"


# -- individual checks -------------------------------------------------------------------


def check_api(config: Config, outcome: Ok[ApiInfo] | Failure) -> list[Check]:
    """Reachability and the environment that answers."""
    if isinstance(outcome, Failure):
        return [
            Check(
                "api",
                NagiosCode.CRITICAL,
                f"TDBA injoignable ({config.api.url}).",
                outcome.explanation,
            )
        ]
    info = outcome.value
    figures = {"latency_ms": _ms(outcome.latency), "env": info.env, "version": info.version}
    checks = [
        Check(
            "api",
            NagiosCode.OK,
            f"TDBA répond ({config.api.url}, {_ms(outcome.latency)} ms).",
            figures=figures,
        )
    ]
    expected = config.api.environment
    if expected is not None and info.env != expected:
        checks.append(
            Check(
                "environment",
                NagiosCode.WARNING,
                f"L'adresse désigne l'environnement « {expected} » mais c'est « {info.env} » qui "
                "répond.",
                "Vérifiez [api] url : une clé générée sur un environnement ne marche pas sur "
                "un autre.",
                {"expected": expected, "env": info.env},
            )
        )
    else:
        checks.append(
            Check(
                "environment",
                NagiosCode.OK,
                f"Environnement : {info.env}.",
                figures={"env": info.env},
            )
        )
    return checks


def check_key_found(
    establishment: Establishment, store: SecretStore, salt: bytes | None = None
) -> tuple[Check, FoundSecret | None]:
    """Is there a well-formed key, and in which backend (with its fingerprint, never the key)."""
    try:
        found = store.get(establishment.uai, establishment.siret)
    except SecretError as error:
        return Check("key", NagiosCode.CRITICAL, "Clé d'échange illisible.", error.message), None
    try:
        parse_api_key(found.value)
    except IdentifierError as error:
        return (
            Check("key", NagiosCode.CRITICAL, f"Clé mal formée ({found.where}).", error.message),
            None,
        )
    figures: dict[str, Any] = {"backend": found.backend}
    if salt is not None:
        figures["fingerprint"] = fingerprint(found.value, salt)
    return (
        Check(
            "key",
            NagiosCode.OK,
            f"Clé {mask_api_key(found.value)} trouvée ({found.where}).",
            figures=figures,
        ),
        found,
    )


def check_key_copies(establishment: Establishment, store: SecretStore) -> Check | None:
    """Is the key in one place only? Two different keys: the session and cron disagree."""
    copies = store.copies(establishment.uai, establishment.siret)
    uai = establishment.uai
    if copies.differ:
        return Check(
            "key_copies",
            NagiosCode.CRITICAL,
            "Deux clés différentes : l'une dans le trousseau, l'autre dans le fichier protégé. "
            "Votre session lit la première, la tâche de nuit (cron, sans trousseau) la seconde.",
            f"Enregistrez la bonne clé : « tdba-wizard key --uai {uai} --api-key-stdin » ; "
            "l'autre copie est retirée.",
            {"copies": copies.places},
        )
    if len(copies.places) > 1:
        return Check(
            "key_copies",
            NagiosCode.WARNING,
            "La même clé est à deux endroits (trousseau et fichier protégé) : une modification "
            "future pourrait n'en changer qu'une.",
            f"N'en garder qu'une : « tdba-wizard key --uai {uai} --move-to file » (ou keyring).",
            {"copies": copies.places},
        )
    return None


def _when(moment: dt.datetime, timezone: str) -> str:
    """Return a moment in the configured zone, named: « le 02/12/2026 à 23:00 (Europe/Paris) »."""
    from zoneinfo import ZoneInfo

    local = moment.astimezone(ZoneInfo(timezone))
    return f"le {local:%d/%m/%Y à %H:%M} ({timezone})"


def _moment(value: Any) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def check_last_sync(
    establishment: Establishment,
    last: dict[str, Any],
    now: dt.datetime,
    timezone: str = "Europe/Paris",
) -> list[Check]:
    """The last run's verdict, the age of the last successful sync, and the 12-month
    revocation horizon."""
    entry = last_sync_entry(last, establishment.uai, establishment.siret)
    checks: list[Check] = []
    if entry is not None and entry.get("verdict") in ("WARNING", "CRITICAL"):
        attempt = _moment(entry.get("last_attempt"))
        when = f", {_when(attempt, timezone)}" if attempt else ""
        reasons = [str(r) for r in entry.get("reasons", []) if isinstance(r, str)][:3]
        figures = {k: entry.get(k) for k in ("rows_read", "rejected_locally", "rejected_by_tdba",
                                              "accepted", "spooled", "predicted_failing",
                                              "duplicates")}  # fmt: skip
        checks.append(
            Check(
                "last_run",
                NagiosCode.CRITICAL if entry["verdict"] == "CRITICAL" else NagiosCode.WARNING,
                f"Dernier envoi{when} : {entry['verdict']} — " + " ".join(reasons),
                "Lisez son rapport : dossier d'état, reports/ (les lignes et les "
                "id_erp_apprenant concernés y sont).",
                figures,
            )
        )
    success = _moment(entry.get("last_success")) if entry is not None else None
    if success is None:
        attempted = entry is not None and entry.get("last_attempt")
        checks.append(
            Check(
                "last_sync",
                NagiosCode.CRITICAL if attempted else NagiosCode.WARNING,
                "Aucun envoi réussi." if attempted else "Aucun envoi encore effectué.",
                "Lancez « tdba-wizard sync » et lisez son rapport ; installez la tâche de nuit "
                "(« tdba-wizard schedule install »).",
            )
        )
        return checks
    age = now - success
    figures = {"last_sync_age_hours": round(age.total_seconds() / 3600, 1)}
    if age > CRITICAL_AFTER:
        status, fix = NagiosCode.CRITICAL, "Lisez le dernier rapport (dossier d'état, reports/)."
    elif age > WARN_AFTER:
        status, fix = NagiosCode.WARNING, "Lisez le dernier rapport (dossier d'état, reports/)."
    else:
        status, fix = NagiosCode.OK, None
    checks.append(
        Check(
            "last_sync",
            status,
            f"Dernier envoi réussi {_when(success, timezone)}, il y a {_age(age)}.",
            fix,
            figures,
        )
    )
    transmitted = _moment(entry.get("last_transmission")) if entry is not None else None
    if transmitted is not None:
        from zoneinfo import ZoneInfo

        silence = now - transmitted
        revoked = (transmitted + REVOCATION).astimezone(ZoneInfo(timezone))
        figures = {
            "days_without_transmission": silence.days,
            "revocation_date": revoked.date().isoformat(),
        }
        if silence > REVOCATION_WARNING:
            checks.append(
                Check(
                    "revocation",
                    NagiosCode.WARNING,
                    f"Rien n'a été transmis depuis {silence.days} jours : TDBA révoquera la clé "
                    f"le {revoked:%d/%m/%Y} (12 mois sans envoi).",
                    "Faites un envoi réussi rapidement, ou générez une nouvelle clé dans TDBA.",
                    figures,
                )
            )
        else:
            checks.append(
                Check(
                    "revocation",
                    NagiosCode.OK,
                    f"Clé : TDBA la révoquerait le {revoked:%d/%m/%Y} si plus rien n'était "
                    "transmis d'ici là (12 mois sans envoi).",
                    figures=figures,
                )
            )
    return checks


def check_export(establishment: Establishment) -> Check:
    """Is the export the nightly job reads there, and readable?"""
    path = establishment.source_path()
    if path is None:
        return Check(
            "export",
            NagiosCode.CRITICAL,
            "Aucun export indiqué (« source ») : la tâche de nuit n'a rien à envoyer.",
            "Indiquez le chemin du fichier produit par l'ERP (« e » dans l'assistant).",
        )
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO would block the check forever
            return Check(
                "export",
                NagiosCode.CRITICAL,
                f"L'export {path} n'est pas un fichier ordinaire.",
                "Indiquez le fichier que l'ERP produit.",
            )
        with path.open("rb") as handle:
            handle.read(1)
    except FileNotFoundError:
        return Check(
            "export",
            NagiosCode.CRITICAL,
            f"Export introuvable : {path}.",
            "Vérifiez que l'ERP produit bien son export à cet endroit, et le chemin « source ».",
        )
    except OSError as error:
        return Check(
            "export",
            NagiosCode.CRITICAL,
            f"Export illisible : {path} ({error.strerror}).",
            "Donnez à l'utilisateur de la tâche de nuit le droit de le lire.",
        )
    modified = dt.datetime.fromtimestamp(info.st_mtime, dt.UTC)
    return Check(
        "export",
        NagiosCode.OK,
        f"Export présent : {path} ({info.st_size} octets).",
        figures={"bytes": info.st_size, "modified": modified.isoformat()},
    )


def check_report_mail(last: dict[str, Any]) -> Check | None:
    """Did the last run's report e-mail go? (None: nothing to say)"""
    failed = [str(w) for w in last.get("warnings", []) if "Compte rendu non envoyé" in str(w)]
    if not failed:
        return None
    return Check(
        "report_mail",
        NagiosCode.WARNING,
        f"Le compte rendu du dernier envoi n'a pas été envoyé par e-mail : {failed[0]}",
        "Vérifiez la section [schedule.smtp] de la configuration (serveur, port, identifiant).",
    )


def check_remote(
    establishment: Establishment,
    key_outcome: Ok[None] | Failure | None,
    known: Known | None,
    lookup_failure: Failure | None,
    timezone: str = "Europe/Paris",
) -> list[Check]:
    """Key accepted, and the establishment known to TDBA for that exact UAI+SIRET and open
    (``known``: the look-up's answer, from the hour-long cache or asked now)."""
    checks: list[Check] = []
    if isinstance(key_outcome, Failure):
        # CRITICAL only when TDBA answered (the key refused); UNKNOWN when it could not be
        # asked (429, 5xx, network): never a false red.
        refused = isinstance(key_outcome, KeyRefused)
        checks.append(
            Check(
                "key_accepted",
                NagiosCode.CRITICAL if refused else NagiosCode.UNKNOWN,
                "Clé refusée par TDBA." if refused else "Clé non vérifiable pour l'instant.",
                key_outcome.explanation,
            )
        )  # fmt: skip
    elif isinstance(key_outcome, Ok):
        checks.append(
            Check(
                "key_accepted",
                NagiosCode.OK,
                "Clé acceptée par TDBA.",
                figures={"latency_ms": _ms(key_outcome.latency)},
            )
        )
    couple = f"UAI {establishment.uai} / SIRET {establishment.siret}"
    when = "" if known is None or known.checked is None else (
        f" (réponse de TDBA {_when(known.checked, timezone)} ; redemandée au bout d'une heure)"
    )  # fmt: skip
    figures: dict[str, Any] = {}
    if known is not None and known.checked is not None:
        figures["checked_at"] = known.checked.isoformat()
    if known is None:  # not asked, or no answer (an unknown couple is ``Known(False)``)
        failure = lookup_failure or UnexpectedAnswer(0, "pas de réponse")
        checks.append(
            Check(
                "organisme",
                NagiosCode.UNKNOWN,
                f"Établissement {couple} : non vérifiable pour l'instant.",
                failure.explanation,
            )
        )
    elif not known.found:
        checks.append(
            Check(
                "organisme",
                NagiosCode.CRITICAL,
                f"Établissement {couple} non confirmé par TDBA{when}.",
                OrganismeNotFound().explanation,
                figures=figures,
            )
        )
    elif known.ferme:
        checks.append(
            Check(
                "organisme",
                NagiosCode.CRITICAL,
                f"TDBA indique l'établissement « {known.name} » comme fermé{when}.",
                "Vérifiez l'UAI et le SIRET : les dossiers doivent désigner un "
                "établissement ouvert.",
                figures=figures,
            )
        )
    else:
        nature = NATURE_LABELS.get(known.nature, known.nature)
        shown = f" ({nature})" if nature else ""
        checks.append(
            Check(
                "organisme",
                NagiosCode.OK,
                f"Connu de TDBA : « {known.name} »{shown}{when}.",
                figures={"nature": known.nature, **figures},
            )
        )
    return checks


def check_schedule(config: Config, config_path: Path, state: Path) -> Check:
    """The nightly entry: installed, current, and pointing to a program that exists."""
    if config.establishments and all(e.transmission != "export" for e in config.establishments):
        return Check(
            "schedule",
            NagiosCode.OK,
            "Pas de tâche de nuit à installer : aucun établissement n'est envoyé par "
            "tdba-wizard (leur ERP transmet, ou import Excel).",
        )
    crontab = Crontab()
    if not crontab.available:
        return Check(
            "schedule",
            NagiosCode.WARNING,
            "Pas de crontab sur ce système.",
            "Planifiez « tdba-wizard sync » à la main (voir « tdba-wizard schedule install »).",
        )
    try:
        lines = installed_lines(crontab.read())
        when = parse_time(config.schedule.time, config.schedule.timezone)
    except ScheduleError as error:
        return Check("schedule", NagiosCode.WARNING, "Crontab illisible.", error.message)
    if not lines:
        return Check(
            "schedule",
            NagiosCode.WARNING,
            "Aucune tâche de nuit installée.",
            "« tdba-wizard schedule install »",
        )
    try:
        program = installed_program(lines[0])
    except ValueError:
        return Check(
            "schedule",
            NagiosCode.WARNING,
            "Le bloc tdba-wizard de la crontab est abîmé (guillemets déséquilibrés).",
            "« tdba-wizard schedule install » le réécrit.",
        )
    if not program or not os.access(program, os.X_OK):
        return Check(
            "schedule",
            NagiosCode.CRITICAL,
            f"La tâche de nuit lance un programme introuvable : {program}.",
            "Réinstallez-la : « tdba-wizard schedule install ».",
        )
    expected = installed_lines(make_entry(when, config_path, state).block())
    if lines != expected:
        return Check(
            "schedule",
            NagiosCode.WARNING,
            "La tâche de nuit installée diffère de la configuration (heure ou chemins).",
            "« tdba-wizard schedule install » la remet d'accord.",
        )
    if cron_daemon_running() is False:
        return Check(
            "schedule",
            NagiosCode.WARNING,
            f"Tâche de nuit installée (chaque jour à {when.hhmm}, {when.timezone}), mais aucun "
            "démon cron ne tourne sur cette machine : elle ne partira pas.",
            "Démarrez cron (« systemctl enable --now cron » sous Debian), ou planifiez "
            "« tdba-wizard sync » autrement.",
        )
    return Check(
        "schedule",
        NagiosCode.OK,
        f"Tâche de nuit installée : chaque jour à {when.hhmm} ({when.timezone}).",
        figures={"program": program},
    )


def _fingerprints(data: dict[str, Any]) -> dict[tuple[str, str], str | None]:
    """Return each establishment's key fingerprint in a --check --json answer."""
    found: dict[tuple[str, str], str | None] = {}
    for entry in data.get("establishments", []):
        key = next((c for c in entry.get("checks", []) if c.get("code") == "key"), None)
        figures = key.get("figures", {}) if key else {}
        found[(entry.get("uai", ""), entry.get("siret", ""))] = figures.get("fingerprint")
    return found


def compare_keys(
    session: dict[tuple[str, str], str | None],
    cron: dict[tuple[str, str], str | None],
    names: dict[tuple[str, str], str],
) -> Check:
    """Do the session and cron read the same key for each establishment? (fingerprints only)"""
    different = [c for c, value in session.items() if value and cron.get(c) and cron[c] != value]
    unknown = [names[c] for c, value in session.items() if value and not cron.get(c)]
    if different:
        return Check(
            "cron_keys",
            NagiosCode.CRITICAL,
            "Depuis cron, la clé lue n'est pas celle de votre session pour "
            + ", ".join(f"« {names[c]} »" for c in different)
            + " : la tâche de nuit enverrait avec une autre clé.",
            "Enregistrez la bonne clé avec "
            + " ; ".join(f"« tdba-wizard key --uai {c[0]} --api-key-stdin »" for c in different)
            + " : elle remplace les autres copies.",
            {"different": len(different)},
        )
    if unknown or not any(session.values()):
        return Check(
            "cron_keys",
            NagiosCode.UNKNOWN,
            "Clés de la session et de cron : comparaison non vérifiable (une clé illisible "
            "d'un côté, ou pas d'empreinte).",
            figures={"unknown": len(unknown)},
        )
    return Check(
        "cron_keys",
        NagiosCode.OK,
        "Depuis cron, les clés lues sont les mêmes que dans votre session (empreintes).",
        figures={"compared": sum(1 for v in session.values() if v)},
    )


def check_in_cron_env(
    program: list[str],
    config_path: Path,
    state: Path,
    session: dict[tuple[str, str], str | None] | None = None,
    names: dict[tuple[str, str], str] | None = None,
) -> list[Check]:
    """Run the same check in cron's environment; report its verdict and compare the keys."""
    command = shlex.join(
        [*program, "--config", str(config_path), "--state-dir", str(state), "--check", "--json"]
    )
    try:
        result = run_as_cron(["/bin/sh", "-c", command], 120)
        data = json.loads(result.stdout)
        status = NagiosCode[data["status"]]
    except (subprocess.TimeoutExpired, ValueError, KeyError):
        return [
            Check(
                "cron_env",
                NagiosCode.CRITICAL,
                "Le contrôle ne s'exécute pas dans l'environnement de cron.",
                "Vérifiez que tdba-wizard est installé à un emplacement permanent.",
            )
        ]
    compared = (
        [compare_keys(session, _fingerprints(data), names or {})] if session is not None else []
    )
    environmental = {"config", "key", "key_accepted", "export"}
    problems = [
        f"« {e.get('name')} » : {c['message']}"
        for e in data.get("establishments", [])
        for c in e.get("checks", [])
        if c.get("status") in ("CRITICAL", "UNKNOWN") and c.get("code") in environmental
    ] + [
        c["message"]
        for c in data.get("checks", [])
        if c.get("status") == "CRITICAL" and c.get("code") in environmental
    ]
    unreadable = [
        str(e.get("uai"))
        for e in data.get("establishments", [])
        for c in e.get("checks", [])
        if c.get("code") == "key" and c.get("status") != "OK"
    ]
    if problems:
        fix = (
            "Gardez la clé dans le fichier protégé, sans la ressaisir : "
            + " ; ".join(f"« tdba-wizard key --uai {uai} --move-to file »" for uai in unreadable)
            + "."
            if unreadable
            else "Vérifiez les chemins et les droits de l'utilisateur de la tâche de nuit."
        )
        return [
            Check(
                "cron_env", NagiosCode.CRITICAL, "Depuis cron : " + " ; ".join(problems[:3]), fix
            ),
            *compared,
        ]
    return [
        Check(
            "cron_env",
            NagiosCode.OK,
            "Le même contrôle réussit dans l'environnement de cron.",
            figures={"status": status.name},
        ),
        *compared,
    ]


# -- the whole check ---------------------------------------------------------------------


async def run_check(
    config_path: Path,
    state: Path,
    *,
    cron_env: bool = False,
    program: list[str] | None = None,
    uai: str | None = None,
) -> CheckReport:
    """Build the report: config, API, schedule, then every establishment concurrently."""
    now = dt.datetime.now(dt.UTC)
    report = CheckReport(config_path, now)
    try:
        config = load_config(config_path)
    except ConfigNotFoundError as error:
        report.checks.append(
            Check("config", NagiosCode.CRITICAL, "Pas de configuration.", error.message)
        )
        return report
    except ConfigError as error:
        report.checks.append(
            Check("config", NagiosCode.CRITICAL, "Configuration invalide.", error.message)
        )
        return report
    if uai is not None:  # one establishment: one service in the monitoring
        chosen = config.find(uai)
        if not chosen:
            missing = f"Aucun établissement avec l'UAI {uai} dans {config_path}."
            report.checks.append(Check("config", NagiosCode.UNKNOWN, missing))
            return report
        config = config.model_copy(update={"establishments": chosen})
    count = len(config.establishments)
    report.checks.append(
        Check(
            "config",
            NagiosCode.OK if count else NagiosCode.CRITICAL,
            f"Configuration : {config_path} ({count} établissement(s)).",
            None if count else "Ajoutez un établissement : « tdba-wizard add ».",
            {"establishments": count},
        )
    )
    store = SecretStore(credentials_path(config_path))
    store.prefetch(
        [(e.uai, e.siret) for e in config.establishments if e.transmission != "excel"]
    )  # all the keys in one read: 50 keys cost about what one does
    salt = installation_salt(state)
    keyless = Check("key", NagiosCode.OK, "Import Excel : pas de clé d'échange (aucun envoi par "
                    "l'API).")  # fmt: skip
    keys: list[tuple[Check, FoundSecret | None]] = [
        (keyless, None) if e.transmission == "excel" else check_key_found(e, store, salt)
        for e in config.establishments
    ]
    copies = [
        None if e.transmission == "excel" else check_key_copies(e, store)
        for e in config.establishments
    ]
    last, last_problem = read_last_sync(state)
    slots = asyncio.Semaphore(CONCURRENCY)
    verify = trust_store()  # read once, shared by the pools
    pools = max(1, -(-count // PER_POOL))
    pacers = Pacers()  # every pool together under TDBA's per-IP limits
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                TdbaClient(
                    config.api.url, verify=verify, max_connections=2 * PER_POOL + 1, pacers=pacers
                )
            )
            for _ in range(pools)
        ]

        directory = OrganismeDirectory(clients, state, ttl=LOOKUP_TTL,
                                       concurrency=CONCURRENCY, attempts=1)  # fmt: skip

        async def one(index: int, key: FoundSecret | None) -> Ok[None] | Failure | None:
            if key is None:
                return None
            async with slots:
                return await clients[index % pools].check_key(key.value)

        probing = asyncio.create_task(clients[0].probe())
        looking_up = asyncio.create_task(
            directory.lookup({(e.uai, e.siret) for e in config.establishments})
        )
        tested = await asyncio.gather(*(one(index, k[1]) for index, k in enumerate(keys)))
        known = await looking_up
        probe = await probing
    directory.save()
    report.checks.extend(check_api(config, probe))
    if isinstance(probe, Failure):
        # TDBA is down: said once above; what each establishment would have been asked is
        # not known, never « clé refusée ».
        remote = [[_not_verifiable()] for _ in config.establishments]
    else:
        remote = [
            check_remote(e, outcome, known.get((e.uai, e.siret)),
                         directory.failures.get((e.uai, e.siret)), config.schedule.timezone)
            for e, outcome in zip(config.establishments, tested, strict=True)
        ]  # fmt: skip
    report.checks.append(check_schedule(config, config_path, state))
    if last_problem is not None:
        report.checks.append(
            Check(
                "last_sync_file",
                NagiosCode.UNKNOWN,
                f"Résultats du dernier envoi : {last_problem}.",
                "Le prochain envoi le réécrit ; lancez « tdba-wizard sync » pour le refaire.",
            )
        )
    mail = check_report_mail(last)
    if mail is not None:
        report.checks.append(mail)
    if cron_env and program is not None:
        couples = [(e.uai, e.siret) for e in config.establishments]
        session = {c: k[0].figures.get("fingerprint") for c, k in zip(couples, keys, strict=True)}
        names = {(e.uai, e.siret): e.name for e in config.establishments}
        report.checks.extend(check_in_cron_env(program, config_path, state, session, names))
    timezone = report.timezone = config.schedule.timezone
    for establishment, (key_check, _), copy_check, remote_checks in zip(
        config.establishments, keys, copies, remote, strict=True
    ):
        own = [key_check] if copy_check is None else [key_check, copy_check]
        if establishment.transmission == "erp":
            erp = erps.get(config.erp_of(establishment)).name
            checks = [*own, *remote_checks, Check(
                "transmission", NagiosCode.OK,
                f"Transmis par son ERP ({erp}) : tdba-wizard surveille la clé et "
                "l'établissement ; la date de révocation de la clé (12 mois sans envoi) n'est "
                "pas connue d'ici.",
            )]  # fmt: skip
        elif establishment.transmission == "excel":
            checks = [*own, *remote_checks]
            if establishment.source is not None:
                checks.append(check_export(establishment))
        else:
            checks = [
                *own,
                check_export(establishment),
                *remote_checks,
                *check_last_sync(establishment, last, now, timezone),
            ]
        report.establishments.append(EstablishmentChecks(establishment, checks))
    return report


def _not_verifiable() -> Check:
    return Check(
        "key_accepted",
        NagiosCode.UNKNOWN,
        "Clé et établissement : non vérifiables (TDBA injoignable, voir plus haut).",
    )


def render_human(report: CheckReport, quiet: bool = False) -> str:
    """Return the French report: one line per check, the fix after a problem, a summary."""
    if report.timezone is not None:
        lines = [
            f"Contrôle TDBA du {_when(report.checked_at, report.timezone).removeprefix('le ')}"
        ]
    else:
        lines = [f"Contrôle TDBA du {report.checked_at.astimezone():%d/%m/%Y à %H:%M}"]

    def add(check: Check, indent: str) -> None:
        if quiet and check.status == NagiosCode.OK:
            return
        lines.append(f"{indent}{LABELS[check.status]} {check.message}")
        if check.fix and check.status != NagiosCode.OK:
            lines.append(f"{indent}   → {check.fix}")

    for check in report.checks:
        add(check, "")
    for entry in report.establishments:
        if quiet and entry.status == NagiosCode.OK:
            continue
        e = entry.establishment
        lines.append(f"« {e.name} » (UAI {e.uai}, SIRET {e.siret})")
        for check in entry.checks:
            add(check, "  ")
    all_checks = report.checks + [c for e in report.establishments for c in e.checks]
    warnings = sum(c.status == NagiosCode.WARNING for c in all_checks)
    criticals = sum(c.status == NagiosCode.CRITICAL for c in all_checks)
    lines.append(
        f"{report.status.name} — {len(all_checks)} contrôle(s), {warnings} avertissement(s), "
        f"{criticals} problème(s) critique(s)."
    )
    return "\n".join(lines) + "\n"
