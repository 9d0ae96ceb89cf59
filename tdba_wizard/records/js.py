"""JavaScript's value semantics, as TDBA's server (Node.js) applies them to JSON values.

TDBA's rules are zod schemas whose pre-processing steps use JavaScript's own conversions:
``String(v)``, ``Number(v)``, ``parseInt(v, 10)``, ``v ? … : v`` (truthiness), ``.trim()``,
``.length`` (UTF-16 code units), ``padStart``. Python's own conversions differ in many corners
(``str(1.0)`` is ``"1.0"`` where JavaScript says ``"1"``; ``str.strip()`` removes ``\\x1c`` but
not U+FEFF; ``float("1_0")`` is 10), so each is written here after the ECMAScript
specification. Values are what ``json.loads`` gives: None, bool, int, float, str, list, dict
(an int stands for the double JavaScript would hold).
"""

from __future__ import annotations

import decimal
import math
import re
from typing import Any

# ECMAScript WhiteSpace and LineTerminator: what String.prototype.trim() removes and what
# the regular-expression class \s matches.
WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
SPACE_CLASS = "[" + re.escape(WHITESPACE) + "]"
_DECIMAL = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")
_RADIX = re.compile(r"0([xXoObB])([0-9a-zA-Z]+)")
_RADIX_BASES = {"x": 16, "o": 8, "b": 2}
_LEADING_INT = re.compile(r"([+-]?)([0-9]*)")

NAN = float("nan")


class Undefined:
    """JavaScript's ``undefined``: a field that is absent from the record."""

    _instance: Undefined | None = None

    def __new__(cls) -> Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "undefined"

    def __bool__(self) -> bool:
        return False


UNDEFINED = Undefined()


def trim(text: str) -> str:
    """Return ``text.trim()``."""
    return text.strip(WHITESPACE)


def trim_start(text: str) -> str:
    """Return ``text.trimStart()``."""
    return text.lstrip(WHITESPACE)


def length(text: str) -> int:
    """Return ``text.length``: UTF-16 code units (a character outside the BMP counts two)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def pad_start(text: str, width: int, fill: str = "0") -> str:
    """Return ``text.padStart(width, fill)`` (widths in UTF-16 code units)."""
    missing = width - length(text)
    return fill * missing + text if missing > 0 else text


def is_number(value: Any) -> bool:
    """Return True when ``typeof value === "number"``."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def as_double(value: int | float) -> float:
    """Return the double JavaScript holds for a JSON number (ints are rounded as JSON.parse)."""
    if isinstance(value, float):
        return value
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def truthy(value: Any) -> bool:
    """Return JavaScript's truthiness (``[]`` and ``{}`` are truthy, NaN and ``""`` are not)."""
    if value is None or value is UNDEFINED or value is False:
        return False
    if value is True:
        return True
    if isinstance(value, (int, float)):
        return value == value and value != 0  # NaN, 0 and -0 are falsy
    if isinstance(value, str):
        return value != ""
    return True


def number_to_string(value: int | float) -> str:
    """Return ``String(n)`` for a number (ECMAScript Number::toString, radix 10)."""
    if isinstance(value, int) and abs(value) < 2**53:
        return str(value)
    number = as_double(value)
    if number != number:
        return "NaN"
    if number == 0:
        return "0"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    sign = "-" if number < 0 else ""
    # repr() gives the shortest digits that round-trip, as JavaScript does.
    digits_tuple = decimal.Decimal(repr(abs(number))).normalize().as_tuple()
    digits = "".join(map(str, digits_tuple.digits))
    exponent = int(digits_tuple.exponent)
    k = len(digits)
    n = k + exponent  # value = 0.digits × 10^n
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
        text = f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + text


def to_string(value: Any) -> str:
    """Return ``String(value)``."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if value is UNDEFINED:
        return "undefined"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return number_to_string(value)
    if isinstance(value, list):  # Array.prototype.join(","): null and undefined give ""
        return ",".join(
            "" if item is None or item is UNDEFINED else to_string(item) for item in value
        )
    return "[object Object]"


def string_to_number(text: str) -> float:
    """Return ``Number(text)`` for a string (StringToNumber)."""
    body = trim(text)
    if not body:
        return 0.0
    if _DECIMAL.fullmatch(body):
        return float(body)  # Python reads these literals exactly as JavaScript does
    radix = _RADIX.fullmatch(body)
    if radix:
        try:
            return as_double(int(radix[2], _RADIX_BASES[radix[1].lower()]))
        except ValueError:
            return NAN
    return NAN


def to_number(value: Any) -> float:
    """Return ``Number(value)``."""
    if value is True:
        return 1.0
    if value is False or value is None:
        return 0.0
    if value is UNDEFINED:
        return NAN
    if isinstance(value, (int, float)):
        return as_double(value)
    if isinstance(value, str):
        return string_to_number(value)
    if isinstance(value, list):  # ToPrimitive: the joined string
        return string_to_number(to_string(value))
    return NAN


def parse_int(text: str) -> float:
    """Return ``parseInt(text, 10)``."""
    match = _LEADING_INT.match(trim_start(text))
    assert match is not None  # the pattern matches the empty string
    sign, digits = match[1], match[2]
    if not digits:
        return NAN
    number = as_double(int(digits))
    return -number if sign == "-" else number


def is_integer(value: float) -> bool:
    """Return ``Number.isInteger(value)``."""
    return math.isfinite(value) and value == math.floor(value)


def to_js_number(value: float) -> int | float:
    """Return a double as Python would keep it in JSON: integral values as int."""
    if math.isfinite(value) and value == math.floor(value) and abs(value) < 2**53:
        return int(value)
    return value


def json_value(value: Any) -> Any:
    """Return a JSON value as JavaScript holds it after JSON.parse: numbers as doubles (an
    integral one as an int, so that it prints as JSON.stringify prints it)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return to_js_number(as_double(value))
    if isinstance(value, list):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return {key: json_value(item) for key, item in value.items()}
    return value
