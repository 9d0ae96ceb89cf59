"""Text that came from outside (exports, TDBA's answers, exceptions), made safe to print.

Every such value copied into the terminal, ``sync.log``, the reports or the e-mail goes
through :func:`clean`: control characters (which could retitle a terminal, move its cursor or
forge report lines) and invisible direction marks are shown as escapes, and the length is
bounded (a 20 MB cell must not make a 230 MB report).
"""

from __future__ import annotations

import re

LIMIT = 200

_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb"
    "\ud800-\udfff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(value: object, limit: int = LIMIT) -> str:
    """Return ``value`` as one printable line of at most about ``limit`` characters."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = f"{text[:limit]}… ({len(text)} caractères)"
    return _UNSAFE.sub(_escape, text)
