"""French identifiers (SIRET, SIREN, UAI) and the TDBA API key: parsing and validation.

Pure functions, no I/O. Each ``parse_*`` returns the normalised value or raises
:class:`IdentifierError` whose message (in French) names the field and says how to fix it. The
TUI validators and the CLI call these same functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tdba_wizard.errors import InputError

UAI_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
LA_POSTE_SIREN = "356000000"
_SEPARATORS = re.compile(r"[\s.\-]")
_UUID_V4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_UUID_SHAPE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Characters a paste may carry around the key: quotes of every kind, whitespace, zero-width.
_KEY_WRAPPERS = " \t\r\n\u00a0\u202f\u200b\ufeff\"'`«»“”‘’"
MASK_CHAR = "•"


class IdentifierError(InputError, ValueError):
    """An identifier or key that cannot be accepted; the message says why and what to do.

    A ``ValueError`` too, so that pydantic validators report it as a field error.
    """


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count > 1 else ''}"


def _digits_only(raw: str, label: str, expected: int) -> str:
    """Strip separators and check that exactly ``expected`` digits remain."""
    value = _SEPARATORS.sub("", raw)
    if not value:
        raise IdentifierError(f"Le {label} est vide : saisissez ses {expected} chiffres.")
    for position, char in enumerate(value, start=1):
        if not char.isdigit() or not char.isascii():
            raise IdentifierError(
                f"Le {label} ne doit contenir que des chiffres : « {char} » en position "
                f"{position} n'en est pas un."
            )
    if len(value) != expected:
        raise IdentifierError(
            f"Le {label} doit comporter {expected} chiffres ; vous en avez saisi {len(value)}."
        )
    return value


def luhn_valid(digits: str) -> bool:
    """Return True when the digit string passes the Luhn check."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def siret_checksum_valid(siret: str) -> bool:
    """Return True when a 14-digit SIRET has a valid key (Luhn, or La Poste's rule)."""
    if siret.startswith(LA_POSTE_SIREN):
        return sum(int(c) for c in siret) % 5 == 0
    return luhn_valid(siret)


def parse_siret(raw: str) -> str:
    """Return the 14 digits of a SIRET typed with or without spaces, dots or dashes."""
    siret = _digits_only(raw, "SIRET", 14)
    if not siret_checksum_valid(siret):
        raise IdentifierError(
            f"Le SIRET {siret} n'est pas valide : sa clé de contrôle ne correspond pas. "
            "Un chiffre est probablement erroné ou inversé ; recopiez-le depuis "
            "l'annuaire des entreprises (annuaire-entreprises.data.gouv.fr)."
        )
    return siret


def parse_siren(raw: str) -> str:
    """Return the 9 digits of a SIREN typed with or without separators."""
    siren = _digits_only(raw, "SIREN", 9)
    if siren != LA_POSTE_SIREN and not luhn_valid(siren):
        raise IdentifierError(
            f"Le SIREN {siren} n'est pas valide : sa clé de contrôle ne correspond pas. "
            "Vérifiez chaque chiffre."
        )
    return siren


def uai_check_letter(digits: str) -> str:
    """Return the check letter of the 7 leading digits of a UAI."""
    return UAI_LETTERS[int(digits) % 23]


def parse_uai(raw: str) -> str:
    """Return a UAI (7 digits and its check letter), trimmed and uppercased."""
    uai = raw.strip().upper()
    if not uai:
        raise IdentifierError("L'UAI est vide : saisissez 7 chiffres suivis d'une lettre.")
    digits, letter = uai[:7], uai[7:]
    if not (digits.isascii() and digits.isdigit()) or len(digits) != 7:
        count = sum(1 for c in uai if c.isdigit())
        raise IdentifierError(
            "L'UAI doit commencer par 7 chiffres suivis d'une lettre (exemple : 0802004U) ; "
            f"{_plural(count, 'chiffre')} saisi{'s' if count > 1 else ''}."
        )
    if len(letter) != 1 or not ("A" <= letter <= "Z"):
        raise IdentifierError(
            "L'UAI doit se terminer par une seule lettre après les 7 chiffres "
            f"(pour {digits}, la lettre clé est {uai_check_letter(digits)})."
        )
    expected = uai_check_letter(digits)
    if letter != expected:
        raise IdentifierError(
            f"La lettre clé de l'UAI {uai} devrait être {expected} : vérifiez l'UAI "
            "(il figure dans TDBA et dans l'annuaire de l'Éducation nationale)."
        )
    return uai


def clean_api_key(raw: str) -> str:
    """Return a pasted key without surrounding whitespace, quotes or a ``Bearer`` prefix."""
    key = raw.strip(_KEY_WRAPPERS)
    if key[:7].lower() == "bearer ":
        key = key[7:].strip(_KEY_WRAPPERS)
    return key.lower()


def parse_api_key(raw: str) -> str:
    """Return a TDBA exchange key (UUID v4) from a pasted value; never echoes the value."""
    key = clean_api_key(raw)
    how_to = (
        "Copiez-la à nouveau dans TDBA → Paramètres → « Vous avez un ERP ? » → « Copier la clé »."
    )
    if not key:
        raise IdentifierError(f"La clé d'échange est vide. {how_to}")
    if len(key) != 36:
        raise IdentifierError(
            "La clé d'échange doit comporter 36 caractères (format "
            f"xxxxxxxx-xxxx-4xxx-xxxx-xxxxxxxxxxxx) ; la valeur collée en compte {len(key)}. "
            f"{how_to}"
        )
    if not _UUID_SHAPE.match(key):
        raise IdentifierError(
            "La clé d'échange ne doit contenir que des chiffres, des lettres de a à f et des "
            f"tirets aux positions 9, 14, 19 et 24. {how_to}"
        )
    if not _UUID_V4.match(key):
        raise IdentifierError(
            "Cette valeur n'est pas une clé d'échange TDBA (un identifiant UUID version 4 : "
            f"le 15e caractère doit être 4). {how_to}"
        )
    return key


def mask_api_key(key: str) -> str:
    """Return the key with all but its first 8 and last 4 characters hidden (hyphens kept)."""
    if len(key) <= 12:
        return MASK_CHAR * len(key)
    middle = "".join("-" if c == "-" else MASK_CHAR for c in key[8:-4])
    return key[:8] + middle + key[-4:]


def validation_message(parser: Callable[[str], str], raw: str) -> str | None:
    """Return the French message of ``parser`` for ``raw``, or None when it is valid."""
    try:
        parser(raw)
    except IdentifierError as error:
        return error.message
    return None
