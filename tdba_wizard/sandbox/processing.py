"""What TDBA's processing of its queue does with a record the route accepted.

The route queues records; a job processes them later (server/src/jobs/ingestion/
process-ingestion.ts): it maps them to TDBA's own model, looks their organismes up and checks
contracts and dates (:mod:`tdba_wizard.records.processing`, shared with the nightly job's
prediction). The sandbox applies the same steps when its records are looked at.
"""

from __future__ import annotations

from typing import Any

from tdba_wizard.records.processing import FORMATEUR, RESPONSABLE, couple, processing_issues


def process(record: dict[str, Any]) -> dict[str, Any]:
    """Return a record as TDBA's processing stores it (the fields it derives filled in)."""
    # engine.actions.ts:265: the duration in years, from older ERPs, becomes months.
    if record.get("duree_theorique_formation_mois") is None:
        years = record.get("duree_theorique_formation")
        if years is not None:
            record["duree_theorique_formation_mois"] = years * 12
    return record


def processing_errors(record: dict[str, Any], known_couples: set[tuple[str, str]]) -> list[str]:
    """Return the errors TDBA's processing finds (its messages, in its order), shown only in
    its web report; the organismes are looked up in the sandbox's seed (closed ones too, as
    TDBA does)."""
    issues = processing_issues(
        record,
        couple(record, FORMATEUR) in known_couples,
        couple(record, RESPONSABLE) in known_couples,
    )
    return [issue.message for issue in issues]
