"""The fast paths agree with the rules: compiled patterns, the sandbox, rows read as cells.

Three implementations judge records: the rules (:func:`judge`), the column-wise
:class:`RowValidator` of the nightly job, and the sandbox over HTTP with its compiled batch
recognition. Generated records must get the same verdict, messages and order from each.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tdba_wizard.records.compiled import accepted, unchanged_cells, unchanged_pattern
from tdba_wizard.records.dossier import DATA_FIELDS, FIELDS, REQUIRED_FIELDS, judge
from tdba_wizard.records.rows import RowValidator, is_blank, judge_values
from tdba_wizard.sandbox import Sandbox
from tdba_wizard.wire import encode_json

BASE: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "upstream" / "records.json").read_text()
)["base"]
# Values TDBA accepts as they are, and values next to them (spaces, case, days, types...).
NEAR: dict[str, list[Any]] = {
    "date": ["2025-09-01", "2024-02-29", "2023-02-29", "2025-04-31", "2025-12-31", " 2025-09-01",
             "2025-09-01T08:00:00Z", "2025-09-01T08:00:00.000+02:00", "2025-09-01T24:00",
             "2025-9-1", "0000-01-01", "01/09/2025", "", 20250901],
    "nom_apprenant": ["MARTIN", "Martin", "DE LA FONTAINE", " MARTIN", "ß", "\u00a0", "", 7],
    "prenom_apprenant": ["Léa", " Léa", "Léa\u00a0", "L", "\u2003", "a\nb", "", 7],
    "annee_scolaire": ["2025-2026", "2025-2025", "2025-2027", "2025/2026", "1999-2000", 2025],
    "id_erp_apprenant": ["A1", " A1", "A1\x1c", "7", 7, "", True],
    "uai": ["0802004U", "0802004u", " 0802004U", "080200U", 802004],
    "siret": ["48401246400091", "484 012 464 00091", "4840124640009", 48401246400091],
    "statut_apprenant": [0, 2, 3, 1, "3", "2.5", 3.0, True],
    "email_contact": ["lea.martin@exemple.fr", "léa.martin@exemple.fr", " a@b.fr", "a@b",
                      "a..b@c.fr", "a'b@c.fr", "", 7],
    "tel_apprenant": ["0612345678", "06 12 34 56 78", "06.12.34.56.78", "+33 6 12 34 56 78",
                      "0690123456", "0590123456", "0262123456", "0899123456", "0012345678",
                      "", 612345678],
    "ine_apprenant": ["1234567890A", "1234567890a", " 1234567890A", 1234567890],
    "formation_rncp": ["RNCP34567", "rncp34567", "34567", "RNCP 34567", "RNCP1", 34567],
    "formation_cfd": ["32033422", "3203342a", "3203342"],
    "code_postal_apprenant": ["75011", "7501", 75011, " 75011", "7501A"],
    "code_commune_insee_apprenant": ["75111", "2A004", "2a004", "75A11", 75111],
    "sexe_apprenant": ["M", "F", "H", "m", 1, "1"],
    "rqth_apprenant": [True, False, "OUI", 1, 0],
    "annee_formation": [0, 3, 5, 6, -1, "3", True],
    "duree_theorique_formation": [1, 4, 5, 0, "2", False, 2.5],
    "duree_theorique_formation_mois": [24, 48, 49, 0, "24"],
    "libelle_court_formation": ["BTS MCO", "B", "BT", " BTS", "", 7],
    "adresse_apprenant": ["1 rue des Écoles", "", " 1 rue", "rue\t", 12],
    "derniere_situation": [1003, 9999, 1004, 0, "1003"],
    "dernier_organisme_uai": ["75", "075", "2A", "0802004U", "0802004u", "123", 75],
    "type_cfa": ["01", "10", "1", "11", 1],
    "siret_employeur": ["77937827200016", "7793782720001", "", 77937827200016, 1.5],
    "nir_apprenant": ["1 85 05 78 006 084 36", "", " ", 0],
    "api_version": ["v3", "v4"],
    "champ_inconnu": ["x", 1],
}  # fmt: skip


def kind(name: str) -> str:
    if "date" in name and name != "derniere_situation":
        return "date"
    if name.endswith("_uai") and name != "dernier_organisme_uai":
        return "uai"
    if name.endswith("_siret"):
        return "siret"
    return name


NAMES = sorted(name for name in (*FIELDS, "champ_inconnu") if kind(name) in NEAR)


def values_of(name: str) -> st.SearchStrategy[Any]:
    return st.sampled_from(NEAR[kind(name)]) | st.text(max_size=6)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """A valid record with one to three fields set to values near their normal form."""
    item = dict(BASE)
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(NAMES))
        item[name] = draw(values_of(name))
    if draw(st.booleans()):
        del item[draw(st.sampled_from(REQUIRED_FIELDS))]
    return item


@pytest.mark.parametrize("name", sorted(n for n in FIELDS if unchanged_pattern(n) is not None))
@settings(max_examples=60)
@given(data=st.data())
def test_a_cell_taken_as_it_is_is_accepted_without_a_change(name: str, data: st.DataObject) -> None:
    check = unchanged_cells(name)
    assert check is not None
    candidates = [v for v in NEAR.get(kind(name), []) if isinstance(v, str)]
    cell = data.draw((st.sampled_from(candidates) if candidates else st.nothing()) | st.text())
    try:
        check([cell])
    except ValueError:
        return
    if cell:
        judged = FIELDS[name].rule(cell)
        assert judged.messages == () and judged.note is None, (name, cell)


@settings(max_examples=300)
@given(records())
def test_the_compiled_batch_check_accepts_only_what_the_rules_accept(item: dict[str, Any]) -> None:
    [known] = accepted(encode_json([item]), 2000) or ["not an array"]
    if known is not None:
        judged = judge(item)
        assert judged.errors == []
        assert known == {k: v for k, v in item.items() if k in DATA_FIELDS}


def test_the_usual_record_is_accepted_in_compiled_code() -> None:
    usual = {**BASE, "email_contact": "lea.martin@exemple.fr",
             "tel_apprenant": "06 12 34 56 78", "statut_apprenant": 3, "rqth_apprenant": False,
             "duree_theorique_formation": 2, "formation_rncp": "RNCP34567", "sexe_apprenant": "F",
             "nir_apprenant": "185"}  # fmt: skip
    assert accepted(encode_json([usual]), 2000) == [usual]


@pytest.mark.parametrize("body", [b"", b"{}", b"[1", b'"x"', b'[{"x": NaN}]'])
def test_not_an_array_of_at_most_the_maximum(body: bytes) -> None:
    assert accepted(body, 2) in (None, [None])
    assert accepted(encode_json([BASE] * 3), 2) is None


@settings(max_examples=150, deadline=None)
@given(st.lists(records(), min_size=1, max_size=6))
def test_the_sandbox_answers_as_the_rules_judge(items: list[dict[str, Any]]) -> None:
    with Sandbox() as sandbox:
        key = sandbox.organismes[0].demo_key
        answer = httpx.post(
            sandbox.url + "v3/dossiers-apprenants",
            content=encode_json(items),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        ).json()
    for item, echoed in zip(items, answer["data"], strict=True):
        expected = [error.as_json() for error in judge(item).errors]
        assert echoed["validation_errors"] == expected


@settings(max_examples=200)
@given(records())
def test_rows_as_cells_are_judged_as_the_record(item: dict[str, Any]) -> None:
    """A CSV row holds strings: the same record as cells gets the same verdict."""
    cells = {k: v for k, v in item.items() if isinstance(v, str) and k in FIELDS}
    names = sorted(cells)
    row = [cells[name] for name in names]
    for same in (lambda name: None, unchanged_cells):
        judged = RowValidator(names, lambda name: None, same).validate(row)
        expected = judge_values({k: v for k, v in cells.items() if not is_blank(v)})
        if judged is None:
            assert all(map(is_blank, row))
            continue
        assert judged.errors == expected.errors
        assert judged.notes == expected.notes


def test_every_phone_range_taken_as_it_is_is_valid() -> None:
    """Every 0XYZ prefix, in each form the check knows: when the check takes a number as it
    is, TDBA accepts it (valid, not special)."""
    import random

    check = unchanged_cells("tel_apprenant")
    assert check is not None
    rng = random.Random(0)
    for prefix in range(100, 1000):
        for _ in range(4):
            digits = f"0{prefix}{rng.randint(0, 999999):06d}"
            pairs = [digits[i : i + 2] for i in range(0, 10, 2)]
            forms = [digits, " ".join(pairs), ".".join(pairs), "+33 " + digits[1] + " " +
                     " ".join(pairs[1:]), "+33" + digits[1:]]  # fmt: skip
            for form in forms:
                try:
                    check([form])
                except ValueError:
                    continue
                judged = FIELDS["tel_apprenant"].rule(form)
                assert judged.messages == (), form


def test_every_day_taken_as_it_is_is_a_real_day() -> None:
    check = unchanged_cells("date_de_naissance_apprenant")
    assert check is not None
    for year in (1999, 2000, 2023, 2024):
        for month in range(0, 14):
            for day in range(0, 33):
                text = f"{year}-{month:02d}-{day:02d}"
                try:
                    check([text])
                except ValueError:
                    continue
                judged = FIELDS["date_de_naissance_apprenant"].rule(text)
                assert judged.messages == () and judged.note is None, text
