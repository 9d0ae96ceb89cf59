"""The rule of each v3 field, exactly as TDBA's zod schema judges one value.

Read from ``mission-apprentissage/flux-retour-cfas`` at commit 12cb59e9 (the references in
``SOURCE`` name the file and line of each rule), with zod 3.25.76 and libphonenumber-js
1.12.36, the versions its lock file resolves. A rule takes the value as the server sees it
(``UNDEFINED`` when the field is absent; top-level nulls are removed before) and returns a
:class:`Judged`: what TDBA keeps, its messages in the order zod adds them (none: accepted),
and a note when TDBA silently changes what it was given.

Messages are zod's: upstream installs an error map that turns every type error into
``"<Type> attendu"`` (``capitalize(expected)``) and keeps zod's English default for the rest
(``"Invalid date"``, ``"String must contain at least 2 character(s)"``, ``"Invalid input"``...),
except where a schema gives its own.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tdba_wizard.records import jsdate, phone
from tdba_wizard.records.js import (
    SPACE_CLASS,
    UNDEFINED,
    is_integer,
    is_number,
    length,
    number_to_string,
    pad_start,
    parse_int,
    to_js_number,
    to_number,
    to_string,
    trim,
    truthy,
)

STRING = "String attendu"
NUMBER = "Number attendu"
BOOLEAN = "Boolean attendu"
INTEGER = "Integer attendu"
DATE_INVALID = "Date invalide"
REQUIRED = "Champ obligatoire"
INVALID_DATE = "Invalid date"
INVALID_INPUT = "Invalid input"
UAI_INVALID = "UAI invalide"
SIRET_INVALID = "Siret invalide. Format attendu : 14 chiffres"
EMAIL_INVALID = "Email non valide"
POSTAL_INVALID = "Le code postal doit faire 5 caractères numériques exactement"
STATUT_INVALID = "Valeurs possibles: 0,2,3"
SEXE_INVALID = "M, H ou F attendu"
ANNEE_SCOLAIRE_INVALID = (
    "Format invalide (format attendu : 2023-2024). Les années doivent être consécutives ou "
    "identiques (ex : 2023-2024 ou 2023-2023)"
)
PHONE_FORMAT = "Format invalide"
PHONE_INVALID = "Numéro de téléphone invalide"
PHONE_SPECIAL = "Numéro de téléphone est un numéro spécial"
SIFA_CODES = frozenset(
    (1003, 1005, 1009, 1017, 1019, 1021, 1023, 2001, 2003, 2005, 2007, 3001, 3101, 3003, 3103,
     3009, 3109, 3011, 3111, 3031, 3131, 3032, 3132, 3033, 3133, 3117, 3119, 3021, 3121, 3023,
     3123, 4001, 4101, 4003, 4103, 4005, 4105, 4007, 4107, 4009, 4011, 4111, 4013, 4113, 4015,
     4115, 4017, 4117, 4019, 4119, 4021, 4121, 4023, 4123, 4025, 4125, 4027, 4127, 5901, 5903,
     5905, 5907, 5909, 9900, 9999)
)  # fmt: skip
TYPES_CFA = tuple(f"{n:02d}" for n in range(1, 11))
_TYPE_CFA_VALUES = " | ".join(f"'{value}'" for value in TYPES_CFA)

# Notes: what TDBA silently changes (the report lists them; nothing is refused).
NOTE_TRIMMED = "espaces retirés en début ou en fin par TDBA"
NOTE_DAY_ROLLED = "jour inexistant : TDBA enregistre une autre date (ex. 30/02 devient 02/03)"
NOTE_DROPPED = "valeur mal formée, ignorée par TDBA (enregistrée vide)"

# Regular expressions of upstream (shared/constants/validations.ts), matched whole.
_ISO_PREFIX = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")  # zodPrimitives.ts:36, not anchored
_UAI = re.compile(r"[0-9]{7}[a-zA-Z]")
_SIRET = re.compile(r"[0-9]{14}")
_CODE_POSTAL = re.compile(r"[0-9]{5}")
_RNCP = re.compile(r"(RNCP)?[0-9]{2,5}")
_CFD = re.compile(r"[A-Z0-9]{8}")
_INSEE = re.compile(r"([0-9]{2}|2A|2B)[0-9]{3}")
_DERNIER_ORGANISME = re.compile(
    r"(0?[0-9][0-9]|0?2[AB]|0?9[012345]|97[1234678]|98[678]|99[0135]|[0-9]{7}[a-zA-Z])"
)
_ANNEE_SCOLAIRE = re.compile(r"([12][0-9]{3})-([12][0-9]{3})")
# zod 3.25's e-mail pattern (/i without /u: ASCII letters only fold, as with re.ASCII).
_EMAIL = re.compile(
    r"(?!\.)(?!.*\.\.)([A-Z0-9_'+\-\.]*)[A-Z0-9_+-]@([A-Z0-9][A-Z0-9\-]*\.)+[A-Z]{2,}",
    re.IGNORECASE | re.ASCII,
)
_SEPARATORS = re.compile(f"(?:{SPACE_CLASS}|[.-])+")  # /[\s.-]+/g
_PHONE_SEPARATORS = re.compile(f"(?:[-.()]|{SPACE_CLASS})")  # /[-.()\s]/g


@dataclass(frozen=True, slots=True)
class Judged:
    """One value as TDBA judges it: what it keeps, its messages, a silent change if any."""

    value: Any
    messages: tuple[str, ...] = ()
    note: str | None = None


ABSENT = Judged(UNDEFINED)
Rule = Callable[[Any], Judged]


def _type_name(expected: str) -> str:
    """Return upstream's message for a type error (``capitalize(issue.expected) attendu``)."""
    return expected[:1].upper() + expected[1:].lower() + " attendu"


# -- strings -----------------------------------------------------------------------------


def _string(
    *,
    trim_first: bool = False,
    minimum: int = 0,
    upper: bool = False,
    pattern: re.Pattern[str] | None = None,
    message: str = "",
    email: str | None = None,
) -> Callable[[Any, Any], Judged]:
    """z.string() with its checks, in the order upstream declares them: trim, min, toUpperCase
    or email, regex (``raw`` is the value given, for the note)."""

    def judge(value: Any, raw: Any) -> Judged:
        if not isinstance(value, str):
            return Judged(UNDEFINED, (STRING,))
        messages: list[str] = []
        note = None
        if trim_first:
            trimmed = trim(value)
            if trimmed != value and isinstance(raw, str):
                note = NOTE_TRIMMED
            value = trimmed
        if minimum and length(value) < minimum:
            messages.append(f"String must contain at least {minimum} character(s)")
        if email is not None and not _EMAIL.fullmatch(value):
            messages.append(email)
        if upper:
            value = value.upper()
        if pattern is not None and not pattern.fullmatch(value):
            messages.append(message)
        if messages:
            return Judged(UNDEFINED, tuple(messages))
        return Judged(value, (), note)

    return judge


def _plain(check: Callable[[Any, Any], Judged], name: str) -> Rule:
    def judge(raw: Any) -> Judged:
        return check(raw, raw)

    judge.__name__ = judge.__qualname__ = name
    return judge


def optional(rule: Rule) -> Rule:
    """``.optional()``: an absent value is accepted as it is."""

    def judge(raw: Any) -> Judged:
        return ABSENT if raw is UNDEFINED else rule(raw)

    judge.__name__ = getattr(rule, "__name__", "optional")
    return judge


def nullish(rule: Rule) -> Rule:
    """``.nullish()``: absent or null is accepted as it is."""

    def judge(raw: Any) -> Judged:
        if raw is UNDEFINED:
            return ABSENT
        if raw is None:
            return Judged(None)
        return rule(raw)

    return judge


nom = _plain(_string(trim_first=True, minimum=1, upper=True), "nom")  # zodPrimitives.ts:188
prenom = _plain(_string(trim_first=True, minimum=1), "prenom")  # zodPrimitives.ts:192
libelle_court = _plain(_string(trim_first=True, minimum=2), "libelle_court")  # zodPrimitives.ts:305
trimmed_text = _plain(_string(trim_first=True), "trimmed_text")  # zodPrimitives.ts:272, 388
text = _plain(_string(), "text")  # zodPrimitives.ts:467, 476-481, 491
email = _plain(_string(trim_first=True, email=EMAIL_INVALID), "email")  # zodPrimitives.ts:219, 413
email_untrimmed = _plain(_string(email=EMAIL_INVALID), "email_untrimmed")  # zodPrimitives.ts:482
uai = _plain(_string(trim_first=True, upper=True, pattern=_UAI, message=UAI_INVALID), "uai")  # :145


def id_erp(raw: Any) -> Judged:
    """zodPrimitives.ts:211: ``v ? String(v) : v``, then a trimmed string ("" is accepted)."""
    value = to_string(raw) if truthy(raw) else raw
    return _string(trim_first=True)(value, raw)


def ine(raw: Any) -> Judged:
    """zodPrimitives.ts:215: ``v ? String(v) : v``, trimmed, upper-cased."""
    value = to_string(raw) if truthy(raw) else raw
    return _string(trim_first=True, upper=True)(value, raw)


def siret(raw: Any) -> Judged:
    """zodPrimitives.ts:139: separators removed from a truthy value, then 14 digits."""
    value = _SEPARATORS.sub("", to_string(raw)) if truthy(raw) else raw
    return _string(trim_first=True, pattern=_SIRET, message=SIRET_INVALID)(value, None)


def insee(raw: Any) -> Judged:
    """zodPrimitives.ts:177: ``v ? String(v) : v``, then the pattern (not trimmed)."""
    value = to_string(raw) if truthy(raw) else raw
    return _string(pattern=_INSEE, message="Format invalide")(value, raw)


def code_postal(raw: Any) -> Judged:
    """zodPrimitives.ts:273, 389: a truthy value trimmed and padded to 5, then 5 digits."""
    value = pad_start(trim(to_string(raw)), 5) if truthy(raw) else raw
    judged = _string(trim_first=True, pattern=_CODE_POSTAL, message=POSTAL_INVALID)(value, None)
    if not judged.messages and isinstance(raw, str) and trim(raw) != raw:
        return Judged(judged.value, (), NOTE_TRIMMED)
    return judged


def annee_scolaire(raw: Any) -> Judged:
    """zodPrimitives.ts:323: "/" becomes "-", spaces go; years consecutive or equal."""
    value = to_string(raw).replace("/", "-").replace(" ", "") if truthy(raw) else raw
    if not isinstance(value, str):
        return Judged(UNDEFINED, (STRING,))
    value = trim(value)
    match = _ANNEE_SCOLAIRE.fullmatch(value)
    if not match or int(match[2]) - int(match[1]) not in (0, 1):
        return Judged(UNDEFINED, (ANNEE_SCOLAIRE_INVALID,))
    return Judged(value)


def rncp(raw: Any) -> Judged:
    """zodPrimitives.ts:284: trimmed, upper-cased, separators removed, "RNCP" added if missing."""
    sanitized = _SEPARATORS.sub("", trim(to_string(raw)).upper())
    value = sanitized if sanitized.startswith("RNCP") else "RNCP" + sanitized
    if not _RNCP.fullmatch(value.upper()):
        return Judged(UNDEFINED, ("Code RNCP invalide",))
    return Judged(value.upper())


def cfd(raw: Any) -> Judged:
    """zodPrimitives.ts:301: String(v), trimmed, upper-cased, 8 letters or digits."""
    value = to_string(raw)
    return _string(trim_first=True, upper=True, pattern=_CFD, message="Code CFD invalide")(
        value, raw
    )


def custom_statut(raw: Any) -> Judged:
    """zodPrimitives.ts:551: ``z.coerce.string()``: anything, as a string."""
    return Judged(to_string(raw))


def dernier_organisme(raw: Any) -> Judged:
    """zodPrimitives.ts:521: String(v), then a department or a UAI."""
    value = to_string(raw)
    if not _DERNIER_ORGANISME.fullmatch(value):
        return Judged(UNDEFINED, ("UAI ou département",))
    return Judged(value)


# -- dates -------------------------------------------------------------------------------


def iso_date(raw: Any) -> Judged:
    """zodPrimitives.ts:151 (and 164): a string that starts with YYYY-MM-DD, read by
    ``new Date(v.trim())``; any other value is "Date invalide", an absent one "Champ
    obligatoire", an impossible one zod's "Invalid date"."""
    if raw is UNDEFINED:
        return Judged(UNDEFINED, (REQUIRED,))
    if not isinstance(raw, str) or not _ISO_PREFIX.match(raw):
        return Judged(UNDEFINED, (DATE_INVALID,))
    instant = jsdate.parse(trim(raw))
    if instant != instant:
        return Judged(UNDEFINED, (INVALID_DATE,))
    year, month, day = int(raw[0:4]), int(raw[5:7]), int(raw[8:10])
    rolled = 1 <= month <= 12 and day > calendar.monthrange(year or 2000, month)[1]
    return Judged(jsdate.to_iso(instant), (), NOTE_DAY_ROLLED if rolled else None)


# -- numbers -----------------------------------------------------------------------------


def statut(raw: Any) -> Judged:
    """zodPrimitives.ts:201 and dossierApprenant.ts:14: parseInt for a string, then 0, 2 or 3."""
    value = parse_int(raw) if isinstance(raw, str) else raw
    if is_number(value) and value in (0, 2, 3):
        return Judged(to_js_number(float(value)))
    return Judged(UNDEFINED, (STATUT_INVALID,))


def annee_formation(raw: Any) -> Judged:
    """zodPrimitives.ts:351: ``v ? Number(v) : v``, then an integer from 0 to 5."""
    value = to_number(raw) if truthy(raw) else raw
    if not is_number(value) or value != value:
        return Judged(UNDEFINED, (NUMBER,))
    number = float(value)
    messages = []
    if not is_integer(number):
        messages.append(INTEGER)
    if number < 0:
        messages.append("Number must be greater than or equal to 0")
    if number > 5:
        messages.append("Le chiffre doit être inférieur ou égal à 5")
    if messages:
        return Judged(UNDEFINED, tuple(messages))
    return Judged(to_js_number(number))


def number_or_null(low: int, high: int) -> Rule:
    """zodPrimitives.ts:69: a whole number in [low, high], anything else silently null."""

    def judge(raw: Any) -> Judged:
        if raw is None or raw is UNDEFINED or raw == "":
            return Judged(None)
        number = to_number(raw)
        if number != number or not is_integer(number) or not low <= number <= high:
            return Judged(None, (), NOTE_DROPPED)
        return Judged(to_js_number(number))

    judge.__name__ = f"number_or_null_{low}_{high}"
    return judge


duree_annees = number_or_null(1, 4)  # zodPrimitives.ts:69, dossierApprenantSchemaV3.ts:92
duree_mois = number_or_null(1, 48)  # dossierApprenantSchemaV3.ts:93


def derniere_situation(raw: Any) -> Judged:
    """zodPrimitives.ts:514: parseInt for a string, then a SIFA code; 0 means none."""
    value = parse_int(raw) if isinstance(raw, str) else raw
    if is_number(value) and (value == 0 or value in SIFA_CODES):
        return ABSENT if value == 0 else Judged(to_js_number(float(value)))
    return Judged(UNDEFINED, (INVALID_INPUT,))


def type_cfa(raw: Any) -> Judged:
    """zodPrimitives.ts:530: padded to two characters, then "01" to "10"."""
    if isinstance(raw, str):
        value: Any = pad_start(raw, 2)
    elif is_number(raw):
        value = pad_start(number_to_string(raw), 2)
    else:
        value = raw
    if not isinstance(value, str):
        return Judged(UNDEFINED, (_type_name(_TYPE_CFA_VALUES),))
    if value not in TYPES_CFA:
        return Judged(
            UNDEFINED,
            (f"Invalid enum value. Expected {_TYPE_CFA_VALUES}, received '{value}'",),
        )
    return Judged(value)


# -- other kinds -------------------------------------------------------------------------


def boolean(raw: Any) -> Judged:
    """``z.boolean()`` (zodPrimitives.ts:406, 426, 488): a JSON true or false."""
    if isinstance(raw, bool):
        return Judged(raw)
    return Judged(UNDEFINED, (BOOLEAN,))


def sexe(raw: Any) -> Judged:
    """zodPrimitives.ts:397: for a string or number, the first H, 1 and 2 become M, M, F."""
    if isinstance(raw, str) or is_number(raw):
        value = trim(to_string(raw)).replace("H", "M", 1).replace("1", "M", 1).replace("2", "F", 1)
        if value in ("M", "F"):
            return Judged(value)
    return Judged(UNDEFINED, (SEXE_INVALID,))


def siret_or_null(raw: Any) -> Judged:
    """zodPrimitives.ts:87: separators removed; anything but 14 digits becomes null."""
    if raw is None or raw is UNDEFINED or raw == "":
        return Judged(None)
    value = _SEPARATORS.sub("", to_string(raw))
    if _SIRET.fullmatch(value):
        return Judged(value)
    return Judged(None, (), NOTE_DROPPED)


def code_postal_or_null(raw: Any) -> Judged:
    """zodPrimitives.ts:80: trimmed and padded to 5; anything but 5 digits becomes null."""
    if raw is None or raw is UNDEFINED or raw == "":
        return Judged(None)
    value = pad_start(trim(to_string(raw)), 5)
    if _CODE_POSTAL.fullmatch(value):
        return Judged(value)
    return Judged(None, (), NOTE_DROPPED)


def telephone(raw: Any) -> Judged:
    """zodPrimitives.ts:94: ``z.coerce.string()``, separators removed, libphonenumber-js."""
    value = to_string(raw)
    if not value:
        return Judged(None)
    return judge_phone(_PHONE_SEPARATORS.sub("", trim(value)))


def judge_phone(normalized: str) -> Judged:
    """Return TDBA's verdict on a phone number whose separators are removed already."""
    parsed = phone.parse(normalized, _dom_tom_region(normalized))
    messages = []
    if parsed is None or not parsed.is_possible():
        messages.append(PHONE_FORMAT)
    elif not parsed.is_valid():
        messages.append(PHONE_INVALID)
    if parsed is None:
        return Judged(UNDEFINED, tuple(messages))
    if parsed.type() in ("PREMIUM_RATE", "PAGER", "VOICEMAIL", "SHARED_COST"):
        messages.append(PHONE_SPECIAL)
    if messages:
        return Judged(UNDEFINED, tuple(messages))
    return Judged("0" + parsed.national if parsed.country == "FR" else parsed.e164)


def _dom_tom_region(number: str) -> str:
    """shared/utils/phone.ts:26: the overseas region a number's first digits point to."""
    if not number:
        return "FR"
    digits = number  # upstream removes \s again here: the separators are gone already
    if digits.startswith("0"):
        digits = digits[1:]
    return {
        "690": "GP", "590": "GP", "694": "GF", "594": "GF", "696": "MQ", "596": "MQ",
        "692": "RE", "693": "RE", "262": "RE", "269": "RE",
    }.get(digits[:3], "FR")  # fmt: skip


def nir(raw: Any) -> Judged:
    """dossierApprenantSchemaV3.ts:128: separators removed from a truthy value; never refused.
    TDBA keeps only whether one was given (the route sets has_nir from the raw value)."""
    value = _SEPARATORS.sub("", to_string(raw)) if truthy(raw) else raw
    return Judged(truthy(value))


def api_version(raw: Any) -> Judged:
    """zodPrimitives.ts:186: "v1", "v2", "v3", "" or null (set by the server afterwards)."""
    if raw is None or (isinstance(raw, str) and raw in ("v1", "v2", "v3", "")):
        return Judged(raw)
    return Judged(UNDEFINED, (INVALID_INPUT,))


source_organisme_id = _plain(_string(minimum=1), "source_organisme_id")  # zodPrimitives.ts:184
