"""The compiled recognition of records already in normal form must agree with the rules."""

from __future__ import annotations

from typing import Any

import pydantic_core
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tdba_wizard.api import encode_json
from tdba_wizard.dossiers import FIELD_RULES, REQUIRED_FIELDS, Drop, Invalid, validate_dossier
from tdba_wizard.normalised import recognised, same_cells, same_string

# Values in normal form and values near it (spaces, case, impossible days, other types...).
NEAR = {
    "date": ["2025-09-01", "2024-02-29", "2023-02-29", "2025-04-31", "2025-12-31", " 2025-09-01",
             "2025-09-01T08:00:00Z", "2025-09-01T08:00:00.000+02:00", "2025-9-1", "0000-01-01",
             "01/09/2025", "", 20250901],
    "nom_apprenant": ["MARTIN", "Martin", "DE LA FONTAINE", "ÉLODIE-ANNE", "O'NEIL", " MARTIN",
                      "ß", "STRASSE", "", 7],
    "prenom_apprenant": ["Léa", " Léa", "Léa\u00a0", "L", "\u2003", "a\nb", "", 7, None],
    "annee_scolaire": ["2025-2026", "2025-2025", "2025-2027", "2025/2026", "1999-2000", 2025],
    "id_erp_apprenant": ["A1", " A1", "A1\x1c", "7", 7, "", True, None],
    "uai": ["0802004U", "0802004u", " 0802004U", "080200U", 802004],
    "siret": ["48401246400091", "484 012 464 00091", "4840124640009", 48401246400091, "１２"],
    "statut_apprenant": [0, 2, 3, 1, "3", 3.0, True, False],
    "email_contact": ["lea.martin@exemple.fr", "léa.martin@exemple.fr", " a@b.fr", "a@b",
                      "a b@c.fr", "a@@b.fr", "", 7],
    "tel_apprenant": ["0612345678", "06 12 34 56 78", "+33612345678", "0012345678", "", 612345678],
    "ine_apprenant": ["1234567890A", "1234567890a", " 1234567890A", 1234567890],
    "formation_rncp": ["RNCP34567", "rncp34567", "34567", "RNCP 34567", "RNCP1", 34567],
    "formation_cfd": ["32033422", "3203342a", "3203342"],
    "code_postal_apprenant": ["75011", "7501", 75011, " 75011", "7501A"],
    "code_commune_insee_apprenant": ["75111", "2A004", "2a004", "75A11"],
    "sexe_apprenant": ["M", "F", "H", "m", 1, "1"],
    "rqth_apprenant": [True, False, "OUI", 1, 0],
    "annee_formation": [0, 3, 5, 6, -1, "3", True],
    "duree_theorique_formation": [1, 4, 5, 0, "2", False],
    "duree_theorique_formation_mois": [24, 48, 49, 0, "24"],
    "libelle_court_formation": ["BTS MCO", "B", "BT", " BTS", "", 7],
    "adresse_apprenant": ["1 rue des Écoles", "", " 1 rue", "rue\t", 12],
    "derniere_situation": [1003, 9999, 1004, 0, "1003"],
    "dernier_organisme_uai": ["75", "075", "2A", "0802004U", "0802004u", "123", 75],
    "type_cfa": ["01", "10", "1", "11", 1],
    "siret_employeur": ["77937827200016", "7793782720001", "", 77937827200016],
    "nir_apprenant": ["1 85 05 78 006 084 36", "", " "],
    "champ_inconnu": ["x", 1],
}  # fmt: skip
KIND = {
    name: "date" if name.startswith("date_") or name.startswith("contrat_date") else name
    for name in FIELD_RULES
}
for _name in ("etablissement_responsable_uai", "etablissement_formateur_uai"):
    KIND[_name] = "uai"
for _name in ("etablissement_responsable_siret", "etablissement_formateur_siret"):
    KIND[_name] = "siret"
BASE: dict[str, Any] = {
    "nom_apprenant": "MARTIN",
    "prenom_apprenant": "Léa",
    "date_de_naissance_apprenant": "2005-04-12",
    "annee_scolaire": "2025-2026",
    "id_erp_apprenant": "A1",
    "date_inscription_formation": "2025-07-01",
    "date_entree_formation": "2025-09-01",
    "date_fin_formation": "2027-06-30",
    "etablissement_responsable_uai": "0802004U",
    "etablissement_responsable_siret": "48401246400091",
    "etablissement_formateur_uai": "0802004U",
    "etablissement_formateur_siret": "48401246400091",
}
FIELDS = sorted(name for name in (*FIELD_RULES, "nir_apprenant", "champ_inconnu")
                if KIND.get(name, name) in NEAR)  # fmt: skip


def values_of(name: str) -> st.SearchStrategy[Any]:
    return st.sampled_from(NEAR[KIND.get(name, name)]) | st.text(max_size=6)


@pytest.mark.parametrize("name", FIELDS)
@settings(max_examples=40)
@given(data=st.data())
def test_a_recognised_record_is_what_the_rules_give(name: str, data: st.DataObject) -> None:
    # Each field in turn, with a value in normal form or near it, alone or with another one.
    item = {**BASE, name: data.draw(values_of(name))}
    other = data.draw(st.sampled_from(FIELDS))
    item[other] = data.draw(values_of(other))
    if data.draw(st.booleans()):
        del item[data.draw(st.sampled_from(REQUIRED_FIELDS))]
    [record] = recognised(encode_json([item]), 2000) or ["not an array"]
    if record is not None:
        assert validate_dossier(pydantic_core.from_json(encode_json(item))) == (record, [])


def test_the_usual_record_is_recognised() -> None:
    full = {**BASE, "email_contact": "léa.martin@exemple.fr", "tel_apprenant": "0612345678",
            "statut_apprenant": 3, "rqth_apprenant": False, "duree_theorique_formation": 2,
            "formation_rncp": "RNCP34567", "sexe_apprenant": "F", "champ_inconnu": "x"}  # fmt: skip
    [record] = recognised(encode_json([full]), 2000) or [None]
    assert record == validate_dossier(full)[0]
    assert record is not None and record["duree_theorique_formation_mois"] == 24


@pytest.mark.parametrize("name", sorted(set(FIELDS) - {"nir_apprenant"}))
def test_the_normal_form_of_each_field_is_recognised(name: str) -> None:
    usual = NEAR[KIND.get(name, name)][0]  # each list starts with a value in normal form
    [record] = recognised(encode_json([{**BASE, name: usual}]), 2000) or [None]
    assert record is not None and record == validate_dossier({**BASE, name: usual})[0]


@pytest.mark.parametrize("body", [b"", b"{}", b"[1", b'"x"', encode_json([BASE] * 3)])
def test_not_an_array_of_at_most_the_maximum(body: bytes) -> None:
    assert recognised(body, 2) is None


@pytest.mark.parametrize("name", sorted(FIELD_RULES))
@settings(max_examples=40)
@given(data=st.data())
def test_a_cell_taken_as_it_is_is_what_the_rule_gives(name: str, data: st.DataObject) -> None:
    check = same_cells(name)
    if check is None:
        assert same_string(name) is None
        return
    candidates = [v for v in NEAR.get(KIND.get(name, name), []) if isinstance(v, str)]
    cell = data.draw((st.sampled_from(candidates) if candidates else st.nothing()) | st.text())
    try:
        check([cell])
    except ValueError:
        return
    if cell == "":
        return  # an empty cell is absent, before any rule
    try:
        assert FIELD_RULES[name](cell) == cell
    except (Invalid, Drop):
        pytest.fail(f"{name}: {cell!r} taken as it is, but the rule refuses it")
