"""The v3 rules exactly as TDBA's route judges them: rule by rule, then against its answers.

Each rule's test names where upstream defines it, in ``mission-apprentissage/flux-retour-cfas``
at commit 12cb59e9 (``shared/models/parts/zodPrimitives.ts`` is ``P``, ``.../
dossierApprenantSchemaV3.ts`` is ``V3``). The corpus tests at the end replay answers that TDBA's
own code gave (``tests/data/upstream``, see its README).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tdba_wizard.records import jsdate
from tdba_wizard.records.dossier import (
    REQUIRED_FIELDS,
    SCHEMA,
    echo_values,
    has_nir,
    judge,
)
from tdba_wizard.records.js import UNDEFINED, json_value
from tdba_wizard.sandbox import Sandbox
from tdba_wizard.sandbox.jsonerrors import parse_error

UPSTREAM = Path(__file__).parent / "data" / "upstream"
BASE: dict[str, Any] = json.loads((UPSTREAM / "records.json").read_text())["base"]


def verdict(name: str, value: Any) -> tuple[list[str], Any]:
    """Return (messages of the field, value kept) for the base record with ``name`` set."""
    item = dict(BASE)
    if value is UNDEFINED:
        item.pop(name, None)
    else:
        item[name] = value
    judged = judge(item)
    messages = [e.message for e in judged.errors if e.path == (name,)]
    return messages, judged.output.get(name, UNDEFINED)


def case(name: str, value: Any, messages: list[str], kept: Any = None) -> None:
    found, output = verdict(name, value)
    assert found == messages, (name, value)
    if not messages and kept is not None:
        assert output == kept, (name, value)


# -- rule by rule ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "messages", "kept"),
    [
        (" dupont ", [], "DUPONT"),
        ("straße", [], "STRASSE"),  # toUpperCase, as JavaScript does it
        ("   ", ["String must contain at least 1 character(s)"], None),
        ("\u00a0\ufeff", ["String must contain at least 1 character(s)"], None),
        ("\x1c", [], "\x1c"),  # not whitespace for JavaScript's trim()
        (12, ["String attendu"], None),
        (UNDEFINED, ["String attendu"], None),
    ],
)
def test_nom(value: Any, messages: list[str], kept: Any) -> None:
    """P:188 ``z.string().trim().min(1).toUpperCase()``; type errors through the error map
    of P:24 (``capitalize(expected) attendu``), zod's English default for the rest."""
    case("nom_apprenant", value, messages, kept)


@pytest.mark.parametrize(
    ("value", "messages"),
    [("a", ["String must contain at least 2 character(s)"]), ("😀", []), (" ab ", [])],
)
def test_libelle_court_counts_utf16_units(value: str, messages: list[str]) -> None:
    """P:305 ``.trim().min(2)``: lengths in UTF-16 code units (an emoji counts two)."""
    case("libelle_court_formation", value, messages)


@pytest.mark.parametrize(
    ("value", "messages", "kept"),
    [
        ("2005-02-30", [], "2005-03-02T00:00:00.000Z"),  # new Date() rolls the day over
        ("2005-03-02garbage", ["Invalid date"], None),
        ("2005-03-02T25:00:00", ["Invalid date"], None),
        ("2005-13-01", ["Invalid date"], None),
        (" 2005-03-02", ["Date invalide"], None),  # the pattern is tested before trim()
        ("2005-03-02 ", [], "2005-03-02T00:00:00.000Z"),
        ("2005-03-02 10:00", [], "2005-03-02T10:00:00.000Z"),  # V8's legacy grammar
        ("2005-03-02T24:00", [], "2005-03-03T00:00:00.000Z"),
        ("2005-03-02T10:00:00+01:00", [], "2005-03-02T09:00:00.000Z"),
        ("02/03/2005", ["Date invalide"], None),
        ("", ["Date invalide"], None),
        (20050302, ["Date invalide"], None),
        (UNDEFINED, ["Champ obligatoire"], None),
    ],
)
def test_dates(value: Any, messages: list[str], kept: Any) -> None:
    """P:151 ``iso8601Date``: a string matching ``^[0-9]{4}-[0-9]{2}-[0-9]{2}`` (P:36) read
    by ``new Date(v.trim())``; ``invalid_type_error: "Date invalide"``, ``required_error:
    "Champ obligatoire"``, zod's "Invalid date" for an impossible date."""
    case("date_entree_formation", value, messages, kept)


@pytest.mark.parametrize(
    ("value", "messages", "kept"),
    [
        ("a@b.fr", [], "a@b.fr"),
        (" a@b.fr ", [], "a@b.fr"),
        ("léa@exemple.fr", ["Email non valide"], None),
        ("a@b.c", ["Email non valide"], None),
        ("a..b@x.fr", ["Email non valide"], None),
        (".a@x.fr", ["Email non valide"], None),
        ("a'b@x.fr", [], "a'b@x.fr"),
        ("A@X.FR", [], "A@X.FR"),
        ("a@b.fr\n", [], "a@b.fr"),
        (7, ["String attendu"], None),
    ],
)
def test_email_is_zods_pattern(value: Any, messages: list[str], kept: Any) -> None:
    """P:219 ``z.string().trim().email("Email non valide")``, zod 3.25's e-mail pattern."""
    case("email_contact", value, messages, kept)


def test_referent_email_is_not_trimmed() -> None:
    """P:482 ``z.string().email(...)`` without trim()."""
    case("email_referent_handicap_formation", " a@b.fr", ["Email non valide"])


@pytest.mark.parametrize(
    ("value", "messages", "kept"),
    [
        ("06 12 34 56 78", [], "0612345678"),
        ("+33612345678", [], "0612345678"),
        ("0033612345678", [], "0612345678"),
        ("612345678", [], "0612345678"),  # a national number without its leading 0
        ("0899123456", ["Numéro de téléphone est un numéro spécial"], None),
        ("0810123456", ["Numéro de téléphone est un numéro spécial"], None),
        ("0690123456", [], "+590690123456"),  # read with the Guadeloupe's plan
        ("+33594123456", ["Numéro de téléphone invalide"], None),  # possible, not valid
        ("+447911123456", [], "+447911123456"),
        ("0612345678x123", [], "0612345678"),  # an extension
        ("06123456", ["Format invalide"], None),
        ("abc", ["Format invalide"], None),
        ("", [], None),
        (612345678, [], "0612345678"),
    ],
)
def test_telephone_is_libphonenumber_js(value: Any, messages: list[str], kept: Any) -> None:
    """P:94 ``phone()``: ``z.coerce.string()``, ``[-.()\\s]`` removed, libphonenumber-js's
    ``parsePhoneNumberFromString`` with the region of shared/utils/phone.ts:26, then
    ``isPossible`` → "Format invalide", ``isValid`` → "Numéro de téléphone invalide", a special
    type → "Numéro de téléphone est un numéro spécial"; France kept as 0XXXXXXXXX."""
    case("tel_apprenant", value, messages, kept)


@pytest.mark.parametrize(
    ("value", "messages", "kept"),
    [
        ("2025/2026", [], "2025-2026"),
        ("2025 - 2026", [], "2025-2026"),
        ("2025-2025", [], "2025-2025"),
        ("2025-2027", [
            "Format invalide (format attendu : 2023-2024). Les années doivent être "
            "consécutives ou identiques (ex : 2023-2024 ou 2023-2023)"], None),
        (2025, [
            "Format invalide (format attendu : 2023-2024). Les années doivent être "
            "consécutives ou identiques (ex : 2023-2024 ou 2023-2023)"], None),
        (0, ["String attendu"], None),
    ],
)  # fmt: skip
def test_annee_scolaire(value: Any, messages: list[str], kept: Any) -> None:
    """P:323: ``v ? String(v).replace(/\\//g, "-").replaceAll(" ", "") : v``, then the
    refine with its message (``ex : 2023-2024 ou 2023-2023``)."""
    case("annee_scolaire", value, messages, kept)


@pytest.mark.parametrize(
    ("value", "messages", "kept"),
    [(3, [], 3), ("2", [], 2), ("3abc", [], 3), ("2.5", [], 2), (2.0, [], 2),
     ("abc", ["Valeurs possibles: 0,2,3"], None), (1, ["Valeurs possibles: 0,2,3"], None),
     (True, ["Valeurs possibles: 0,2,3"], None)],
)  # fmt: skip
def test_statut(value: Any, messages: list[str], kept: Any) -> None:
    """P:201: ``parseInt(v, 10)`` for a string, then the union of constants/dossierApprenant.ts:14
    with its own message."""
    case("statut_apprenant", value, messages, kept)


@pytest.mark.parametrize(
    ("value", "messages", "kept"),
    [
        (5, [], 5),
        ("3", [], 3),
        (True, [], 1),  # Number(true)
        ([3], [], 3),  # Number([3])
        ("", ["Number attendu"], None),
        ("abc", ["Number attendu"], None),
        (2.5, ["Integer attendu"], None),
        (6, ["Le chiffre doit être inférieur ou égal à 5"], None),
        (-1, ["Number must be greater than or equal to 0"], None),
        ("Infinity", ["Integer attendu", "Le chiffre doit être inférieur ou égal à 5"], None),
    ],
)
def test_annee_formation(value: Any, messages: list[str], kept: Any) -> None:
    """P:351: ``v ? Number(v) : v``, then ``.int().min(0).max(5, ...)``: every failing check
    is a message, in that order."""
    case("annee_formation", value, messages, kept)


@pytest.mark.parametrize(
    ("value", "messages", "kept"),
    [("M", [], "M"), ("H", [], "M"), (1, [], "M"), ("2", [], "F"), (" F ", [], "F"),
     ("m", ["M, H ou F attendu"], None), ("HH", ["M, H ou F attendu"], None),
     (True, ["M, H ou F attendu"], None)],
)  # fmt: skip
def test_sexe(value: Any, messages: list[str], kept: Any) -> None:
    """P:397: the first H, 1 and 2 replaced, then ``z.enum(["M", "F"], {message})``."""
    case("sexe_apprenant", value, messages, kept)


@pytest.mark.parametrize(
    ("value", "messages", "kept"),
    [
        ("1", [], "01"),
        (10, [], "10"),
        ("11", ["Invalid enum value. Expected '01' | '02' | '03' | '04' | '05' | '06' | '07' | "
                "'08' | '09' | '10', received '11'"], None),
        (True, ["'01' | '02' | '03' | '04' | '05' | '06' | '07' | '08' | '09' | '10' attendu"],
         None),
    ],
)  # fmt: skip
def test_type_cfa(value: Any, messages: list[str], kept: Any) -> None:
    """P:530: padded to two, then ``z.enum`` with zod's own messages (through P:24's map)."""
    case("type_cfa", value, messages, kept)


@pytest.mark.parametrize(
    ("value", "messages", "kept"),
    [(1003, [], 1003), ("4101", [], 4101), (0, [], UNDEFINED), (1004, ["Invalid input"], None),
     ("x", ["Invalid input"], None)],
)  # fmt: skip
def test_derniere_situation(value: Any, messages: list[str], kept: Any) -> None:
    """P:514: SIFA codes (constants/dossierApprenant.ts:57) or 0, which means none; zod's
    "Invalid input" for the union."""
    case("derniere_situation", value, messages, kept)


@pytest.mark.parametrize(
    ("name", "value", "messages", "kept"),
    [
        ("etablissement_formateur_uai", " 0802004u ", [], "0802004U"),
        ("etablissement_formateur_uai", "0802004", ["UAI invalide"], None),
        ("etablissement_formateur_siret", "484 012 464.00091", [], "48401246400091"),
        ("etablissement_formateur_siret", 48401246400091, [], "48401246400091"),
        ("etablissement_formateur_siret", "", ["Siret invalide. Format attendu : 14 chiffres"],
         None),
        ("etablissement_formateur_siret", 0, ["String attendu"], None),
        ("id_erp_apprenant", "", [], ""),  # falsy: not converted, and "" is a string
        ("id_erp_apprenant", 12, [], "12"),
        ("id_erp_apprenant", 0, ["String attendu"], None),
        ("ine_apprenant", " 1234567890a", [], "1234567890A"),
        ("formation_rncp", "35316", [], "RNCP35316"),
        ("formation_rncp", "rncp 35-316", [], "RNCP35316"),
        ("formation_rncp", "1", ["Code RNCP invalide"], None),
        ("formation_cfd", 50022141, [], "50022141"),
        ("code_postal_apprenant", 1000, [], "01000"),
        ("code_postal_apprenant", "", ["Le code postal doit faire 5 caractères numériques "
                                       "exactement"], None),
        ("code_postal_de_naissance_apprenant", "7500A", [], None),  # silently null
        ("code_commune_insee_apprenant", " 75056", ["Format invalide"], None),  # not trimmed
        ("dernier_organisme_uai", 75, [], "75"),
        ("siret_employeur", "123", [], None),  # silently null
        ("duree_theorique_formation", "2", [], 2),
        ("duree_theorique_formation", 9, [], None),
        ("rqth_apprenant", "true", ["Boolean attendu"], None),
        ("custom_statut_apprenant", 12, [], "12"),
        ("cause_exclusion_formation", 3, ["String attendu"], None),
    ],
)  # fmt: skip
def test_other_fields(name: str, value: Any, messages: list[str], kept: Any) -> None:
    """Each as upstream declares it: P:145 (uai), P:139 (siret), P:211 (id_erp), P:215
    (ine), P:284 (RNCP), P:301 (CFD), P:389 (code postal), P:80 (codePostalOrNull), P:177
    (INSEE, no trim), P:521 (dernier organisme), P:87 (siretOrNull), P:69 (numberOrNull),
    P:406 (booleans), P:551 (custom statut), P:467 (plain strings)."""
    case(name, value, messages, kept)


def test_server_fields_are_still_validated() -> None:
    """V3:143-145: ``api_version`` and ``source_organisme_id`` are in the input schema (the
    server overwrites them afterwards)."""
    case("api_version", "v4", ["Invalid input"])
    case("api_version", "", [])
    case("source_organisme_id", 5, ["String attendu"])


def test_errors_come_in_the_schema_order() -> None:
    """zod reads an object's fields in the schema's order (V3:20-113, then V3:128-145)."""
    judged = judge({"type_cfa": True, "nom_apprenant": 1, "tel_apprenant": "x"})
    paths = [error.path[0] for error in judged.errors]
    order = [spec.name for spec in SCHEMA]
    assert paths == sorted(paths, key=order.index)
    assert paths[0] == "nom_apprenant" and paths[-1] == "type_cfa"


@pytest.mark.parametrize("item", [None, 1, "ab", [], [1, None], True])
def test_an_item_that_is_not_an_object_is_an_empty_record(item: Any) -> None:
    """dossiers-apprenants.routes.ts:28 ``stripNullProperties`` makes ``{}`` of these."""
    judged = judge(item)
    assert [error.path[0] for error in judged.errors] == list(REQUIRED_FIELDS)


def test_the_echo_keeps_raw_values_and_never_the_nir() -> None:
    """routes.ts:42-58: the values as given, of the schema's fields, ``has_nir`` from the raw
    NIR; unknown fields and the NIR are not echoed."""
    item = {**BASE, "nom_apprenant": " dupont ", "nir_apprenant": " ", "x": 1}
    echo = echo_values(item)
    assert echo["nom_apprenant"] == " dupont " and "nir_apprenant" not in echo and "x" not in echo
    assert has_nir(item) is True  # Boolean(" ")
    assert has_nir({**BASE, "nir_apprenant": ""}) is False


# -- against TDBA's own answers -----------------------------------------------------------


def _item(case_: dict[str, Any]) -> Any:
    if "item" in case_:
        return case_["item"]
    item = {k: v for k, v in BASE.items() if k not in case_["dropped"]}
    item.update(case_["changes"])
    return item


RECORDS = json.loads((UPSTREAM / "records.json").read_text())["cases"]


def test_every_record_of_the_corpus_is_judged_as_tdba_judged_it() -> None:
    """1,700 items: the same errors (messages, paths, order), the same has_nir, and the same
    values kept, as the route at the pinned commit gave."""
    for index, case_ in enumerate(RECORDS):
        item = _item(case_)
        judged = judge(item)
        assert [e.as_json() for e in judged.errors] == case_["errors"], (index, item)
        assert has_nir(item) == case_["has_nir"], (index, item)
        for name, kept in case_.get("kept", {}).items():
            assert judged.output.get(name, "<absent>") == kept, (index, name, item)


def test_every_body_is_answered_by_the_sandbox_as_by_tdba(sandbox: Sandbox) -> None:
    """139 bodies (malformed JSON, non-arrays, items of every kind): the same status, the
    same body, the echo and its key order included (``_id`` and dates aside)."""
    answers = json.loads((UPSTREAM / "bodies.json").read_text())
    key = sandbox.organismes[0].demo_key
    volatile = {"updated_at", "created_at", "processed_at", "_id", "source_organisme_id"}
    with httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {key}"}) as http:
        for expected in answers:
            body = expected["body"].encode("utf-8", "surrogateescape")
            response = http.post(
                "v3/dossiers-apprenants",
                content=body,
                headers={"Content-Type": "application/json"},
            )
            answer = response.json()
            if isinstance(answer, dict) and isinstance(answer.get("data"), list):
                answer["data"] = [
                    {k: v for k, v in item.items() if k not in volatile} for item in answer["data"]
                ]
                assert [list(i) for i in answer["data"]] == [
                    list(i) for i in expected["answer"]["data"]
                ]
            assert (response.status_code, answer) == (expected["status"], expected["answer"]), body


def test_2001_items_are_refused_with_jois_text(sandbox: Sandbox) -> None:
    """routes.ts:27 ``Joi.array().max(2000)``, reported by errorMiddleware.ts:33-36."""
    expected = json.loads((UPSTREAM / "too_many.json").read_text())
    key = sandbox.organismes[0].demo_key
    response = httpx.post(
        sandbox.url + "v3/dossiers-apprenants",
        json=[{}] * 2001,
        headers={"Authorization": f"Bearer {key}"},
    )
    body = response.json()
    detail = body["details"][0]
    assert response.status_code == expected["status"] and body["message"] == expected["message"]
    assert {k: v for k, v in detail.items() if k != "context"} == expected["detail"]
    assert list(detail["context"]) == expected["context_keys"]
    assert detail["context"]["value"] == [{}] * 2001


def test_dates_are_read_as_node_22_reads_them() -> None:
    """2,500 strings that start like a date: ``new Date(s).getTime()`` under Node.js 22.6."""
    for text, expected in json.loads((UPSTREAM / "dates.json").read_text()):
        got = jsdate.parse(text)
        assert (None if got != got else got) == expected, text


def test_json_parse_errors_are_v8s() -> None:
    """800 texts: the message of ``JSON.parse`` under Node.js 22.6 (null: valid JSON)."""
    for text, expected in json.loads((UPSTREAM / "json_errors.json").read_text()):
        assert parse_error(text) == expected, text


def test_json_value_is_what_javascript_holds() -> None:
    """JSON.parse keeps doubles: a big integer is rounded, 2.0 is 2."""
    assert json_value(123456789012345678901234567890) == 1.2345678901234568e29
    assert json_value([2.0, -0.0]) == [2, 0]
