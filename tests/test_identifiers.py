"""Identifiers: the vectors of TDBA-API.md and properties of the algorithms."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tdba_wizard.identifiers import (
    IdentifierError,
    luhn_valid,
    mask_api_key,
    parse_api_key,
    parse_siren,
    parse_siret,
    parse_uai,
    uai_check_letter,
    validation_message,
)


@pytest.mark.parametrize(
    "siret", ["77937827200016", "13002526500013", "98765432400019", "35600000037209"]
)
def test_documented_valid_sirets(siret: str) -> None:
    assert parse_siret(siret) == siret


@pytest.mark.parametrize("siret", ["12345678901234", "35600000009090"])
def test_documented_invalid_sirets(siret: str) -> None:
    with pytest.raises(IdentifierError, match="clé de contrôle"):
        parse_siret(siret)


def test_siret_separators_are_tolerated() -> None:
    assert parse_siret(" 779 378 272 00016 ") == "77937827200016"
    assert parse_siret("779.378.272-00016") == "77937827200016"


def test_siret_wrong_length_says_how_many_digits() -> None:
    with pytest.raises(IdentifierError) as caught:
        parse_siret("7793782720001")
    assert caught.value.message == ("Le SIRET doit comporter 14 chiffres ; vous en avez saisi 13.")


def test_siret_non_digit_is_named_with_its_position() -> None:
    with pytest.raises(IdentifierError, match="« O » en position 5"):
        parse_siret("7793O827200016")


def test_siret_empty() -> None:
    with pytest.raises(IdentifierError, match="vide"):
        parse_siret("   ")


@pytest.mark.parametrize("uai", ["0802004U", "0755805C", "0951099D", "0133336F", " 0802004u "])
def test_documented_valid_uais(uai: str) -> None:
    assert parse_uai(uai) == uai.strip().upper()


@pytest.mark.parametrize(
    ("uai", "expected"), [("0951099C", "D"), ("1234567A", "W"), ("0123456A", "S")]
)
def test_uai_wrong_letter_names_the_right_one(uai: str, expected: str) -> None:
    with pytest.raises(IdentifierError) as caught:
        parse_uai(uai)
    assert caught.value.message.startswith(f"La lettre clé de l'UAI {uai} devrait être {expected} ")


@pytest.mark.parametrize("uai", ["080200U", "08020044U", "0802004", "0802004UU", "A802004U"])
def test_uai_bad_shape(uai: str) -> None:
    with pytest.raises(IdentifierError, match="UAI"):
        parse_uai(uai)


def test_uai_missing_letter_gives_the_letter() -> None:
    with pytest.raises(IdentifierError, match="la lettre clé est U"):
        parse_uai("0802004")


def test_siren() -> None:
    assert parse_siren("779 378 272") == "779378272"
    assert parse_siren("356000000") == "356000000"
    with pytest.raises(IdentifierError, match="SIREN"):
        parse_siren("779378273")
    with pytest.raises(IdentifierError, match="9 chiffres ; vous en avez saisi 8"):
        parse_siren("77937827")


def _complete_luhn(prefix: str) -> str:
    for last in "0123456789":
        if luhn_valid(prefix + last):
            return prefix + last
    raise AssertionError("unreachable")


non_la_poste_siret = (
    st.text(alphabet="0123456789", min_size=13, max_size=13)
    .filter(lambda p: not p.startswith("356000000"))
    .map(_complete_luhn)
)


@given(non_la_poste_siret)
def test_generated_sirets_pass(siret: str) -> None:
    assert parse_siret(siret) == siret


@given(non_la_poste_siret, st.integers(0, 13), st.integers(1, 9))
def test_any_single_changed_digit_fails(siret: str, position: int, delta: int) -> None:
    changed = str((int(siret[position]) + delta) % 10)
    altered = siret[:position] + changed + siret[position + 1 :]
    if altered.startswith("356000000"):
        return  # La Poste's rule is not Luhn; the property is about Luhn only.
    with pytest.raises(IdentifierError):
        parse_siret(altered)


@given(st.text(alphabet="0123456789", min_size=5, max_size=5))
def test_generated_la_poste_sirets_pass(tail: str) -> None:
    prefix = "356000000" + tail[:4]
    for last in "0123456789":
        candidate = prefix + last
        if sum(map(int, candidate)) % 5 == 0:
            assert parse_siret(candidate) == candidate


@given(st.integers(0, 9_999_999))
def test_generated_uais_pass_and_other_letters_fail(number: int) -> None:
    digits = f"{number:07d}"
    letter = uai_check_letter(digits)
    assert parse_uai(digits + letter) == digits + letter
    for other in "ABCDEFGHJKLMNPRSTUVWXYZ":
        if other != letter:
            with pytest.raises(IdentifierError, match=f"devrait être {letter}"):
                parse_uai(digits + other)


DEMO_KEY = "1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d"


@pytest.mark.parametrize(
    "pasted",
    [
        DEMO_KEY,
        f"  {DEMO_KEY}\n",
        f'"{DEMO_KEY}"',
        f"« {DEMO_KEY} »",
        f"Bearer {DEMO_KEY}",
        DEMO_KEY.upper(),
        f"\ufeff{DEMO_KEY}\r\n",
    ],
)
def test_pasted_key_is_cleaned(pasted: str) -> None:
    assert parse_api_key(pasted) == DEMO_KEY


@pytest.mark.parametrize(
    ("pasted", "fragment"),
    [
        ("", "vide"),
        (DEMO_KEY[:-1], "en compte 35"),
        (DEMO_KEY.replace("5f60", "5g60"), "lettres de a à f"),
        (DEMO_KEY.replace("-4a7b-", "-1a7b-"), "version 4"),
        (DEMO_KEY.replace("-8c9d-", "-cc9d-"), "version 4"),
    ],
)
def test_bad_keys_are_refused_without_echoing_them(pasted: str, fragment: str) -> None:
    with pytest.raises(IdentifierError) as caught:
        parse_api_key(pasted)
    assert fragment in caught.value.message
    assert "TDBA → Paramètres" in caught.value.message
    if pasted:
        assert pasted[:8] not in str(caught.value)


@given(st.uuids(version=4))
def test_any_uuid4_is_a_key(value: uuid.UUID) -> None:
    assert parse_api_key(str(value)) == str(value)


def test_mask_keeps_first_8_and_last_4() -> None:
    assert mask_api_key(DEMO_KEY) == "1b2c3d4e-••••-••••-••••-••••••••4c5d"
    assert mask_api_key("short") == "•••••"


def test_validation_message() -> None:
    assert validation_message(parse_uai, "0802004U") is None
    assert validation_message(parse_uai, "0802004A") is not None
