"""What TDBA's processing of its queue does with a record the route accepted.

The route queues records; a job processes them later (server/src/jobs/ingestion/
process-ingestion.ts): it maps them to TDBA's own model and looks their organismes up. The
sandbox applies the same steps when its records are looked at.
"""

from __future__ import annotations

from typing import Any


def process(record: dict[str, Any]) -> dict[str, Any]:
    """Return a record as TDBA's processing stores it (the fields it derives filled in)."""
    # engine.actions.ts:265: the duration in years, from older ERPs, becomes months.
    if record.get("duree_theorique_formation_mois") is None:
        years = record.get("duree_theorique_formation")
        if years is not None:
            record["duree_theorique_formation_mois"] = years * 12
    return record


def processing_errors(record: dict[str, Any], known_couples: set[tuple[str, str]]) -> list[str]:
    """Return the errors TDBA's processing finds, shown only in its web UI."""
    problems = []
    couple = (record["etablissement_formateur_uai"], record["etablissement_formateur_siret"])
    if couple not in known_couples:
        problems.append("organisme formateur non trouvé")
    responsable = (
        record["etablissement_responsable_uai"],
        record["etablissement_responsable_siret"],
    )
    if responsable not in known_couples:
        problems.append("organisme responsable non trouvé")
    if record["date_fin_formation"] < record["date_entree_formation"]:
        problems.append("la date de fin de formation est antérieure à la date d'entrée")
    return problems
