"""Phone numbers as TDBA judges them: libphonenumber-js, on Google's metadata.

TDBA parses ``tel_apprenant`` with libphonenumber-js (``parsePhoneNumberFromString`` of its
``max`` build, ``extract: false``) and then asks ``isPossible()``, ``isValid()`` and
``getType()``. libphonenumber-js is a port of Google's libphonenumber whose parsing differs
from the Python port (``phonenumbers``) in its details: it takes no letters, it reads
extensions and international prefixes in its own order, and ``isPossible()`` only knows
exact lengths. This module follows libphonenumber-js's algorithm step by step, on the
metadata of the ``phonenumbers`` package, which is the same data (Google's 9.0.23, as in
libphonenumber-js 1.12.36, the version TDBA's lock file resolves; a test compares them).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata

_VALID_DIGITS = "0-9\uff10-\uff19\u0660-\u0669\u06f0-\u06f9"
_DASHES = "\\-\u2010-\u2015\u2212\u30fc\uff0d"
_PUNCTUATION = (
    _DASHES + "\uff0f/\uff0e. \u00a0\u00ad\u200b\u2060\u3000()\uff08\uff09\uff3b\uff3d\\[\\]"
    "~\u2053\u223c\uff5e"
)
_PLUS = "+\uff0b"
MAX_INPUT_LENGTH = 250
_MIN_NSN, _MAX_NSN, _MAX_CC = 2, 17, 3


def _extension_pattern() -> str:
    """Return libphonenumber's extension pattern (the part after the number)."""

    def digits(count: int) -> str:
        return f"([{_VALID_DIGITS}]{{1,{count}}})"

    before_label = "[ \u00a0\\t,]*"
    after_label = "[:\\.\uff0e]?[ \u00a0\\t,-]*"
    explicit = (
        "(?:e?xt(?:ensi(?:o\u0301?|\u00f3))?n?|\uff45?\uff58\uff54\uff4e?|\u0434\u043e\u0431|anexo)"
    )
    ambiguous = "(?:[x\uff58#\uff03~\uff5e]|int|\uff49\uff4e\uff54)"
    no_comma = "[ \u00a0\\t]*"
    return "|".join(
        (
            ";ext=" + digits(20),
            before_label + explicit + after_label + digits(20) + "#?",
            before_label + ambiguous + after_label + digits(9) + "#?",
            "[- ]+" + digits(6) + "#",
            no_comma + "(?:,{2}|;)" + after_label + digits(15) + "#?",
            no_comma + "(?:,)+" + after_label + digits(9) + "#?",
        )
    )


_EXTENSION = _extension_pattern()
_VALID_PHONE = (
    f"[{_PLUS}]{{0,1}}(?:[{_PUNCTUATION}]*[{_VALID_DIGITS}]){{3,}}[{_PUNCTUATION}{_VALID_DIGITS}]*"
)
# JavaScript's /i (without /u) folds letters by their upper case, but never a non-ASCII letter
# onto an ASCII one; Python's re.IGNORECASE also matches i with ı and İ, s with ſ, k with the
# Kelvin sign. Those few are hidden from the patterns (see _guard) instead.
_FLAGS = re.IGNORECASE
_VIABLE = re.compile(f"[{_VALID_DIGITS}]{{{_MIN_NSN}}}|{_VALID_PHONE}(?:{_EXTENSION})?", _FLAGS)
_EXTENSION_AT_END = re.compile(f"(?:{_EXTENSION})\\Z", _FLAGS)
_NOT_ASCII_FOLDING = {0x130: 1, 0x131: 1, 0x17F: 1, 0x212A: 1}
_DIGIT = re.compile(f"([{_VALID_DIGITS}])")
_DIGIT_VALUES = {
    **{str(d): str(d) for d in range(10)},
    **{chr(start + d): str(d) for start in (0xFF10, 0x0660, 0x06F0) for d in range(10)},
}
_TYPES = (
    "fixed_line", "mobile", "toll_free", "premium_rate", "personal_number", "voicemail", "uan",
    "pager", "voip", "shared_cost",
)  # fmt: skip
_NON_FIXED_TYPES = (
    "mobile", "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager",
    "uan", "voicemail",
)  # fmt: skip
TYPE_NAMES = {
    "fixed_line": "FIXED_LINE", "mobile": "MOBILE", "toll_free": "TOLL_FREE",
    "premium_rate": "PREMIUM_RATE", "personal_number": "PERSONAL_NUMBER",
    "voicemail": "VOICEMAIL", "uan": "UAN", "pager": "PAGER", "voip": "VOIP",
    "shared_cost": "SHARED_COST",
}  # fmt: skip


class _NotANumber(Exception):
    """libphonenumber-js's ParseError: the text is not a phone number."""


@functools.cache
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _matches_entirely(text: str, pattern: str) -> bool:
    return _regex(f"(?:{pattern})").fullmatch(text) is not None


@dataclass(frozen=True)
class _Plan:
    """A numbering plan: one region's metadata, as libphonenumber-js reads it."""

    calling_code: str
    idd_prefix: str | None
    national_pattern: str
    lengths: tuple[int, ...]
    national_prefix: str | None
    prefix_for_parsing: str | None
    transform_rule: str | None
    leading_digits: str | None
    types: dict[str, tuple[str, tuple[int, ...]]]

    def type(self, name: str) -> tuple[str, tuple[int, ...]] | None:
        return self.types.get(name)


def _plan_from(metadata: Any) -> _Plan:
    general = metadata.general_desc
    types: dict[str, tuple[str, tuple[int, ...]]] = {}
    for name in _TYPES:
        desc = getattr(metadata, name)
        if desc is None or desc.national_number_pattern is None:
            continue
        lengths = tuple(n for n in desc.possible_length if n != -1)
        types[name] = (desc.national_number_pattern, lengths or tuple(general.possible_length))
    fixed, mobile = types.get("fixed_line"), types.get("mobile")
    if fixed is not None and mobile is not None and mobile[0] == fixed[0]:
        types["mobile"] = ("", mobile[1])  # libphonenumber-js keeps no copy of the pattern
    return _Plan(
        str(metadata.country_code),
        metadata.international_prefix,
        general.national_number_pattern,
        tuple(general.possible_length),
        metadata.national_prefix,
        metadata.national_prefix_for_parsing or metadata.national_prefix,
        metadata.national_prefix_transform_rule,
        metadata.leading_digits,
        types,
    )


@functools.cache
def _country_plan(region: str) -> _Plan:
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None:
        raise KeyError(region)
    return _plan_from(metadata)


def _countries_for(calling_code: str) -> tuple[str, ...] | None:
    """Return the regions of a calling code (None for a non-geographic one)."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(int(calling_code))
    if not regions or regions == ("001",):
        return None
    return tuple(regions)


@functools.cache
def _calling_code_plan(calling_code: str) -> _Plan | None:
    """Return the plan of a calling code: its main region's, or its non-geographic one."""
    regions = _countries_for(calling_code)
    if regions:
        return _country_plan(regions[0])
    metadata = PhoneMetadata.metadata_for_nongeo_region(int(calling_code))
    return None if metadata is None else _plan_from(metadata)


def _has_calling_code(calling_code: str) -> bool:
    if calling_code.startswith("0"):
        return False
    return _calling_code_plan(calling_code) is not None


def _select(country: str | None, calling_code: str | None) -> _Plan:
    if country and country != "001":
        return _country_plan(country)
    plan = _calling_code_plan(calling_code) if calling_code else None
    if plan is None:
        raise _NotANumber
    return plan


def _check_length(national: str, plan: _Plan) -> str:
    lengths = plan.lengths
    if not lengths:
        return "IS_POSSIBLE"
    size = len(national)
    if lengths[0] == size:
        return "IS_POSSIBLE"
    if lengths[0] > size:
        return "TOO_SHORT"
    if lengths[-1] < size:
        return "TOO_LONG"
    return "IS_POSSIBLE" if size in lengths[1:] else "INVALID_LENGTH"


def _plan_for_length(country: str | None, plan: _Plan) -> _Plan:
    return _country_plan(country) if country else plan


def _is_type(national: str, name: str, plan: _Plan) -> bool:
    found = plan.type(name)
    if found is None or not found[0]:
        return False
    pattern, lengths = found
    if lengths and len(national) not in lengths:
        return False
    return _matches_entirely(national, pattern)


def number_type(national: str, country: str | None, calling_code: str | None) -> str | None:
    """Return libphonenumber-js's ``getNumberType`` (None: none)."""
    if not country and not calling_code:
        return None
    plan = _select(country, calling_code)
    if not _matches_entirely(national, plan.national_pattern):
        return None
    if _is_type(national, "fixed_line", plan):
        mobile = plan.type("mobile")
        if mobile is None or mobile[0] == "":
            return "FIXED_LINE_OR_MOBILE"
        if _is_type(national, "mobile", plan):
            return "FIXED_LINE_OR_MOBILE"
        return "FIXED_LINE"
    for name in _NON_FIXED_TYPES:
        if _is_type(national, name, plan):
            return TYPE_NAMES[name]
    return None


def _country_by_calling_code(calling_code: str, national: str) -> str | None:
    regions = _countries_for(calling_code)
    if not regions:
        return None
    if len(regions) == 1:
        return regions[0]
    for region in regions:
        plan = _country_plan(region)
        if plan.leading_digits:
            if national and _regex(plan.leading_digits).match(national):
                return region
        elif number_type(national, region, None):
            return region
    return None


def _strip_national_prefix(number: str, plan: _Plan) -> tuple[str, str | None]:
    """Return (national number, carrier code) with the national prefix removed, if any."""
    prefix = plan.prefix_for_parsing
    if not number or not prefix:
        return number, None
    pattern = _regex(f"^(?:{prefix})")
    match = pattern.match(number)
    if match is None:
        return number, None
    groups = pattern.groups
    has_groups = groups > 0 and bool(match[groups])
    carrier: str | None = None
    if plan.transform_rule and has_groups:
        national = pattern.sub(plan.transform_rule, number, count=1)
        if groups > 1:
            carrier = match[1]
    else:
        national = number[len(match[0]) :]
        if has_groups:
            carrier = match[1]
    return national, carrier


def _extract_national(number: str, country: str | None, plan: _Plan) -> str:
    national, _carrier = _strip_national_prefix(number, plan)
    if national != number:
        if _matches_entirely(number, plan.national_pattern) and not _matches_entirely(
            national, plan.national_pattern
        ):
            return number
        if plan.lengths:
            if not country:
                country = _country_by_calling_code(plan.calling_code, national)
            if _check_length(national, _plan_for_length(country, plan)) in (
                "TOO_SHORT",
                "INVALID_LENGTH",
            ):
                return number
    return national


def _strip_idd(number: str, country: str) -> str | None:
    plan = _country_plan(country)
    match = _regex(plan.idd_prefix or "").match(number)
    if match is None:
        return None
    rest = number[len(match[0]) :]
    digit = _DIGIT.search(rest)
    if digit and digit[1] == "0":
        return None
    return rest


def _calling_code_without_plus(number: str, default_country: str) -> tuple[str | None, str]:
    plan = _country_plan(default_country)
    code = plan.calling_code
    if number.startswith(code):
        shorter = number[len(code) :]
        shorter_national = _extract_national(shorter, None, plan)
        national = _extract_national(number, None, plan)
        if (
            not _matches_entirely(national, plan.national_pattern)
            and _matches_entirely(shorter_national, plan.national_pattern)
        ) or _check_length(national, plan) == "TOO_LONG":
            return code, shorter
    return None, number


def _calling_code(number: str, default_country: str) -> tuple[str | None, str | None]:
    """Return (calling code, rest) as extractCountryCallingCode does; (None, None): none."""
    if not number:
        return None, None
    if number[0] != "+":
        without_idd = _strip_idd(number, default_country)
        if without_idd and without_idd != number:
            number = "+" + without_idd
        else:
            code, rest = _calling_code_without_plus(number, default_country)
            return code, rest
    if len(number) > 1 and number[1] == "0":
        return None, None
    for end in range(2, min(_MAX_CC + 1, len(number)) + 1):
        candidate = number[1:end]
        if _has_calling_code(candidate):
            return candidate, number[end:]
    return None, None


def _digits(text: str) -> str:
    """parseIncompletePhoneNumber: digits (any script libphonenumber knows), a leading '+'."""
    result: list[str] = []
    for char in text:
        if char == "+":
            if not result:
                result.append("+")
        elif char in _DIGIT_VALUES:
            result.append(_DIGIT_VALUES[char])
    return "".join(result)


@dataclass(frozen=True)
class PhoneNumber:
    """What ``parsePhoneNumberFromString`` returns: a calling code, a national number."""

    calling_code: str
    national: str
    country: str | None

    @property
    def e164(self) -> str:
        """Return ``number``: ``+`` calling code national number."""
        return f"+{self.calling_code}{self.national}"

    def is_possible(self) -> bool:
        """Return ``isPossible()``."""
        plan = _select(None, self.calling_code)
        if not plan.lengths:
            return True
        return _check_length(self.national, _plan_for_length(self.country, plan)) == "IS_POSSIBLE"

    def is_valid(self) -> bool:
        """Return ``isValid()``."""
        plan = _select(self.country, self.calling_code)
        if plan.types:
            return self.type() is not None
        return _matches_entirely(self.national, plan.national_pattern)

    def type(self) -> str | None:
        """Return ``getType()``."""
        return number_type(self.national, self.country, self.calling_code)


def parse(text: str, default_country: str) -> PhoneNumber | None:
    """Return ``parsePhoneNumberFromString(text, {defaultCountry, extract: false})``."""
    try:
        return _parse(text, default_country)
    except _NotANumber:
        return None


def _formatted(text: str) -> str:
    """Return the part of ``text`` to read as a number; raises _NotANumber."""
    if not text or len(text.encode("utf-16-le", "surrogatepass")) // 2 > MAX_INPUT_LENGTH:
        raise _NotANumber
    isdn = text.find(";isub=")
    if isdn > 0:
        text = text[:isdn]
    guarded = text.translate(_NOT_ASCII_FOLDING)  # same length: positions are kept
    if not _VIABLE.fullmatch(guarded):
        raise _NotANumber
    extension = _EXTENSION_AT_END.search(guarded)
    if extension is not None:
        return text[: extension.start()]
    return text


def _parse(text: str, default_country: str) -> PhoneNumber:
    formatted = _formatted(text)
    code, number = _calling_code(_digits(formatted), default_country)
    country: str | None = None
    if code:
        plan = _select(None, code)
    elif number:
        plan = _country_plan(default_country)
        country = default_country
        code = plan.calling_code
    else:
        raise _NotANumber
    if not number:
        raise _NotANumber
    national = _extract_national(_digits(number), country, plan)
    exact = _country_by_calling_code(code, national)
    if exact:
        country = exact
    if not national or len(national) < _MIN_NSN or len(national) > _MAX_NSN:
        raise _NotANumber
    return PhoneNumber(code, national, country)
