"""The message of ``JSON.parse`` (V8, Node.js 22) for a text that is not JSON.

TDBA's body parser answers a malformed body with a 400 whose message is V8's: "Unexpected
token ']', "[1,]" is not valid JSON", "Expected ',' or '}' after property value in JSON at
position 6 (line 1 column 7)"... The sandbox gives the same message. This module scans the
text as V8's JSON parser does (``src/json/json-parser.cc``) until the first error; positions
are in UTF-16 code units.
"""

from __future__ import annotations

from collections.abc import Sequence

_MAX_CONTEXT = 10
_MIN_LENGTH_FOR_CONTEXT = 2 * _MAX_CONTEXT + 1
_END = -1
# Tokens of one character.
_STRING, _NUMBER, _LBRACK, _LBRACE, _RBRACK, _RBRACE, _TRUE, _FALSE, _NULL, _SPACE = range(10)
_COLON, _COMMA, _ILLEGAL, _EOS = range(10, 14)
_ONE_CHAR = {
    ord('"'): _STRING, ord("-"): _NUMBER, ord("["): _LBRACK, ord("{"): _LBRACE,
    ord("]"): _RBRACK, ord("}"): _RBRACE, ord("t"): _TRUE, ord("f"): _FALSE,
    ord("n"): _NULL, ord(" "): _SPACE, ord("\t"): _SPACE, ord("\r"): _SPACE,
    ord("\n"): _SPACE, ord(":"): _COLON, ord(","): _COMMA,
    **{ord(str(d)): _NUMBER for d in range(10)},
}  # fmt: skip
_SELF_ESCAPES = frozenset(map(ord, '"\\/bfnrtu'))
_NUMBER_PART = frozenset(map(ord, ".eE0123456789-+"))
_SPECIAL = ("[object Object]", "undefined", "Infinity", "NaN")

EXPECTED_PROPERTY_OR_BRACE = "Expected property name or '}' in JSON at position"
EXPECTED_COMMA_OR_BRACKET = "Expected ',' or ']' after array element in JSON at position"
EXPECTED_COMMA_OR_BRACE = "Expected ',' or '}' after property value in JSON at position"
EXPECTED_COLON = "Expected ':' after property name in JSON at position"
EXPECTED_QUOTED_NAME = "Expected double-quoted property name in JSON at position"
UNTERMINATED_STRING = "Unterminated string in JSON at position"
BAD_CONTROL = "Bad control character in string literal in JSON at position"
BAD_UNICODE = "Bad Unicode escape in JSON at position"
BAD_ESCAPE = "Bad escaped character in JSON at position"
NO_NUMBER_AFTER_MINUS = "No number after minus sign in JSON at position"
FRACTION_UNTERMINATED = "Unterminated fractional number in JSON at position"
EXPONENT_MISSING = "Exponent part is missing a number in JSON at position"
AFTER_JSON = "Unexpected non-whitespace character after JSON at position"


class _Failed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def units_of(text: str) -> list[int]:
    """Return the UTF-16 code units of a (possibly ill-formed) string."""
    return list(memoryview(text.encode("utf-16-le", "surrogatepass")).cast("H"))


def text_of(units: Sequence[int]) -> str:
    """Return the string of UTF-16 code units."""
    data = b"".join(unit.to_bytes(2, "little") for unit in units)
    return data.decode("utf-16-le", "surrogatepass")


class _Parser:
    def __init__(self, units: list[int]) -> None:
        self.units = units
        self.cursor = 0
        self.end = len(units)
        self.next = _EOS

    # -- characters ----------------------------------------------------------------------

    def current(self) -> int:
        return self.units[self.cursor] if self.cursor < self.end else _END

    def advance(self) -> None:
        self.cursor += 1

    def next_character(self) -> int:
        self.advance()
        return self.current()

    @staticmethod
    def token_of(char: int) -> int:
        return _ONE_CHAR.get(char, _ILLEGAL) if 0 <= char <= 0xFF else _ILLEGAL

    def skip_whitespace(self) -> None:
        self.next = _EOS
        while self.cursor < self.end:
            token = self.token_of(self.units[self.cursor])
            if token != _SPACE:
                self.next = token
                return
            self.cursor += 1

    # -- errors --------------------------------------------------------------------------

    def _location(self) -> str:
        line, last_break, cursor = 1, 0, 0
        units, end = self.units, self.cursor
        while cursor < end:
            if units[cursor] == 13 and cursor < end - 1 and units[cursor + 1] == 10:
                cursor += 1
            if units[cursor] in (13, 10):
                line += 1
                last_break = cursor + 1
            cursor += 1
        return f"(line {line} column {1 + cursor - last_break})"

    def fail(self, token: int, message: str | None = None) -> _Failed:
        position = self.cursor
        if message is not None:
            return _Failed(f"{message} {position} {self._location()}")
        if token == _EOS:
            return _Failed("Unexpected end of JSON input")
        if token == _NUMBER:
            return _Failed(f"Unexpected number in JSON at position {position} {self._location()}")
        if token == _STRING:
            return _Failed(f"Unexpected string in JSON at position {position} {self._location()}")
        source = text_of(self.units)
        if source in _SPECIAL:
            return _Failed(f'"{source}" is not valid JSON')
        char = text_of([self.units[position]]) if position < self.end else ""
        size = self.end
        if size < _MIN_LENGTH_FOR_CONTEXT:
            return _Failed(f"Unexpected token '{char}', \"{source}\" is not valid JSON")
        if position < _MAX_CONTEXT:
            shown = text_of(self.units[: position + _MAX_CONTEXT])
            return _Failed(f"Unexpected token '{char}', \"{shown}\"... is not valid JSON")
        if position < size - _MAX_CONTEXT:
            shown = text_of(self.units[position - _MAX_CONTEXT : position + _MAX_CONTEXT])
            return _Failed(f"Unexpected token '{char}', ...\"{shown}\"... is not valid JSON")
        shown = text_of(self.units[position - _MAX_CONTEXT :])
        return _Failed(f"Unexpected token '{char}', ...\"{shown}\" is not valid JSON")

    def fail_character(self, char: int) -> _Failed:
        return self.fail(_EOS if char == _END else self.token_of(char))

    def expect(self, token: int, message: str | None = None) -> None:
        if self.next == token:
            self.advance()
            return
        raise self.fail(self.next, message)

    def expect_next(self, token: int, message: str | None = None) -> None:
        self.skip_whitespace()
        self.expect(token, message)

    def check(self, token: int) -> bool:
        self.skip_whitespace()
        if self.next != token:
            return False
        self.advance()
        return True

    # -- values --------------------------------------------------------------------------

    def literal(self, word: str) -> None:
        units = [ord(c) for c in word]
        size = len(units) + 1
        remaining = self.end - self.cursor
        if (
            remaining >= size - 1
            and self.units[self.cursor + 1 : self.cursor + size - 1] == (units[1:])
        ):
            self.cursor += size - 1
            return
        self.cursor += 1
        for index in range(min(size - 2, remaining - 1)):
            if units[1 + index] != self.current():
                raise self.fail_character(self.current())
            self.cursor += 1
        raise self.fail(_EOS)

    def string(self) -> None:
        while True:
            while self.cursor < self.end:
                char = self.units[self.cursor]
                if char <= 0xFF and (char < 0x20 or char in (0x22, 0x5C)):
                    break
                self.cursor += 1
            if self.cursor >= self.end:
                raise self.fail(_ILLEGAL, UNTERMINATED_STRING)
            char = self.units[self.cursor]
            if char == 0x22:
                self.advance()
                return
            if char == 0x5C:
                escaped = self.next_character()
                if not 0 <= escaped <= 0xFF:
                    raise self.fail_character(escaped)
                if escaped == ord("u"):
                    for _ in range(4):
                        digit = self.next_character()
                        if digit < 0 or chr(digit) not in "0123456789abcdefABCDEF":
                            raise self.fail(_ILLEGAL, BAD_UNICODE)
                elif escaped not in _SELF_ESCAPES:
                    raise self.fail(_ILLEGAL, BAD_ESCAPE)
                self.advance()
                continue
            raise self.fail(_ILLEGAL, BAD_CONTROL)

    def _digits(self) -> None:
        while 48 <= self.current() <= 57:
            self.advance()

    def number(self) -> None:
        char = self.current()
        negative = char == ord("-")
        if negative:
            char = self.next_character()
        if char == ord("0"):
            char = self.next_character()
            if 0 <= char <= 0xFF and char in _NUMBER_PART:
                if 48 <= char <= 57:
                    raise self.fail(_NUMBER)
            elif not negative:
                return
        else:
            start = self.cursor
            self._digits()
            if start == self.cursor:
                raise self.fail(_ILLEGAL, NO_NUMBER_AFTER_MINUS)
            char = self.current()
            if self.cursor - start <= 9 and not (0 <= char <= 0xFF and char in _NUMBER_PART):
                return
        if self.current() == ord("."):
            char = self.next_character()
            if not 48 <= char <= 57:
                raise self.fail(_ILLEGAL, FRACTION_UNTERMINATED)
            self._digits()
        if self.current() >= 0 and (self.current() | 0x20) == ord("e"):
            char = self.next_character()
            if char in (ord("-"), ord("+")):
                char = self.next_character()
            if not 48 <= char <= 57:
                raise self.fail(_ILLEGAL, EXPONENT_MISSING)
            self._digits()

    def parse(self) -> None:
        stack: list[int] = []
        container = _EOS  # _EOS: the top level
        while True:
            while True:  # produce a value
                self.skip_whitespace()
                token = self.next
                if token == _STRING:
                    self.advance()
                    self.string()
                elif token == _NUMBER:
                    self.number()
                elif token == _LBRACE:
                    self.advance()
                    if self.check(_RBRACE):
                        break
                    stack.append(container)
                    container = _LBRACE
                    self.expect_next(_STRING, EXPECTED_PROPERTY_OR_BRACE)
                    self.string()
                    self.expect_next(_COLON, EXPECTED_COLON)
                    continue
                elif token == _LBRACK:
                    self.advance()
                    if self.check(_RBRACK):
                        break
                    stack.append(container)
                    container = _LBRACK
                    continue
                elif token in (_TRUE, _FALSE, _NULL):
                    self.literal({_TRUE: "true", _FALSE: "false", _NULL: "null"}[token])
                else:
                    raise self.fail_character(self.current())
                break
            while True:  # consume it
                if container == _EOS:
                    if not self.check(_EOS):
                        raise self.fail(self.next, AFTER_JSON)
                    return
                if container == _LBRACE:
                    if self.check(_COMMA):
                        self.expect_next(_STRING, EXPECTED_QUOTED_NAME)
                        self.string()
                        self.expect_next(_COLON, EXPECTED_COLON)
                        break
                    self.expect(_RBRACE, EXPECTED_COMMA_OR_BRACE)
                else:
                    if self.check(_COMMA):
                        break
                    self.expect(_RBRACK, EXPECTED_COMMA_OR_BRACKET)
                container = stack.pop()


def parse_error(text: str) -> str | None:
    """Return V8's message for ``JSON.parse(text)``, or None when the text is valid JSON."""
    parser = _Parser(units_of(text))
    try:
        parser.parse()
    except _Failed as failure:
        return failure.message
    return None


def strict_violation(text: str) -> str:
    """Return body-parser's message for a JSON body that is not an object or an array.

    body-parser parses, instead, the text with every character from the first one on
    replaced by ``#``, then puts the original characters back into V8's message.
    """
    units = units_of(text)
    index = 0
    while index < len(units) and units[index] in (0x20, 0x09, 0x0A, 0x0D):
        index += 1
    partial = units[:index] + [ord("#")] * (len(units) - index) if index < len(units) else []
    message = parse_error(text_of(partial)) or "strict violation"
    pieces = message.split("#")
    if len(pieces) == 1:
        return message
    result, run = [pieces[0]], 0
    for piece in pieces[1:]:
        run += 1
        if piece:
            result.append(text_of(units[index : index + run]))
            result.append(piece)
            run = 0
    if run:
        result.append(text_of(units[index : index + run]))
    return "".join(result)
