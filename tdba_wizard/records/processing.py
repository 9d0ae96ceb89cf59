"""What TDBA's processing does later with a record its route queued, and what it rejects.

The route answers « Queued »; a job processes the queue afterwards (server/src/jobs/ingestion/
process-ingestion.ts, ``transformEffectifQueueV3ToEffectif``, at 12cb59e9). What fails there is
never returned to the sender: it shows only in TDBA's web report. The checks, in upstream's
order and with its messages (a zod ``transform`` adding issues to the record's context):

1. the formateur organisme, then the responsable organisme, looked up by their exact
   (UAI, SIRET) couple (after a correction from the organismes' referential, which cannot be
   predicted here) — ``ORGANISME_FORMATEUR_NOT_FOUND`` / ``ORGANISME_RESPONSABLE_NOT_FOUND``
   (shared/models/data/effectifs.model.ts:242-243);
2. each contract (no suffix, ``_2``, ``_3``, ``_4``): an end, a break cause or a break date
   without a start is incomplete, two issues
   (server/src/common/validation/contratsDossierApprenantSchemaV3.ts);
3. only when both organismes were found: the training must not end before it starts
   (process-ingestion.ts:354).

The values are the route's parsed ones (:func:`tdba_wizard.records.dossier.judge` outputs):
the sandbox and the nightly job's prediction share this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tdba_wizard.records import jsdate
from tdba_wizard.records.js import truthy

ORGANISME_FORMATEUR_NOT_FOUND = "organisme formateur non trouvé"
ORGANISME_RESPONSABLE_NOT_FOUND = "organisme responsable non trouvé"
END_BEFORE_START = (
    "La date de fin de formation doit être supérieure à la date d'entrée en formation"
)
CONTRACT_SUFFIXES = ("", "_2", "_3", "_4")
FORMATEUR = ("etablissement_formateur_uai", "etablissement_formateur_siret")
RESPONSABLE = ("etablissement_responsable_uai", "etablissement_responsable_siret")
CONTRACT_FIELDS = frozenset(
    f"{name}{suffix}"
    for suffix in CONTRACT_SUFFIXES
    for name in ("contrat_date_fin", "cause_rupture_contrat", "contrat_date_rupture")
)
"""A record without any of these has no contract issue."""


@dataclass(frozen=True)
class ProcessingIssue:
    """One issue TDBA's processing adds to a record: its message and the fields it names."""

    message: str
    path: tuple[str, ...]


def contract_issues(values: Mapping[str, Any], suffix: str) -> list[ProcessingIssue]:
    """``validateContrat(contrat, suffix, ctx)``: an end, a cause or a break date needs a
    start."""
    end, cause, broken, start = (
        f"contrat_date_fin{suffix}",
        f"cause_rupture_contrat{suffix}",
        f"contrat_date_rupture{suffix}",
        f"contrat_date_debut{suffix}",
    )
    given = [name for name in (end, cause, broken) if truthy(values.get(name))]
    if not given or truthy(values.get(start)):
        return []
    return [
        ProcessingIssue(
            f"Information de contrat incomplète : {start} manquant mais ce champ est renseigné",
            tuple(given),
        ),
        ProcessingIssue(
            f"Information de contrat incomplète : {end}, {cause} ou {broken} nécessite la "
            f"présence de {start}",
            (start,),
        ),
    ]


def _instant(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    instant = jsdate.parse(value)
    return None if instant != instant else instant


def date_issue(values: Mapping[str, Any]) -> ProcessingIssue | None:
    """The training's end before its start (both dates given)."""
    end, start = (
        _instant(values.get("date_fin_formation")),
        _instant(values.get("date_entree_formation")),
    )
    if end is not None and start is not None and end < start:
        return ProcessingIssue(END_BEFORE_START, ("date_fin_formation",))
    return None


def processing_issues(
    values: Mapping[str, Any], formateur_found: bool | None, responsable_found: bool | None
) -> list[ProcessingIssue]:
    """Return the issues of one record, in upstream's order.

    ``*_found``: whether TDBA knows the couple (None: not known here — the date check then
    runs, as it would if it were found).
    """
    issues: list[ProcessingIssue] = []
    if formateur_found is False:
        issues.append(ProcessingIssue(ORGANISME_FORMATEUR_NOT_FOUND, FORMATEUR))
    if responsable_found is False:
        issues.append(ProcessingIssue(ORGANISME_RESPONSABLE_NOT_FOUND, RESPONSABLE))
    if not CONTRACT_FIELDS.isdisjoint(values):
        for suffix in CONTRACT_SUFFIXES:
            issues += contract_issues(values, suffix)
    if formateur_found is False or responsable_found is False:
        return issues  # upstream stops there (``return NEVER``)
    found = date_issue(values)
    if found is not None:
        issues.append(found)
    return issues


def couple(values: Mapping[str, Any], fields: tuple[str, str]) -> tuple[str, str]:
    """Return the (UAI, SIRET) couple a record names for one role, as TDBA stores it."""
    return (str(values.get(fields[0], "")), str(values.get(fields[1], "")))
