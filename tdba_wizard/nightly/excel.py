"""The Excel path: TDBA's import template, for centres whose ERP does not send by API.

The file is the template's layout (ui/public/modele-import-29012025.xlsx at 12cb59e9): a sheet
« Modèle », the same 62 headers in the same order (the template's spellings, its ``*`` and
``**`` marks included), one learner per row. The rows are the export's, validated with the v3
rules first; what the template has no column for is said, not silently dropped. At most 2,000
rows per file: beyond, several files.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tdba_wizard.records.dossier import DATE_FIELDS

SHEET = "Modèle"
MAX_ROWS = 2000
TEMPLATE_HEADERS = (
    "nom_apprenant *", "prenom_apprenant *", "date_de_naissance_apprenant *", "sexe_apprenant *",
    "code_postal_de_naissance_apprenant", "email_contact *", "adresse_apprenant *",
    "code_postal_apprenant *", "ine_apprenant", "tel_apprenant", "rqth_apprenant",
    "date_rqth_apprenant", "responsable_apprenant_mail1", "responsable_apprenant_mail2",
    "dernier_organisme_uai", "derniere_situation", "type_cfa", "etablissement_responsable_uai *",
    "etablissement_responsable_siret *", "etablissement_formateur_uai *",
    "etablissement_formateur_siret *", "etablissement_lieu_de_formation_uai",
    "etablissement_lieu_de_formation_siret", "etablissement_lieu_de_formation_adresse",
    "etablissement_lieu_de_formation_code_postal", "annee_scolaire *", "annee_formation *",
    "formation_rncp *", "formation_cfd", "date_inscription_formation *",
    "date_entree_formation *", "date_fin_formation *", "duree_theorique_formation_mois *",
    "libelle_court_formation", "obtention_diplome_formation", "date_obtention_diplome_formation",
    "date_exclusion_formation **", "cause_exclusion_formation", "formation_presentielle",
    "nom_referent_handicap_formation", "prenom_referent_handicap_formation",
    "email_referent_handicap_formation", "contrat_date_debut **", "contrat_date_fin **",
    "siret_employeur **", "contrat_date_rupture **", "cause_rupture_contrat",
    "contrat_date_debut_2 **", "contrat_date_fin_2**", "siret_employeur_2 **",
    "contrat_date_rupture_2 **", "cause_rupture_contrat_2", "contrat_date_debut_3 **",
    "contrat_date_fin_3 **", "siret_employeur_3 **", "contrat_date_rupture_3 **",
    "cause_rupture_contrat_3", "contrat_date_debut_4 **", "contrat_date_fin_4 **",
    "siret_employeur_4 **", "contrat_date_rupture_4 **", "cause_rupture_contrat_4",
)  # fmt: skip
TEMPLATE_FIELDS = tuple(header.replace("*", "").strip() for header in TEMPLATE_HEADERS)
_ISO_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


@dataclass
class Written:
    """What went into the files, and what the template has no column for."""

    files: list[Path] = field(default_factory=list)
    rows: int = 0
    not_carried: dict[str, int] = field(default_factory=dict)
    """Fields of the export the template has no column for, and in how many records."""


def cell(name: str, value: Any) -> Any:
    """A value as it goes into the template's cell (an ISO date becomes an Excel date)."""
    if name in DATE_FIELDS and isinstance(value, str):
        match = _ISO_DAY.match(value.strip())
        if match:
            try:
                return dt.date(int(match[1]), int(match[2]), int(match[3]))
            except ValueError:
                return value
    return value


def file_names(out: Path, count: int) -> list[Path]:
    """``out`` for one file; ``stem-1.xlsx``, ``stem-2.xlsx``… for several."""
    if count <= 1:
        return [out]
    return [
        out.with_name(f"{out.stem}-{index}{out.suffix or '.xlsx'}") for index in range(1, count + 1)
    ]


def write_template(records: list[dict[str, Any]], out: Path) -> Written:
    """Write the records as TDBA's template, 2,000 rows a file (0600: they hold learners'
    data; each file written to a temporary name, then renamed)."""
    import openpyxl

    written = Written()
    known = set(TEMPLATE_FIELDS)
    for record in records:
        for name in record:
            if name not in known:
                written.not_carried[name] = written.not_carried.get(name, 0) + 1
    chunks = [records[i : i + MAX_ROWS] for i in range(0, len(records), MAX_ROWS)] or [[]]
    for path, chunk in zip(file_names(out, len(chunks)), chunks, strict=True):
        workbook = openpyxl.Workbook(write_only=True)
        sheet = workbook.create_sheet(SHEET)
        sheet.append(list(TEMPLATE_HEADERS))
        for record in chunk:
            sheet.append([cell(name, record.get(name)) for name in TEMPLATE_FIELDS])
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                                 suffix=".tmp")  # fmt: skip
        os.close(descriptor)
        try:
            workbook.save(temporary)
            os.chmod(temporary, 0o600)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        written.files.append(path)
        written.rows += len(chunk)
    return written
