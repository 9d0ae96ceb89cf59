"""What crosses the wire to TDBA: compact JSON, and the limits of one request.

Light on purpose (no HTTP client here): the process that reads an export imports it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

MAX_BATCH_ITEMS = 2000  # TDBA refuses larger arrays
MAX_BATCH_BYTES = 8 * 1024 * 1024  # well under TDBA's 10 MB
_SURROGATE = re.compile("[\ud800-\udfff]")


def encode_json(value: Any) -> bytes:
    """Return compact UTF-8 JSON, as JavaScript's JSON.stringify writes it (orjson, fast)."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError: a lone surrogate, an integer over 64 bits...
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        # JSON.stringify escapes a lone surrogate; every other character is written as it is.
        escaped = _SURROGATE.sub(lambda match: f"\\u{ord(match[0]):04x}", text)
        return escaped.encode("utf-8")
