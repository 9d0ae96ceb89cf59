"""The export's columns, for people: what each accepts, with an example, in French.

The README's column table is :func:`markdown_table` (a test fails when they differ), and each
example is checked with the field's own rule after the export's cell conversion, so that the
documentation cannot drift from what the validator does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tdba_wizard.records import rules
from tdba_wizard.records.dossier import DATA_FIELDS, FIELDS, REQUIRED_FIELDS

DATE = "date : `JJ/MM/AAAA`, `AAAA-MM-JJ` ou numéro de série Excel"
BOOLEAN = "`OUI`/`NON`, `VRAI`/`FAUX` ou `1`/`0`"
SIRET = "14 chiffres (espaces, points et tirets retirés)"
EMAIL = "adresse e-mail (sans accent, sans `..`)"

# By the field's own rule: what it accepts, and an example cell.
_BY_RULE: dict[Callable[[Any], Any], tuple[str, str]] = {
    rules.iso_date: (DATE, "01/09/2025"),
    rules.boolean: (BOOLEAN, "NON"),
    rules.uai: ("UAI : 7 chiffres et une lettre", "0802004U"),
    rules.siret: (SIRET, "48401246400091"),
    rules.siret_or_null: (SIRET + " ; mal formé : ignoré par TDBA", "77937827200016"),
    rules.email: (EMAIL, "lea.martin@exemple.fr"),
    rules.email_untrimmed: (EMAIL + " ; aucune espace autour", "referent@cfa.fr"),
    rules.text: ("texte libre", "démission"),
    rules.trimmed_text: ("texte libre", "12 rue des Écoles"),
    rules.code_postal: ("5 chiffres (des 0 ajoutés à gauche)", "80000"),
    rules.code_postal_or_null: ("5 chiffres ; mal formé : ignoré par TDBA", "75011"),
    rules.insee: ("code commune INSEE : 5 caractères (`2A`, `2B` pour la Corse)", "80021"),
}
_BY_FIELD: dict[str, tuple[str, str]] = {
    "nom_apprenant": ("texte (TDBA le met en majuscules)", "MARTIN"),
    "prenom_apprenant": ("texte", "Léa"),
    "date_de_naissance_apprenant": (DATE, "15/03/2005"),
    "annee_scolaire": ("`AAAA-AAAA`, années consécutives ou identiques", "2025-2026"),
    "statut_apprenant": ("`0` abandon, `2` inscrit, `3` apprenti", "3"),
    "id_erp_apprenant": ("identifiant de l'apprenant dans l'ERP, unique et stable", "E1042"),
    "ine_apprenant": ("INE (texte, mis en majuscules)", "1234567890A"),
    "tel_apprenant": ("téléphone français ou international", "06 12 34 56 78"),
    "libelle_court_formation": ("texte, 2 caractères au moins", "BTS MCO"),
    "annee_formation": ("nombre de 0 à 5", "1"),
    "formation_rncp": ("code RNCP (`RNCP` ajouté s'il manque)", "RNCP38362"),
    "custom_statut_apprenant": ("texte libre (le statut dans l'ERP)", "En contrat"),
    "sexe_apprenant": ("`M` ou `F` (`H`, `1`, `2` acceptés)", "F"),
    "duree_theorique_formation": ("nombre d'années, de 1 à 4", "2"),
    "duree_theorique_formation_mois": ("nombre de mois, de 1 à 48", "24"),
    "formation_cfd": ("code CFD : 8 lettres ou chiffres", "32033422"),
    "derniere_situation": ("code SIFA de la situation avant l'entrée (`0` : aucune)", "1003"),
    "dernier_organisme_uai": ("UAI, ou numéro de département", "0802004U"),
    "type_cfa": ("`01` à `10` (nomenclature de TDBA)", "01"),
    "nir_apprenant": ("NIR ; TDBA ne garde que le fait qu'il est donné", "2050380021042"),
    "etablissement_lieu_de_formation_uai": ("UAI : 7 chiffres et une lettre", "0802004U"),
}
_EXCEL_ONLY = "dans le modèle Excel de TDBA, colonne marquée `*`"


def describe(name: str) -> tuple[str, str]:
    """What the column ``name`` accepts (French) and an example cell."""
    if name in _BY_FIELD:
        return _BY_FIELD[name]
    return _BY_RULE[FIELDS[name].kind]


def markdown_table() -> str:
    """The README's table of the export's columns, in the order of TDBA's schema."""
    from tdba_wizard.nightly.excel import TEMPLATE_HEADERS

    starred = {h.replace("*", "").strip() for h in TEMPLATE_HEADERS if h.endswith("*")}
    lines = [
        "| colonne (nom TDBA) | obligatoire | forme acceptée | exemple |",
        "|---|---|---|---|",
    ]
    for name in DATA_FIELDS:
        forms, example = describe(name)
        if name in REQUIRED_FIELDS:
            needed = "**oui**"
        elif name in starred:
            needed = f"non ({_EXCEL_ONLY})"
        else:
            needed = "non"
        lines.append(f"| `{name}` | {needed} | {forms} | `{example}` |")
    return "\n".join(lines) + "\n"
