"""The v3 record rules, unit by unit (the contract tests check them over HTTP too)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tdba_wizard.dossiers import REQUIRED_FIELDS, FieldError, validate_dossier
from tdba_wizard.sandbox import load_seed

from .conftest import valid_record

ORGANISME = load_seed().organismes[0]


def errors_of(**changes: object) -> list[FieldError]:
    return validate_dossier(valid_record(ORGANISME, **changes))[1]


def test_valid_record_has_no_error() -> None:
    record, errors = validate_dossier(valid_record(ORGANISME))
    assert errors == []
    assert record["nom_apprenant"] == "MARTIN"


def test_all_required_fields_missing() -> None:
    _, errors = validate_dossier({})
    assert [e.path[0] for e in errors] == list(REQUIRED_FIELDS)
    assert {e.message for e in errors} == {"Champ obligatoire", "String attendu"}


def test_not_an_object() -> None:
    assert validate_dossier("x")[1] == [FieldError("Object attendu", ())]


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_any_real_date_is_accepted_with_or_without_time(day: dt.date) -> None:
    assert errors_of(date_de_naissance_apprenant=day.isoformat()) == []
    assert errors_of(date_de_naissance_apprenant=f"{day.isoformat()}T00:00:00.000Z") == []


@pytest.mark.parametrize("value", ["2023-02-30", "28/10/2000", "", " ", 20001028, "2000-1-28"])
def test_bad_dates(value: object) -> None:
    assert errors_of(date_entree_formation=value) == [
        FieldError("Date invalide", ("date_entree_formation",))
    ]


@pytest.mark.parametrize(
    ("value", "ok"), [("2024-2024", True), ("2024 / 2025", True), ("2025-2024", False)]
)
def test_annee_scolaire(value: str, ok: bool) -> None:
    assert (errors_of(annee_scolaire=value) == []) is ok


@pytest.mark.parametrize(
    "value", ["0612345678", "06.12.34.56.78", "+33612345678", "+4915123456789"]
)
def test_phones_accepted(value: str) -> None:
    assert errors_of(tel_apprenant=value) == []


def test_empty_phone_is_null() -> None:
    record, errors = validate_dossier(valid_record(ORGANISME, tel_apprenant=""))
    assert errors == [] and "tel_apprenant" not in record


@pytest.mark.parametrize(("value", "expected"), [("H", "M"), (1, "M"), ("f", "F"), (2, "F")])
def test_sexe_mapping(value: object, expected: str) -> None:
    record, _ = validate_dossier(valid_record(ORGANISME, sexe_apprenant=value))
    assert record["sexe_apprenant"] == expected


def test_statut_as_string_and_type_cfa_padding() -> None:
    record, errors = validate_dossier(valid_record(ORGANISME, statut_apprenant="2", type_cfa=9))
    assert errors == [] and record["statut_apprenant"] == 2 and record["type_cfa"] == "09"


def test_contracts_2_to_4() -> None:
    record, errors = validate_dossier(
        valid_record(ORGANISME, contrat_date_debut_4="2025-09-01", siret_employeur_3="12")
    )
    assert errors == [] and record["contrat_date_debut_4"] == "2025-09-01"
    assert "siret_employeur_3" not in record
    assert errors_of(contrat_date_fin_2="bad") == [
        FieldError("Date invalide", ("contrat_date_fin_2",))
    ]


def test_remembered_values_keep_types_apart() -> None:
    """Results are remembered per value; 1, "1" and True must still be judged each on its own."""
    for _ in range(2):  # the second pass answers from what the first remembered
        assert errors_of(annee_formation=1) == []
        assert errors_of(annee_formation="1") == []
        assert errors_of(annee_formation=True) == [
            FieldError("Number attendu", ("annee_formation",))
        ]
        assert errors_of(rqth_apprenant=True) == []
        assert errors_of(rqth_apprenant=1) == [FieldError("Boolean attendu", ("rqth_apprenant",))]
        assert errors_of(date_entree_formation="2025-02-30") == [
            FieldError("Date invalide", ("date_entree_formation",))
        ]
    record, _ = validate_dossier(valid_record(ORGANISME, annee_formation="2"))
    assert record["annee_formation"] == 2
