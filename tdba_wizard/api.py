"""The TDBA API client (httpx, async). Every call returns a typed outcome, never raises.

Outcomes are :class:`Ok` or a subclass of :class:`Failure`; each failure has one French
explanation a CFA admin can act on. The key is passed per call, sent only in the Authorization
header, and never kept in any repr, log or error text.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import json
import os
import re
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import pydantic_core
from pydantic_core import core_schema

from tdba_wizard import __version__
from tdba_wizard.outcomes import (
    NATURE_LABELS,
    SUPPORT,
    ApiInfo,
    BatchResult,
    Failure,
    ItemRejection,
    KeyRefused,
    NetworkCause,
    NetworkFailure,
    Ok,
    Organisme,
    OrganismeNotFound,
    PayloadRefused,
    RateLimited,
    ServerError,
    UnexpectedAnswer,
)
from tdba_wizard.wire import MAX_BATCH_ITEMS, encode_json

__all__ = [
    "NATURE_LABELS",
    "SUPPORT",
    "ApiInfo",
    "BatchResult",
    "Failure",
    "ItemRejection",
    "KeyRefused",
    "NetworkCause",
    "NetworkFailure",
    "Ok",
    "Organisme",
    "OrganismeNotFound",
    "Pacer",
    "Pacers",
    "PayloadRefused",
    "RateLimited",
    "ServerError",
    "TdbaClient",
    "UnexpectedAnswer",
    "classify_network_error",
    "trust_store",
]

T = TypeVar("T")
USER_AGENT = f"tdba-wizard/{__version__}"
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
SEND_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
# httpx timeouts bound each network operation; a server that trickles its answer byte by byte
# never trips them. These bound a whole call.
DEFAULT_DEADLINE = 30.0
SEND_DEADLINE = 180.0


# -- the client --------------------------------------------------------------------------


def _cause_chain(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def classify_network_error(error: httpx.TransportError, host: str) -> NetworkFailure:
    """Return the network failure cause of an httpx transport error."""
    chain = _cause_chain(error)
    text = " ".join(str(e) for e in chain)
    if isinstance(error, httpx.ProxyError):
        return NetworkFailure("proxy", host, type(error).__name__)
    if isinstance(error, httpx.TimeoutException):
        return NetworkFailure("timeout", host, type(error).__name__)
    if any(isinstance(e, ssl.SSLError) for e in chain) or "CERTIFICATE_VERIFY_FAILED" in text:
        return NetworkFailure("tls", host, "certificat")
    if any(isinstance(e, socket.gaierror) for e in chain) or "Name or service not known" in text:
        return NetworkFailure("dns", host, "DNS")
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "Connection refused" in text:
        return NetworkFailure("refused", host, "connexion refusée")
    if isinstance(error, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return NetworkFailure("dropped", host, type(error).__name__)
    return NetworkFailure("other", host, type(error).__name__)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return _NOT_JSON


_NOT_JSON = object()


@functools.cache
def _batch_answer() -> pydantic_core.SchemaValidator:
    """Read only what is counted from a 200 send answer, never the echoed learner data."""
    item = core_schema.typed_dict_schema(
        {
            "has_error": core_schema.typed_dict_field(core_schema.bool_schema(strict=True)),
            "validation_errors": core_schema.typed_dict_field(
                core_schema.nullable_schema(core_schema.list_schema(core_schema.any_schema())),
                required=False,
            ),
            "id_erp_apprenant": core_schema.typed_dict_field(
                core_schema.any_schema(), required=False
            ),
        },
        extra_behavior="ignore",
    )
    return pydantic_core.SchemaValidator(
        core_schema.typed_dict_schema(
            {"data": core_schema.typed_dict_field(core_schema.list_schema(item))},
            extra_behavior="ignore",
        )
    )


_HAS_ERROR = b'"has_error"'
_NO_ERROR = b'"has_error":false'


def _all_accepted(response: httpx.Response, expected: int) -> bool:
    """Return True when a 200 answer plainly says that each of ``expected`` items is accepted.

    The answer echoes every record (about 1 kB each), so the whole nightly roster comes back;
    when TDBA accepted them all, counting the ``has_error`` keys, all false, is enough. This
    counts keys only: in JSON a string value cannot hold an unescaped quote, so no learner
    data can look like one. Any other shape (an error, spaces, a missing key) is read fully.
    """
    if not response.headers.get("Content-Type", "").startswith("application/json"):
        return False
    content = response.content
    return content.count(_HAS_ERROR) == expected and content.count(_NO_ERROR) == expected


def _message(body: Any) -> str:
    return str(body.get("message", "")) if isinstance(body, dict) else ""


def _organisme(data: Any) -> Organisme:
    if not isinstance(data, dict) or not isinstance(data.get("uai"), str):
        raise TypeError("organisme")
    adresse = data.get("adresse")
    return Organisme(
        id=str(data.get("_id", "")),
        siret=str(data.get("siret", "")),
        uai=data["uai"],
        enseigne=data.get("enseigne"),
        raison_sociale=data.get("raison_sociale"),
        ferme=bool(data.get("ferme", False)),
        nature=str(data.get("nature", "inconnue")),
        adresse=adresse if isinstance(adresse, dict) else {},
    )


def trust_store() -> ssl.SSLContext | bool:
    """Return a verifying TLS context on the system's trust store, else httpx's (certifi).

    The system store is where an IT department installs the root certificate of an inspecting
    proxy. Its hashed directory (``/etc/ssl/certs``) is read by OpenSSL lazily, one certificate
    when a chain needs it; the bundle file is parsed whole at start (50 ms, paid by every
    ``--check``), so it is loaded only when there is no hashed directory, or when
    ``SSL_CERT_FILE`` names it. ``SSL_CERT_DIR`` applies too.
    """
    paths = ssl.get_default_verify_paths()
    capath = paths.capath if _hashed_directory(paths.capath) else None
    named = os.environ.get(paths.openssl_cafile_env)
    # Naming the system's own bundle (as some images do) changes nothing: it is what the
    # hashed directory holds (both are written by update-ca-certificates).
    chosen = bool(named and os.path.realpath(named) != os.path.realpath(paths.openssl_cafile))
    cafile = paths.cafile if paths.cafile and (chosen or capath is None) else None
    if cafile or capath:
        return ssl.create_default_context(cafile=cafile, capath=capath)
    return True  # no system store (a bare container): httpx's bundled certifi


_HASH_LINK = re.compile(r"[0-9a-f]{8}\.0")


def _hashed_directory(path: str | None) -> bool:
    """Return True for a certificate directory with OpenSSL's hash links (``1a2b3c4d.0``)."""
    if not path:
        return False
    try:
        with os.scandir(path) as entries:
            return any(_HASH_LINK.fullmatch(entry.name) for entry in entries)
    except OSError:
        return False


LIMIT_WINDOW = 60.0
LIMIT_SHARE = 250
"""Requests started per minute and per limit, of TDBA's 300 per minute per IP (its « public »
limit on the organismes look-ups, its « ingestionAuth » limit on every v3 request): the rest
is left to other programs of the same address."""


class Pacer:
    """Keep the requests of one of TDBA's per-IP limits under it: at most ``share`` started in
    any ``window`` seconds (a burst of fewer goes at once; more wait their turn)."""

    def __init__(self, share: int = LIMIT_SHARE, window: float = LIMIT_WINDOW) -> None:
        self.share = share
        self.window = window
        self._started: collections.deque[float] = collections.deque()
        self._lock = asyncio.Lock()
        self.waited = 0.0
        """Seconds spent waiting for a turn (said in reports: a network's run is paced)."""

    async def turn(self) -> None:
        async with self._lock:
            now = time.monotonic()
            while self._started and now - self._started[0] >= self.window:
                self._started.popleft()
            if len(self._started) >= self.share:
                delay = self.window - (now - self._started[0])
                self.waited += delay
                await asyncio.sleep(delay)
                self._started.popleft()
            self._started.append(time.monotonic())


@dataclass
class Pacers:
    """One pacer per TDBA limit, shared by every client of a run."""

    lookups: Pacer = field(default_factory=Pacer)
    ingestion: Pacer = field(default_factory=Pacer)

    @property
    def waited(self) -> float:
        return self.lookups.waited + self.ingestion.waited


class TdbaClient:
    """Async client of one TDBA API root (``.../api/``)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        send_timeout: httpx.Timeout = SEND_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        send_deadline: float = SEND_DEADLINE,
        verify: ssl.SSLContext | bool = True,
        max_connections: int = 20,
        pacers: Pacers | None = None,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.pacers = pacers or Pacers()
        self.host = httpx.URL(self.base_url).host
        self._send_timeout = send_timeout
        self._deadline = deadline
        self._send_deadline = send_deadline
        # trust_env: HTTP(S)_PROXY, NO_PROXY, SSL_CERT_FILE are honoured, as CFAs need.
        self._http = httpx.AsyncClient(
            timeout=timeout,
            verify=trust_store() if verify is True else verify,
            trust_env=True,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            limits=httpx.Limits(max_connections=max_connections),
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"TdbaClient({self.base_url!r})"

    async def __aenter__(self) -> TdbaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        key: str | None = None,
        content: bytes | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> tuple[httpx.Response, float] | NetworkFailure:
        url = self.base_url.rstrip("/") if path == "" else self.base_url + path
        headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
        if content is not None:
            headers["Content-Type"] = "application/json"
        if path.startswith("v1/organismes/"):
            await self.pacers.lookups.turn()
        elif path.startswith("v3/dossiers-apprenants"):
            await self.pacers.ingestion.turn()
        started = time.perf_counter()
        sending = timeout is not None
        try:
            response = await asyncio.wait_for(
                self._http.request(
                    method,
                    url,
                    content=content,
                    headers=headers,
                    timeout=timeout or self._http.timeout,
                ),
                self._send_deadline if sending else self._deadline,
            )
        except httpx.TransportError as error:
            return classify_network_error(error, self.host)
        except TimeoutError:
            return NetworkFailure("timeout", self.host, "délai total dépassé")
        return response, time.perf_counter() - started

    @staticmethod
    def _common_failure(response: httpx.Response, body: Any) -> Failure | None:
        """Map the statuses every call shares (403, 429, 5xx, non-JSON)."""
        status = response.status_code
        if status == 403 and isinstance(body, dict):
            return KeyRefused(_message(body) or "accès refusé")
        if status == 429:
            return RateLimited(_retry_after(response))
        if status >= 500:
            return ServerError(status)
        if body is _NOT_JSON:
            kind = response.headers.get("Content-Type", "sans type").split(";")[0]
            return UnexpectedAnswer(status, f"réponse {kind}, pas du JSON")
        return None

    async def probe(self) -> Ok[ApiInfo] | Failure:
        """``GET /api``: is TDBA reachable, and which environment answers."""
        result = await self._request("GET", "")
        if isinstance(result, Failure):
            return result
        response, latency = result
        body = _json(response)
        failure = self._common_failure(response, body)
        if failure is not None:
            return failure
        if response.status_code != 200 or not isinstance(body, dict) or "env" not in body:
            return UnexpectedAnswer(response.status_code, "pas la réponse de l'API TDBA")
        return Ok(
            ApiInfo(str(body.get("name", "")), str(body.get("version", "")), str(body["env"])),
            latency,
        )

    async def check_key(self, key: str) -> Ok[None] | Failure:
        """Prove the key is accepted (``/test``, or an empty send if that route is gone)."""
        result = await self._request("POST", "v3/dossiers-apprenants/test", key=key)
        if isinstance(result, Failure):
            return result
        response, latency = result
        if response.status_code == 404:
            sent = await self.send_batch(key, [])
            return Ok(None, sent.latency) if isinstance(sent, Ok) else sent
        body = _json(response)
        failure = self._common_failure(response, body)
        if failure is not None:
            return failure
        if response.status_code != 200:
            return UnexpectedAnswer(response.status_code, _message(body) or "statut inattendu")
        return Ok(None, latency)

    async def _lookup(self, action: str, payload: dict[str, str]) -> Ok[Any] | Failure:
        content = json.dumps(payload).encode()
        result = await self._request("POST", f"v1/organismes/{action}", content=content)
        if isinstance(result, Failure):
            return result
        response, latency = result
        body = _json(response)
        if response.status_code == 400 and _message(body) == "Aucun organisme trouvé":
            return OrganismeNotFound()
        failure = self._common_failure(response, body)
        if failure is not None:
            return failure
        if response.status_code != 200:
            return UnexpectedAnswer(response.status_code, _message(body) or "statut inattendu")
        return Ok(body, latency)

    async def find_organisme(self, uai: str, siret: str) -> Ok[Organisme] | Failure:
        """The organisme for this exact UAI+SIRET couple."""
        outcome = await self._lookup("get-by-uai-siret", {"uai": uai, "siret": siret})
        if isinstance(outcome, Failure):
            return outcome
        try:
            return Ok(_organisme(outcome.value), outcome.latency)
        except (TypeError, KeyError):
            return UnexpectedAnswer(200, "organisme mal formé")

    async def _search(self, action: str, payload: dict[str, str]) -> Ok[list[Organisme]] | Failure:
        outcome = await self._lookup(action, payload)
        if isinstance(outcome, Failure):
            return outcome
        try:
            if not isinstance(outcome.value, list):
                raise TypeError("list")
            return Ok([_organisme(item) for item in outcome.value], outcome.latency)
        except (TypeError, KeyError):
            return UnexpectedAnswer(200, "liste d'organismes mal formée")

    async def search_by_siret(self, siret: str) -> Ok[list[Organisme]] | Failure:
        """Every organisme (one per UAI) TDBA has for this SIRET."""
        return await self._search("search-by-siret", {"siret": siret})

    async def search_by_uai(self, uai: str) -> Ok[list[Organisme]] | Failure:
        """Every organisme TDBA has for this UAI."""
        return await self._search("search-by-uai", {"uai": uai})

    async def send_batch(
        self,
        key: str,
        records: Sequence[Mapping[str, Any]] | bytes,
        *,
        expected: int | None = None,
    ) -> Ok[BatchResult] | Failure:
        """Send at most 2000 records; count what TDBA accepted and refused, item by item.

        ``records`` may be given already encoded as a JSON array (bytes) by a caller that
        streams, with ``expected`` the number of items in it. The answer echoes learner data:
        only positions, ERP ids and messages are kept.
        """
        if isinstance(records, bytes):
            content = records
        else:
            if len(records) > MAX_BATCH_ITEMS:
                raise ValueError(f"at most {MAX_BATCH_ITEMS} records per batch")
            content = encode_json(list(records))
            expected = len(records)
        result = await self._request(
            "POST", "v3/dossiers-apprenants", key=key, content=content, timeout=self._send_timeout
        )
        if isinstance(result, Failure):
            return result
        response, latency = result
        status = response.status_code
        if status == 413:
            return PayloadRefused(413, "Request Entity Too Large")
        if status == 200 and expected and _all_accepted(response, expected):
            return Ok(BatchResult(expected, expected, ()), latency)
        if status == 200:
            try:  # the usual answer, read without building the echoed records
                body = _batch_answer().validate_json(response.content)
            except (pydantic_core.ValidationError, ValueError):
                body = _json(response)  # not the usual shape: the checks below say how
        else:
            body = _json(response)
        if status == 400 and isinstance(body, dict):
            details = tuple(
                str(item.get("message", ""))
                for item in body.get("details") or []
                if isinstance(item, dict)
            )
            return PayloadRefused(400, _message(body) or "Bad Request", details)
        failure = self._common_failure(response, body)
        if failure is not None:
            return failure
        data = body.get("data") if isinstance(body, dict) else None
        if status != 200 or not isinstance(data, list):
            return UnexpectedAnswer(status, "réponse d'envoi sans « data »")
        if expected is not None and len(data) != expected:
            return UnexpectedAnswer(status, f"{len(data)} résultats pour {expected} envoyés")
        rejections = []
        for index, item in enumerate(data):
            if not isinstance(item, dict) or not isinstance(item.get("has_error"), bool):
                return UnexpectedAnswer(status, "résultat d'envoi mal formé")
            if item["has_error"]:
                errors = tuple(
                    (".".join(str(p) for p in error.get("path", [])), str(error.get("message")))
                    for error in item.get("validation_errors") or []
                    if isinstance(error, dict)
                )
                erp_id = item.get("id_erp_apprenant")
                rejections.append(
                    ItemRejection(index, str(erp_id) if erp_id is not None else None, errors)
                )
        return Ok(BatchResult(len(data), len(data) - len(rejections), tuple(rejections)), latency)
