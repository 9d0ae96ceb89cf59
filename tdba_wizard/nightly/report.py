"""What a nightly run did, establishment by establishment: the verdict, the report and
``last-sync.json``.

The verdict is true or it is not given: OK only when everything read was sent and accepted;
WARNING when rows were refused (before sending or by TDBA), the export was empty, records wait
in the spool, or something needs a look (a column TDBA ignores, rows of another
establishment, the report e-mail); CRITICAL when the export is missing or unreadable, the key
is refused, or nothing was delivered although the export had rows. ``sync`` exits 0, 1 or 2
on it; ``last-sync.json`` keeps it for ``--check``.

Learner names and e-mails never reach a report: rows are referred to by their line in the
export and their ``id_erp_apprenant``; every value that came from outside goes through
:func:`tdba_wizard.text.clean`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tdba_wizard.files import ensure_private_dir, write_private_atomic
from tdba_wizard.nightly.frames import ReasonGroup
from tdba_wizard.nightly.later import PairReport
from tdba_wizard.secrets import entry_name
from tdba_wizard.state import LAST_SYNC, last_sync_entry, load_last_sync
from tdba_wizard.text import clean

REPORTS_KEPT = 30
Level = Literal["OK", "WARNING", "CRITICAL"]
RANK: dict[Level, int] = {"OK": 0, "WARNING": 1, "CRITICAL": 2}
"""Also the exit code of ``sync``."""


def worst(levels: list[Level]) -> Level:
    return max(levels, key=RANK.__getitem__, default="OK")


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


@dataclass
class EstablishmentReport:
    """What happened to one establishment's records during a run."""

    name: str
    uai: str
    siret: str
    source: str | None = None
    dry_run: bool = False
    rows_read: int = 0
    rejected_locally: int = 0
    local_reasons: dict[str, ReasonGroup] = field(default_factory=dict)
    notes: dict[str, ReasonGroup] = field(default_factory=dict)
    """Values TDBA accepts but changes or drops without a word, by reason."""
    attention: dict[str, ReasonGroup] = field(default_factory=dict)
    """Rows sent that TDBA will not attach as expected (another establishment, a partner's
    UAI or SIRET that does not check), by reason."""
    header: list[str] = field(default_factory=list)
    """What is wrong with the export's columns, said once."""
    sent: int = 0
    accepted: int = 0
    rejected_by_tdba: int = 0
    tdba_reasons: dict[str, ReasonGroup] = field(default_factory=dict)
    spooled: int = 0
    spool_delivered: int = 0
    duration: float = 0.0
    pairs: list[PairReport] = field(default_factory=list, repr=False)
    """The export's (formateur, responsable) pairs, for the prediction."""
    predicted: dict[str, ReasonGroup] = field(default_factory=dict)
    """What TDBA's processing will reject, by upstream's message."""
    predicted_failing: int = 0
    unverified: int = 0
    """Records whose organismes could not be looked up."""
    duplicates: dict[str, ReasonGroup] = field(default_factory=dict)
    """Learners TDBA will hold twice (another id or school year)."""
    held: ReasonGroup = field(default_factory=ReasonGroup)
    """Records kept back because TDBA does not know their organisme (--hold-unmatched)."""
    errors: list[str] = field(default_factory=list)
    """Critical problems (the export unreadable, the key refused, a batch lost…)."""
    warnings: list[str] = field(default_factory=list)
    """Problems that need a look but did not stop the records."""

    @property
    def delivered(self) -> int:
        """Records TDBA took in this run (from the export or from the spool)."""
        return self.accepted + self.spool_delivered

    @property
    def valid(self) -> int:
        return self.rows_read - self.rejected_locally

    def verdict(self) -> tuple[Level, list[str]]:
        """Return the verdict and its reasons, in French (most severe first)."""
        critical = list(self.errors)
        if self.rows_read and not self.dry_run and not self.delivered and not critical:
            critical.append(
                f"Rien n'a été transmis alors que l'export compte "
                f"{_plural(self.rows_read, 'ligne', 'lignes')}."
            )
        if self.rows_read and self.dry_run and not self.valid:
            critical.append(f"Aucune ligne valide sur {self.rows_read} : rien ne serait transmis.")
        warning = list(self.header)
        if self.rejected_locally:
            warning.append(
                f"{_plural(self.rejected_locally, 'ligne refusée', 'lignes refusées')} avant envoi."
            )
        if self.rejected_by_tdba:
            warning.append(
                f"{_plural(self.rejected_by_tdba, 'dossier refusé', 'dossiers refusés')} par TDBA."
            )
        if not self.rows_read and not self.errors and self.source is not None:
            warning.append("Export vide : aucune ligne à transmettre.")
        if self.spooled:
            warning.append(
                f"{_plural(self.spooled, 'dossier non transmis', 'dossiers non transmis')}, "
                "gardé(s) pour le prochain envoi."
            )
        if self.held.count:
            warning.append(
                f"{_plural(self.held.count, 'dossier retenu', 'dossiers retenus')} : TDBA ne "
                "connaît pas leur établissement formateur ou responsable (--hold-unmatched)."
            )
        if self.predicted_failing:
            warning.append(
                f"{_plural(self.predicted_failing, 'dossier', 'dossiers')} que le traitement "
                "de TDBA rejettera (voir « Rejets prévus »)."
            )
        if self.unverified:
            warning.append(
                f"{_plural(self.unverified, 'dossier non vérifié', 'dossiers non vérifiés')} : "
                "la recherche d'établissements de TDBA n'a pas répondu."
            )
        doubled = sum(group.count for group in self.duplicates.values())
        if doubled:
            warning.append(
                f"{_plural(doubled, 'apprenant', 'apprenants')} que TDBA comptera deux fois "
                "(voir « Doublons prévus »)."
            )
        attention = sum(group.count for group in self.attention.values())
        if attention:
            warning.append(
                f"{_plural(attention, 'dossier', 'dossiers')} que TDBA ne rattachera pas comme "
                "prévu (voir « À vérifier »)."
            )
        warning += self.warnings
        if critical:
            return "CRITICAL", critical + warning
        if warning:
            return "WARNING", warning
        return "OK", []

    @property
    def level(self) -> Level:
        return self.verdict()[0]

    def as_json(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (no learner data in it)."""
        level, reasons = self.verdict()
        return {
            "name": self.name,
            "uai": self.uai,
            "siret": self.siret,
            "source": clean(self.source, 1000) if self.source else None,
            "verdict": level,
            "reasons": [clean(r, 500) for r in reasons],
            "rows_read": self.rows_read,
            "rejected_locally": self.rejected_locally,
            "local_reasons": _groups(self.local_reasons),
            "changed_by_tdba": _groups(self.notes),
            "not_attached": _groups(self.attention),
            "predicted_processing_errors": _groups(self.predicted),
            "predicted_failing": self.predicted_failing,
            "unverified": self.unverified,
            "duplicates": _groups(self.duplicates),
            "held": self.held.count,
            "header": [clean(h, 500) for h in self.header],
            "sent": self.sent,
            "accepted": self.accepted,
            "rejected_by_tdba": self.rejected_by_tdba,
            "tdba_reasons": _groups(self.tdba_reasons),
            "spooled": self.spooled,
            "spool_delivered": self.spool_delivered,
            "duration_seconds": round(self.duration, 3),
            "errors": [clean(e, 500) for e in self.errors],
            "warnings": [clean(w, 500) for w in self.warnings],
        }


def _groups(reasons: dict[str, ReasonGroup]) -> list[dict[str, Any]]:
    return [
        {
            "reason": clean(reason, 500),
            "count": group.count,
            "first": [
                {"line": line, "id_erp_apprenant": clean(erp) if erp is not None else None}
                for line, erp in group.first
            ],
        }
        for reason, group in sorted(reasons.items(), key=lambda item: -item[1].count)
    ]


@dataclass
class SyncReport:
    """The whole run."""

    started_at: dt.datetime
    api_url: str
    dry_run: bool
    establishments: list[EstablishmentReport] = field(default_factory=list)
    finished_at: dt.datetime | None = None
    errors: list[str] = field(default_factory=list)
    """Critical problems of the run itself (the report could not be saved…)."""
    warnings: list[str] = field(default_factory=list)
    """The run's own warnings (the report e-mail failed…)."""
    elsewhere: list[str] = field(default_factory=list)
    """Establishments whose records tdba-wizard does not send (their ERP does, or Excel)."""

    @property
    def level(self) -> Level:
        """The run's verdict: its own problems and the worst establishment's."""
        own: list[Level] = ["CRITICAL"] if self.errors else ["WARNING"] if self.warnings else []
        return worst(own + [e.level for e in self.establishments])

    @property
    def ok(self) -> bool:
        """Return True when everything read was sent and accepted, and nothing else is wrong."""
        return self.level == "OK"

    def as_json(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return {
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "api_url": self.api_url,
            "dry_run": self.dry_run,
            "verdict": self.level,
            "exit_code": RANK[self.level],
            "errors": [clean(e, 500) for e in self.errors],
            "warnings": [clean(w, 500) for w in self.warnings],
            "not_sent_by_tdba_wizard": [clean(e, 300) for e in self.elsewhere],
            "establishments": [e.as_json() for e in self.establishments],
        }


def _totals(report: SyncReport) -> list[str]:
    """A network's run at a glance: the verdicts counted, the figures added up."""
    many = report.establishments
    if len(many) < 2:
        return []
    levels = [e.verdict()[0] for e in many]
    counted = ", ".join(f"{levels.count(level)} {level}" for level in RANK if level in levels)
    lines = [f"Établissements envoyés par tdba-wizard : {len(many)} ({counted})"]
    read, refused = sum(e.rows_read for e in many), sum(e.rejected_locally for e in many)
    if report.dry_run:
        lines.append(f"Au total : {read} lignes lues ; {refused} refusées avant envoi")
    else:
        lines.append(
            f"Au total : {read} lignes lues ; {refused} refusées avant envoi ; envoyées : "
            f"{sum(e.sent for e in many)} ; acceptées par TDBA : {sum(e.accepted for e in many)} "
            f"; refusées par TDBA : {sum(e.rejected_by_tdba for e in many)}"
        )
    return lines


def render_text(report: SyncReport, timezone: str = "Europe/Paris") -> str:
    """Return the French text report (no learner data; outside values cleaned)."""
    from zoneinfo import ZoneInfo

    local = report.started_at.astimezone(ZoneInfo(timezone))
    finished = report.finished_at or report.started_at
    seconds = (finished - report.started_at).total_seconds()
    mode = " (simulation : rien n'a été envoyé)" if report.dry_run else ""
    lines = [
        f"Envoi TDBA du {local:%d/%m/%Y à %H:%M} ({timezone}){mode} — {report.level}",
        f"API : {clean(report.api_url)} — durée totale : {_seconds(seconds)}",
    ]
    lines += [f"✖ {clean(error, 500)}" for error in report.errors]
    lines += [f"⚠ {clean(warning, 500)}" for warning in report.warnings]
    lines += _totals(report)
    if report.elsewhere:
        others = " ; ".join(clean(e, 300) for e in report.elsewhere)
        lines.append(f"Non envoyés par tdba-wizard : {others}")
    for e in report.establishments:
        level, reasons = e.verdict()
        lines += ["", f"« {clean(e.name)} » (UAI {e.uai}, SIRET {e.siret}) — {level}"]
        if e.source:
            lines.append(f"  Export : {clean(e.source, 500)}")
        for problem in e.header:
            lines.append(f"  ⚠ {clean(problem, 500)}")
        lines.append(f"  Lignes lues : {e.rows_read}")
        lines.append(f"  Refusées avant envoi : {e.rejected_locally}")
        lines += _reason_lines(e.local_reasons)
        if e.notes:
            lines.append("  Valeurs que TDBA modifiera ou ignorera sans les refuser :")
            lines += _reason_lines(e.notes)
        if e.attention:
            lines.append("  À vérifier : TDBA les acceptera sans les rattacher comme prévu :")
            lines += _reason_lines(e.attention)
        if e.predicted:
            lines.append(
                f"  Rejets prévus au traitement par TDBA : {e.predicted_failing} dossier(s) "
                "(TDBA les accepte ce soir puis les rejette en les traitant ; son rapport web "
                "les montrera) :"
            )
            lines += _reason_lines(e.predicted)
        if e.duplicates:
            lines.append("  Doublons prévus :")
            lines += _reason_lines(e.duplicates)
        if e.held.count:
            lines.append("  Retenus, non envoyés (--hold-unmatched) :")
            lines += _reason_lines({"établissement inconnu de TDBA": e.held})
        if not report.dry_run:
            lines.append(
                f"  Envoyées : {e.sent} ; acceptées par TDBA : {e.accepted} ; refusées par "
                f"TDBA : {e.rejected_by_tdba}"
            )
            lines += _reason_lines(e.tdba_reasons)
            if e.spool_delivered:
                lines.append(f"  Dont reprises d'un envoi précédent : {e.spool_delivered}")
            lines.append(f"  Conservées pour le prochain envoi : {e.spooled}")
        for error in e.errors:
            lines.append(f"  ✖ {clean(error, 500)}")
        for warning in e.warnings:
            lines.append(f"  ⚠ {clean(warning, 500)}")
        shown = {*e.errors, *e.warnings, *e.header}
        summary = [clean(r, 500) for r in reasons if r not in shown]
        if level != "OK":
            lines.append(f"  Verdict {level}" + (" : " + " ".join(summary) if summary else "."))
        lines.append(f"  Durée : {_seconds(e.duration)}")
    return "\n".join(lines) + "\n"


def _seconds(value: float) -> str:
    return f"{value:.1f} s".replace(".", ",")


def _reason_lines(reasons: dict[str, ReasonGroup]) -> list[str]:
    out = []
    for reason, group in sorted(reasons.items(), key=lambda item: -item[1].count):
        refs = ", ".join(
            f"l.{line}" + (f" (id {clean(erp, 60)})" if erp else "") for line, erp in group.first
        )
        more = " …" if group.count > len(group.first) else ""
        out.append(f"    - {clean(reason, 300)} — {group.count} ligne(s) : {refs}{more}")
    return out


def save_results(report: SyncReport, state_dir: Path, text: str) -> Path:
    """Write the text and JSON reports, prune old ones, update ``last-sync.json``.

    ``last-sync.json`` is written first (it is what ``--check`` reads); raises OSError when
    something could not be written, after trying the rest.
    """
    failure: OSError | None = None
    try:
        _update_last_sync(report, state_dir)
    except OSError as error:
        failure = error
    try:
        _journal(report, state_dir)
    except OSError as error:
        failure = failure or error
    reports = state_dir / "reports"
    stamp = report.started_at.strftime("%Y%m%d-%H%M%S")
    text_path = reports / f"sync-{stamp}.txt"
    try:
        ensure_private_dir(reports)
        write_private_atomic(text_path, text.encode("utf-8"))
        data = report.as_json()
        write_private_atomic(
            reports / f"sync-{stamp}.json",
            (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8"),
        )
        for old in sorted(reports.glob("sync-*.txt"))[:-REPORTS_KEPT]:
            old.unlink(missing_ok=True)
            old.with_suffix(".json").unlink(missing_ok=True)
    except OSError as error:
        failure = failure or error
    if failure is not None:
        raise failure
    return text_path


def _journal(report: SyncReport, state_dir: Path) -> None:
    """Add the run to ``history.jsonl`` (figures only)."""
    from tdba_wizard.history import append_runs

    finished = report.finished_at or report.started_at
    entries = []
    for e in report.establishments:
        entries.append(
            {
                "finished_at": finished.isoformat(),
                "uai": e.uai,
                "siret": e.siret,
                "name": clean(e.name),
                "verdict": e.level,
                "rows_read": e.rows_read,
                "rejected_locally": e.rejected_locally,
                "sent": e.sent,
                "accepted": e.accepted,
                "rejected_by_tdba": e.rejected_by_tdba,
                "predicted_failing": e.predicted_failing,
                "duplicates": sum(g.count for g in e.duplicates.values()),
                "spooled": e.spooled,
                "held": e.held.count,
            }
        )
    append_runs(state_dir, entries, finished)


def _update_last_sync(report: SyncReport, state_dir: Path) -> None:
    ensure_private_dir(state_dir)
    last = load_last_sync(state_dir)
    finished = (report.finished_at or report.started_at).isoformat()
    previous = last.get("establishments")
    establishments = dict(previous) if isinstance(previous, dict) else {}
    for e in report.establishments:
        before = last_sync_entry(last, e.uai, e.siret) or {}
        level, reasons = e.verdict()
        succeeded = level != "CRITICAL" and e.delivered > 0
        establishments[entry_name(e.uai, e.siret)] = {
            "name": clean(e.name),
            "last_attempt": finished,
            "verdict": level,
            "reasons": [clean(r, 300) for r in reasons[:5]],
            "rows_read": e.rows_read,
            "rejected_locally": e.rejected_locally,
            "rejected_by_tdba": e.rejected_by_tdba,
            "accepted": e.accepted,
            "spooled": e.spooled,
            "predicted_failing": e.predicted_failing,
            "duplicates": sum(g.count for g in e.duplicates.values()),
            "last_success": finished if succeeded else before.get("last_success"),
            "last_transmission": finished if e.delivered else before.get("last_transmission"),
        }
    data = {
        "finished_at": finished,
        "verdict": report.level,
        "warnings": [clean(w, 300) for w in report.warnings],
        "errors": [clean(e, 300) for e in report.errors],
        "establishments": establishments,
    }
    write_private_atomic(
        state_dir / LAST_SYNC,
        (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8"),
    )
