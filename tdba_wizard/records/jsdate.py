"""``new Date(text)`` as TDBA's server (Node.js, V8, TZ unset so UTC) computes it.

TDBA accepts a date when the string starts with ``YYYY-MM-DD`` and ``new Date(text.trim())``
is a valid date. V8 reads the ISO format first, then goes on with its permissive legacy
grammar for whatever follows: ``2005-02-30`` is 2 March 2005, ``2005-03-02 10:00`` is valid,
``2005-03-02garbage`` and ``2005-03-02T25:00`` are not. This module follows V8's date parser
(``src/date/dateparser*``) rule by rule: the tokenizer, the ES5 part, the legacy loop and the
composers, then MakeDay/MakeTime/TimeClip. The server's time zone is UTC, so local times are
UTC too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

NAN = float("nan")
_NONE = 2**31 - 1  # V8's kNone (kMaxInt)
_MAX_SIGNIFICANT_DIGITS = 9
_MS_PER_DAY = 86_400_000
_MAX_TIME_MS = 8.64e15
_MAX_TIME_BEFORE_UTC_MS = _MAX_TIME_MS + 864_000_000

# Token kinds.
_INVALID, _UNKNOWN, _SPACE, _NUMBER, _SYMBOL, _END, _KEYWORD = range(7)
# Keyword types.
_K_INVALID, _K_MONTH, _K_ZONE, _K_T, _K_AMPM = range(5)
_KEYWORDS: list[tuple[str, int, int]] = [
    *((name, _K_MONTH, index) for index, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )),
    ("am", _K_AMPM, 0), ("pm", _K_AMPM, 12),
    ("ut", _K_ZONE, 0), ("utc", _K_ZONE, 0), ("z", _K_ZONE, 0), ("gmt", _K_ZONE, 0),
    ("cdt", _K_ZONE, -5), ("cst", _K_ZONE, -6), ("edt", _K_ZONE, -4), ("est", _K_ZONE, -5),
    ("mdt", _K_ZONE, -6), ("mst", _K_ZONE, -7), ("pdt", _K_ZONE, -7), ("pst", _K_ZONE, -8),
    ("t", _K_T, 0),
]  # fmt: skip
_SPACES = frozenset(
    ord(c)
    for c in (
        "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
        "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
    )
)


def _between(x: int, low: int, high: int) -> bool:
    return low <= x <= high


@dataclass(frozen=True)
class _Token:
    kind: int
    length: int = 0
    value: int = -1  # number value, symbol code or keyword value
    keyword: int = _K_INVALID

    def is_symbol(self, char: str) -> bool:
        return self.kind == _SYMBOL and self.value == ord(char)

    def is_sign(self) -> bool:
        return self.kind == _SYMBOL and self.value in (ord("+"), ord("-"))

    def sign(self) -> int:
        return 44 - self.value  # 1 for '+', -1 for '-'

    def is_fixed_number(self, length: int) -> bool:
        return self.kind == _NUMBER and self.length == length

    def is_z(self) -> bool:
        return (
            self.kind == _KEYWORD
            and self.keyword == _K_ZONE
            and self.length == 1
            and (self.value == 0)
        )


_END_TOKEN = _Token(_END)
_INVALID_TOKEN = _Token(_INVALID)


class _Tokenizer:
    """V8's DateStringTokenizer over UTF-16 code units, with one token of look-ahead."""

    def __init__(self, units: list[int]) -> None:
        self.units = units
        self.index = 0
        self.next_token = self._scan()

    def _ch(self) -> int:
        return self.units[self.index] if self.index < len(self.units) else 0

    def _scan(self) -> _Token:
        ch = self._ch()
        if ch == 0:  # a NUL character ends the input, as in V8
            return _END_TOKEN
        start = self.index
        if 48 <= ch <= 57:
            number, count = 0, 0
            while 48 <= (ch := self._ch()) <= 57:
                if count < _MAX_SIGNIFICANT_DIGITS:
                    number = number * 10 + ch - 48
                count += 1
                self.index += 1
            return _Token(_NUMBER, self.index - start, number)
        if ch in (58, 45, 43, 46, 41):  # : - + . )
            self.index += 1
            return _Token(_SYMBOL, 1, ch)
        if ch >= 65 and ch not in _SPACES:  # a word: characters from 'A' up
            prefix: list[int] = []
            while (ch := self._ch()) >= 65 and ch not in _SPACES:
                if len(prefix) < 3:
                    prefix.append(ch | 0x20)
                self.index += 1
            length = self.index - start
            kind, value = _lookup(prefix, length)
            return _Token(_KEYWORD, length, value, kind)
        if ch in _SPACES:
            self.index += 1
            return _Token(_SPACE, 1)
        if ch == 40:  # '(' : parenthesised text is skipped
            balance = 0
            while True:
                ch = self._ch()
                if ch == 41:
                    balance -= 1
                elif ch == 40:
                    balance += 1
                self.index += 1
                if not (balance > 0 and self._ch()):
                    break
            return _Token(_UNKNOWN, 1)
        self.index += 1
        return _Token(_UNKNOWN, 1)

    def next(self) -> _Token:
        token = self.next_token
        self.next_token = self._scan()
        return token

    def peek(self) -> _Token:
        return self.next_token

    def skip_symbol(self, char: str) -> bool:
        if self.next_token.is_symbol(char):
            self.next_token = self._scan()
            return True
        return False


def _lookup(prefix: list[int], length: int) -> tuple[int, int]:
    padded = prefix + [0] * (3 - len(prefix))
    for name, kind, value in _KEYWORDS:
        wanted = [ord(c) for c in name] + [0] * (3 - len(name))
        if padded == wanted and (length <= 3 or kind == _K_MONTH):
            return kind, value
    return _K_INVALID, 0


class _Day:
    def __init__(self) -> None:
        self.comp: list[int] = []
        self.named_month = _NONE
        self.iso = False

    def add(self, n: int) -> bool:
        if len(self.comp) < 3:
            self.comp.append(n)
            return True
        return False

    def write(self) -> tuple[int, int, int] | None:
        if not self.comp:
            return None
        # Missing components default to 1; V8 then always sees three of them.
        comp = self.comp + [1] * (3 - len(self.comp))
        year, month, day = 0, _NONE, _NONE
        if self.named_month == _NONE:
            if self.iso or not _between(comp[0], 1, 31):
                year, month, day = comp
            else:
                month, day, year = comp
        else:
            month = self.named_month
            if not _between(comp[0], 1, 31):
                year, day = comp[0], comp[1]
            else:
                day, year = comp[0], comp[1]
        if not self.iso:
            if _between(year, 0, 49):
                year += 2000
            elif _between(year, 50, 99):
                year += 1900
        if not (_between(month, 1, 12) and _between(day, 1, 31)):
            return None
        return year, month - 1, day


class _Time:
    def __init__(self) -> None:
        self.comp: list[int] = []
        self.hour_offset = _NONE

    def is_empty(self) -> bool:
        return not self.comp

    def is_expecting(self, n: int) -> bool:
        index = len(self.comp)
        return (
            (index == 1 and _between(n, 0, 59))
            or (index == 2 and _between(n, 0, 59))
            or (index == 3 and _between(n, 0, 999))
        )

    def add(self, n: int) -> bool:
        if len(self.comp) < 4:
            self.comp.append(n)
            return True
        return False

    def add_final(self, n: int) -> bool:
        if not self.add(n):
            return False
        self.comp += [0] * (4 - len(self.comp))
        return True

    def write(self) -> tuple[int, int, int, int] | None:
        hour, minute, second, milli = self.comp + [0] * (4 - len(self.comp))
        if self.hour_offset != _NONE:
            if not _between(hour, 0, 12):
                return None
            hour = hour % 12 + self.hour_offset
        if not (
            _between(hour, 0, 23)
            and _between(minute, 0, 59)
            and _between(second, 0, 59)
            and _between(milli, 0, 999)
        ) and (hour != 24 or minute or second or milli):
            return None
        return hour, minute, second, milli


class _Zone:
    def __init__(self) -> None:
        self.sign = _NONE
        self.hour = _NONE
        self.minute = _NONE

    def set(self, offset_hours: int) -> None:
        self.sign = -1 if offset_hours < 0 else 1
        self.hour = offset_hours * self.sign
        self.minute = 0

    def is_expecting(self, n: int) -> bool:
        return self.hour != _NONE and self.minute == _NONE and _between(n, 0, 59)

    def is_utc(self) -> bool:
        return self.hour == 0 and self.minute == 0

    def is_empty(self) -> bool:
        return self.hour == _NONE

    def write(self) -> int | None:
        """Return the offset in seconds (None: local time); raises ValueError when invalid."""
        if self.sign == _NONE:
            return None
        hour = 0 if self.hour == _NONE else self.hour
        minute = 0 if self.minute == _NONE else self.minute
        total = (hour * 3600 + minute * 60) & 0xFFFFFFFF  # V8 computes it unsigned, 32 bits
        if total > 2**31 - 1:  # V8's Smi::kMaxValue
            raise ValueError
        return -total if self.sign < 0 else total


def _milliseconds(token: _Token) -> int:
    number: int = token.value
    length = token.length
    if length == 1:
        return number * 100
    if length == 2:
        return number * 10
    if length > 3:
        length = min(length, _MAX_SIGNIFICANT_DIGITS)
        return int(number // 10 ** (length - 3))
    return number


def _es5(scanner: _Tokenizer, day: _Day, time: _Time, zone: _Zone) -> _Token:
    """The ISO part; returns the token the legacy grammar goes on with (END: all read)."""
    peek = scanner.peek()
    if peek.is_sign():
        sign_token = scanner.next()
        if not scanner.peek().is_fixed_number(6):
            return sign_token
        sign = sign_token.sign()
        year = scanner.next().value
        if sign < 0 and year == 0:
            return sign_token
        day.add(sign * year)
    elif peek.is_fixed_number(4):
        day.add(scanner.next().value)
    else:
        return scanner.next()
    if scanner.skip_symbol("-"):
        peek = scanner.peek()
        if not peek.is_fixed_number(2) or not _between(peek.value, 1, 12):
            return scanner.next()
        day.add(scanner.next().value)
        if scanner.skip_symbol("-"):
            peek = scanner.peek()
            if not peek.is_fixed_number(2) or not _between(peek.value, 1, 31):
                return scanner.next()
            day.add(scanner.next().value)
    peek = scanner.peek()
    if not (peek.kind == _KEYWORD and peek.keyword == _K_T):
        if peek.kind != _END:
            return scanner.next()
    else:
        scanner.next()
        peek = scanner.peek()
        if not peek.is_fixed_number(2) or not _between(peek.value, 0, 24):
            return _INVALID_TOKEN
        hour_is_24 = peek.value == 24
        time.add(scanner.next().value)
        if not scanner.skip_symbol(":"):
            return _INVALID_TOKEN
        peek = scanner.peek()
        if (
            not peek.is_fixed_number(2)
            or not _between(peek.value, 0, 59)
            or (hour_is_24 and peek.value > 0)
        ):
            return _INVALID_TOKEN
        time.add(scanner.next().value)
        if scanner.skip_symbol(":"):
            peek = scanner.peek()
            if (
                not peek.is_fixed_number(2)
                or not _between(peek.value, 0, 59)
                or (hour_is_24 and peek.value > 0)
            ):
                return _INVALID_TOKEN
            time.add(scanner.next().value)
            if scanner.skip_symbol("."):
                peek = scanner.peek()
                if peek.kind != _NUMBER or (hour_is_24 and peek.value > 0):
                    return _INVALID_TOKEN
                time.add(_milliseconds(scanner.next()))
        peek = scanner.peek()
        if peek.is_z():
            scanner.next()
            zone.set(0)
        elif peek.is_symbol("+") or peek.is_symbol("-"):
            zone.sign = 1 if scanner.next().value == ord("+") else -1
            if scanner.peek().is_fixed_number(4):
                hour_minute = scanner.next().value
                hour, minute = divmod(hour_minute, 100)
                if not (_between(hour, 0, 23) and _between(minute, 0, 59)):
                    return _INVALID_TOKEN
                zone.hour, zone.minute = hour, minute
            else:
                peek = scanner.peek()
                if not peek.is_fixed_number(2) or not _between(peek.value, 0, 23):
                    return _INVALID_TOKEN
                zone.hour = scanner.next().value
                if not scanner.skip_symbol(":"):
                    return _INVALID_TOKEN
                peek = scanner.peek()
                if not peek.is_fixed_number(2) or not _between(peek.value, 0, 59):
                    return _INVALID_TOKEN
                zone.minute = scanner.next().value
        if scanner.peek().kind != _END:
            return _INVALID_TOKEN
    if zone.is_empty() and time.is_empty():
        zone.set(0)  # a date-only form is UTC
    day.iso = True
    return _END_TOKEN


def _parse_fields(text: str) -> tuple[tuple[int, int, int], tuple[int, int, int, int], int | None]:
    """Return (day, time, offset) as V8's parser composes them; raises ValueError if invalid."""
    units = list(memoryview(text.encode("utf-16-le", "surrogatepass")).cast("H"))
    scanner = _Tokenizer(units)
    day, time, zone = _Day(), _Time(), _Zone()
    token = _es5(scanner, day, time, zone)
    if token.kind == _INVALID:
        raise ValueError
    has_read_number = bool(day.comp)
    while token.kind != _END:
        if token.kind == _NUMBER:
            has_read_number = True
            n = token.value
            if scanner.skip_symbol(":"):
                if scanner.skip_symbol(":"):
                    if not time.is_empty():
                        raise ValueError
                    time.add(n)
                    time.add(0)
                else:
                    if not time.add(n):
                        raise ValueError
                    if scanner.peek().is_symbol("."):
                        scanner.next()
            elif scanner.skip_symbol(".") and time.is_expecting(n):
                time.add(n)
                if scanner.peek().kind != _NUMBER:
                    raise ValueError
                milli = _milliseconds(scanner.next())
                if milli < 0:
                    raise ValueError
                time.add_final(milli)
            elif zone.is_expecting(n):
                zone.minute = n
            elif time.is_expecting(n):
                time.add_final(n)
                peek = scanner.peek()
                if not (peek.kind in (_END, _SPACE) or peek.is_z() or peek.is_sign()):
                    raise ValueError
            else:
                if not day.add(n):
                    raise ValueError
                scanner.skip_symbol("-")
        elif token.kind == _KEYWORD:
            if token.keyword == _K_AMPM and not time.is_empty():
                time.hour_offset = token.value
            elif token.keyword == _K_MONTH:
                day.named_month = token.value
                scanner.skip_symbol("-")
            elif token.keyword == _K_ZONE and has_read_number:
                zone.set(token.value)
            else:
                if has_read_number:  # garbage words are illegal once a number was read
                    raise ValueError
                if scanner.peek().kind == _NUMBER:
                    raise ValueError
        elif token.is_sign() and (zone.is_utc() or not time.is_empty()):
            zone.sign = -1 if token.sign() < 0 else 1
            n, count = 0, 0
            if scanner.peek().kind == _NUMBER:
                number = scanner.next()
                count, n = number.length, number.value
            has_read_number = True
            if scanner.peek().is_symbol(":"):
                zone.hour, zone.minute = n, _NONE
            elif count in (1, 2):
                zone.hour, zone.minute = n, 0
            elif count in (3, 4):
                zone.hour, zone.minute = divmod(n, 100)
            else:
                raise ValueError
        elif (token.is_sign() or token.is_symbol(")")) and has_read_number:
            raise ValueError
        token = scanner.next()
    written_day = day.write()
    written_time = time.write()
    if written_day is None or written_time is None:
        raise ValueError
    return written_day, written_time, zone.write()


def _days_from_civil(year: int, month0: int, day: int) -> int:
    """Return MakeDay(year, month0, day): days since 1970-01-01 (day may overflow the month)."""
    year += month0 // 12
    month0 %= 12
    # Days before the first of the month, in the proleptic Gregorian calendar.
    y = year - (1 if month0 < 2 else 0)
    era = y // 400
    yoe = y - era * 400
    mp = (month0 + 10) % 12
    doy = (153 * mp + 2) // 5
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468 + day - 1


def parse(text: str) -> float:
    """Return the time value of ``new Date(text)`` in milliseconds (NaN: Invalid Date)."""
    try:
        (year, month0, day), (hour, minute, second, milli), offset = _parse_fields(text)
    except ValueError:
        return NAN
    if not -1_000_000 <= year <= 1_000_000:  # MakeDay's range
        return NAN
    value = float(_days_from_civil(year, month0, day) * _MS_PER_DAY) + (
        hour * 3_600_000 + minute * 60_000 + second * 1000 + milli
    )
    if offset is None:  # local time: the server runs in UTC
        if abs(value) > _MAX_TIME_BEFORE_UTC_MS:
            return NAN
    else:
        value -= offset * 1000.0
    if abs(value) > _MAX_TIME_MS:  # TimeClip
        return NAN
    return value


def to_datetime(value: float) -> dt.datetime:
    """Return a (finite) time value as an aware UTC datetime."""
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=value)


def to_iso(value: float) -> str:
    """Return ``date.toISOString()`` (years outside 0–9999 in the ±YYYYYY form)."""
    days, ms = divmod(int(value), _MS_PER_DAY)
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    year, month, day = _civil_from_days(days)
    shown = f"{year:04d}" if 0 <= year <= 9999 else f"{'-' if year < 0 else '+'}{abs(year):06d}"
    return f"{shown}-{month:02d}-{day:02d}T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


def _civil_from_days(days: int) -> tuple[int, int, int]:
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d
