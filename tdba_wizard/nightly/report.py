"""What a nightly run did, establishment by establishment: the report and last-sync.json.

Learner names and e-mails never reach a report: rows are referred to by their line in the
export and their ``id_erp_apprenant``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tdba_wizard.files import ensure_private_dir, write_private_atomic
from tdba_wizard.nightly.frames import ReasonGroup
from tdba_wizard.secrets import entry_name
from tdba_wizard.state import LAST_SYNC, last_sync_entry, load_last_sync

REPORTS_KEPT = 30
Status = Literal["ok", "partial", "failed"]


@dataclass
class EstablishmentReport:
    """What happened to one establishment's records during a run."""

    name: str
    uai: str
    siret: str
    source: str | None = None
    rows_read: int = 0
    rejected_locally: int = 0
    local_reasons: dict[str, ReasonGroup] = field(default_factory=dict)
    notes: dict[str, ReasonGroup] = field(default_factory=dict)
    """Values TDBA accepts but changes or drops without a word, by reason."""
    sent: int = 0
    accepted: int = 0
    rejected_by_tdba: int = 0
    tdba_reasons: dict[str, ReasonGroup] = field(default_factory=dict)
    spooled: int = 0
    spool_delivered: int = 0
    duration: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def status(self) -> Status:
        """Return ok (all delivered), partial (some kept for later) or failed."""
        if self.errors and not self.sent:
            return "failed"
        if self.errors or self.spooled:
            return "partial"
        return "ok"

    def as_json(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (no learner data in it)."""

        def groups(reasons: dict[str, ReasonGroup]) -> list[dict[str, Any]]:
            return [
                {
                    "reason": reason,
                    "count": group.count,
                    "first": [{"line": line, "id_erp_apprenant": erp} for line, erp in group.first],
                }
                for reason, group in sorted(reasons.items(), key=lambda i: -i[1].count)
            ]

        return {
            "name": self.name,
            "uai": self.uai,
            "siret": self.siret,
            "source": self.source,
            "status": self.status,
            "rows_read": self.rows_read,
            "rejected_locally": self.rejected_locally,
            "local_reasons": groups(self.local_reasons),
            "changed_by_tdba": groups(self.notes),
            "sent": self.sent,
            "accepted": self.accepted,
            "rejected_by_tdba": self.rejected_by_tdba,
            "tdba_reasons": groups(self.tdba_reasons),
            "spooled": self.spooled,
            "spool_delivered": self.spool_delivered,
            "duration_seconds": round(self.duration, 3),
            "errors": self.errors,
        }


@dataclass
class SyncReport:
    """The whole run."""

    started_at: dt.datetime
    api_url: str
    dry_run: bool
    establishments: list[EstablishmentReport] = field(default_factory=list)
    finished_at: dt.datetime | None = None

    @property
    def ok(self) -> bool:
        """Return True when every establishment's records were all delivered."""
        return all(e.status == "ok" for e in self.establishments)

    def as_json(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return {
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "api_url": self.api_url,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "establishments": [e.as_json() for e in self.establishments],
        }


def render_text(report: SyncReport, timezone: str = "Europe/Paris") -> str:
    """Return the French text report (no learner data)."""
    from zoneinfo import ZoneInfo

    local = report.started_at.astimezone(ZoneInfo(timezone))
    finished = report.finished_at or report.started_at
    seconds = (finished - report.started_at).total_seconds()
    verdict = "OK" if report.ok else "À VÉRIFIER"
    mode = " (simulation : rien n'a été envoyé)" if report.dry_run else ""
    lines = [
        f"Envoi TDBA du {local:%d/%m/%Y à %H:%M} ({timezone}){mode} — {verdict}",
        f"API : {report.api_url} — durée totale : {_seconds(seconds)}",
    ]
    for e in report.establishments:
        lines += ["", f"« {e.name} » (UAI {e.uai}, SIRET {e.siret})"]
        if e.source:
            lines.append(f"  Export : {e.source}")
        lines.append(f"  Lignes lues : {e.rows_read}")
        lines.append(f"  Refusées avant envoi : {e.rejected_locally}")
        lines += _reason_lines(e.local_reasons)
        if e.notes:
            lines.append("  Valeurs que TDBA modifiera ou ignorera sans les refuser :")
            lines += _reason_lines(e.notes)
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
            lines.append(f"  ✖ {error}")
        lines.append(f"  Durée : {_seconds(e.duration)}")
    return "\n".join(lines) + "\n"


def _seconds(value: float) -> str:
    return f"{value:.1f} s".replace(".", ",")


def _reason_lines(reasons: dict[str, ReasonGroup]) -> list[str]:
    out = []
    for reason, group in sorted(reasons.items(), key=lambda item: -item[1].count):
        refs = ", ".join(f"l.{line}" + (f" (id {erp})" if erp else "") for line, erp in group.first)
        more = " …" if group.count > len(group.first) else ""
        out.append(f"    - {reason} — {group.count} ligne(s) : {refs}{more}")
    return out


def save_results(report: SyncReport, state_dir: Path, text: str) -> Path:
    """Write the text and JSON reports, prune old ones, update ``last-sync.json``."""
    reports = state_dir / "reports"
    ensure_private_dir(state_dir)
    ensure_private_dir(reports)
    stamp = report.started_at.strftime("%Y%m%d-%H%M%S")
    text_path = reports / f"sync-{stamp}.txt"
    write_private_atomic(text_path, text.encode("utf-8"))
    data = report.as_json()
    write_private_atomic(
        reports / f"sync-{stamp}.json",
        (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8"),
    )
    for old in sorted(reports.glob("sync-*.txt"))[:-REPORTS_KEPT]:
        old.unlink(missing_ok=True)
        old.with_suffix(".json").unlink(missing_ok=True)
    _update_last_sync(report, state_dir)
    return text_path


def _update_last_sync(report: SyncReport, state_dir: Path) -> None:
    last = load_last_sync(state_dir)
    finished = (report.finished_at or report.started_at).isoformat()
    previous = last.get("establishments")
    establishments = dict(previous) if isinstance(previous, dict) else {}
    for e in report.establishments:
        before = last_sync_entry(last, e.uai, e.siret) or {}
        delivered = e.sent > 0 or e.spool_delivered > 0
        establishments[entry_name(e.uai, e.siret)] = {
            "name": e.name,
            "last_attempt": finished,
            "status": e.status,
            "last_success": finished if e.status == "ok" else before.get("last_success"),
            "last_transmission": finished if delivered else before.get("last_transmission"),
            "spooled": e.spooled,
        }
    data = {"finished_at": finished, "ok": report.ok, "establishments": establishments}
    write_private_atomic(
        state_dir / LAST_SYNC,
        (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8"),
    )
