"""``POST /api/v3/dossiers-apprenants`` answered as TDBA's server answers it.

The layers of the real server, in order: the JSON body parser (``body-parser`` 1.20, strict:
an object or an array; V8's message for a malformed body), Joi (``Joi.array().max(2000)``,
with Joi's own texts), then, item by item, the v3 schema (:mod:`tdba_wizard.records`) and
the echo the route builds (the item's values of the schema's fields, the NIR excepted, and
the fields the server adds). Errors of the first two layers go through the server's error
middleware: ``{"error", "message", "details"}``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from tdba_wizard.records import compiled
from tdba_wizard.records.dossier import FieldError, echo_values, has_nir, judge
from tdba_wizard.records.js import UNDEFINED, json_value, truthy
from tdba_wizard.sandbox.jsonerrors import parse_error, strict_violation

MAX_ITEMS = 2000
SOURCE = "ERP"
Key = tuple[str, str, str, str]
"""formateur UAI, formateur SIRET, school year, ERP id: how TDBA tells records apart."""
ExtraRule = Callable[[dict[str, Any]], list[FieldError]]


@dataclass
class Queued:
    """A record the route queued: its values as given, whether a NIR was given, its key."""

    values: dict[str, Any]
    has_nir: bool
    key: Key
    sender: str = ""
    """The organisme whose key sent it (``source_organisme_id``)."""


@dataclass
class Ingested:
    """The route's answer (status and JSON body) and the records it queued."""

    status: int
    body: Any
    queued: list[Queued] = field(default_factory=list)


class ObjectIds:
    """MongoDB ObjectIds: seconds, a random value per process, a counter (24 hex digits)."""

    def __init__(self) -> None:
        self._random = os.urandom(5).hex()
        self._counter = int.from_bytes(os.urandom(3), "big")
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            self._counter = (self._counter + 1) % 0x1000000
            counter = self._counter
        return f"{int(time.time()) & 0xFFFFFFFF:08x}{self._random}{counter:06x}"


def _bad_request(message: str, details: Any = None) -> Ingested:
    body: dict[str, Any] = {"error": "Bad Request", "message": message}
    if details is not None:
        body["details"] = details
    return Ingested(400, body)


def _joi(value: Any) -> Ingested | None:
    """Joi.array().max(2000), as the error middleware reports it (None: accepted)."""
    if not isinstance(value, list):
        detail = {
            "message": '"value" must be an array',
            "path": [],
            "type": "array.base",
            "context": {"label": "value", "value": json_value(value)},
        }
        return _bad_request("Erreur de validation", [detail])
    if len(value) > MAX_ITEMS:
        detail = {
            "message": f'"value" must contain less than or equal to {MAX_ITEMS} items',
            "path": [],
            "type": "array.max",
            "context": {"limit": MAX_ITEMS, "value": json_value(value), "label": "value"},
        }
        return _bad_request("Erreur de validation", [detail])
    return None


def _media_type(content_type: str | None) -> tuple[str, str | None]:
    """Return (media type, charset) of a Content-Type header."""
    if not content_type:
        return "", None
    media, *params = content_type.split(";")
    charset = None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return media.strip().lower(), charset


def _reject_constant(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity are not JSON for JavaScript


def _parse(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # a lone surrogate, a big integer... or not JSON
        return json.loads(text, parse_constant=_reject_constant)


def ingest(
    raw: bytes,
    content_type: str | None,
    *,
    organisme_id: str,
    ids: ObjectIds,
    now: dt.datetime | None = None,
    extra_rule: ExtraRule | None = None,
) -> Ingested:
    """Answer one request of an authenticated organisme (its body at most 10 MB)."""
    media, charset = _media_type(content_type)
    if media != "application/json":
        return _joi({}) or Ingested(500, {})  # no body parser ran: req.body is {}
    if charset is not None and not charset.startswith("utf-"):
        return Ingested(
            415,
            {
                "error": "Unsupported Media Type",
                "message": f'unsupported charset "{charset.upper()}"',
            },
        )
    encoding = {"utf-8": "utf-8", "utf8": "utf-8", "utf-16le": "utf-16-le"}.get(charset or "utf-8")
    if encoding is None:
        return Ingested(
            415, {"error": "Unsupported Media Type", "message": "specified encoding unsupported"}
        )
    fast = compiled.accepted(raw, MAX_ITEMS) if encoding == "utf-8" else None
    if fast is not None and None not in fast:  # the usual batch: every item accepted as is
        return _answer(fast, fast, organisme_id, ids, now, extra_rule)
    text = raw.decode(encoding, "replace").removeprefix("\ufeff")
    if not text:
        return _joi({}) or Ingested(500, {})  # an empty body is {}
    first = text.lstrip(" \t\n\r")[:1]
    if first not in ("{", "["):
        return _bad_request(strict_violation(text))
    try:
        body = _parse(text)
    except (ValueError, RecursionError):
        return _bad_request(parse_error(text) or "Unexpected end of JSON input")
    refused = _joi(body)
    if refused is not None:
        return refused
    return _answer(body, fast, organisme_id, ids, now, extra_rule)


def _answer(
    items: list[Any],
    fast: list[dict[str, Any] | None] | None,
    organisme_id: str,
    ids: ObjectIds,
    now: dt.datetime | None,
    extra_rule: ExtraRule | None,
) -> Ingested:
    moment = now or dt.datetime.now(dt.UTC)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    day = moment.strftime("%Y-%m-%d")
    data = []
    queued = []
    invalid = False
    for index, item in enumerate(items):
        known = fast[index] if fast is not None else None
        if known is not None:  # accepted as it is: the values are the echo, in order
            echo = dict(known)
            given_nir = truthy(echo.pop("nir_apprenant", UNDEFINED))
            errors: list[FieldError] = []
            output = echo
        else:
            judged = judge(item)
            errors, output = judged.errors, judged.output
            echo = {name: json_value(value) for name, value in echo_values(item).items()}
            given_nir = has_nir(item)
        if not errors and extra_rule is not None:
            errors = extra_rule(output)
        values = dict(echo)
        echo["has_nir"] = given_nir
        echo["validation_errors"] = []
        echo["updated_at"] = stamp
        echo["created_at"] = stamp
        if errors:
            echo["processed_at"] = stamp
            invalid = True
        else:
            key = (
                output["etablissement_formateur_uai"],
                output["etablissement_formateur_siret"],
                output["annee_scolaire"],
                output["id_erp_apprenant"],
            )
            queued.append(Queued(values, given_nir, key, organisme_id))
        echo["validation_errors"] = [error.as_json() for error in errors]
        echo["source"] = SOURCE
        echo["source_organisme_id"] = organisme_id
        echo["api_version"] = "v3"
        echo["has_error"] = bool(errors)
        echo["computed_day"] = day
        echo["_id"] = ids.next()
        data.append(echo)
    answer: dict[str, Any] = {"status": "OK", "message": "Queued"}
    if invalid:
        answer["detail"] = "Some data are invalid"
    answer["data"] = data
    return Ingested(200, answer, queued)
