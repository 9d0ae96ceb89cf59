"""The sandbox server: TDBA's routes, answers and limits, served on loopback.

Runs in a background thread (tests, ``tdba-wizard --sandbox``) or in the foreground
(``tdba-wizard sandbox``). Standard library HTTP server, threaded and keep-alive, so that it is
never the bottleneck of a benchmark. It never logs the Authorization header.
"""

from __future__ import annotations

import json
import ssl
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import pydantic_core

from tdba_wizard.records.dossier import judge
from tdba_wizard.sandbox.processing import process, processing_errors
from tdba_wizard.sandbox.route import ExtraRule, Key, ObjectIds, Queued, ingest
from tdba_wizard.wire import encode_json

MAX_BODY_BYTES = 10 * 1024 * 1024
IDLE_TIMEOUT = 15.0
"""Seconds a connection may stay silent (idle keep-alive, a stalled request) before it is
closed."""
BODY_DEADLINE = 60.0
"""Seconds a request body may take to arrive, however slowly it trickles in."""
FailureKind = Literal["500", "429", "drop", "slow"]
_TOO_LARGE_HTML = (
    b"<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
    b"<center><h1>413 Request Entity Too Large</h1></center>\r\n</body>\r\n</html>\r\n"
)


class _QuietServer(ThreadingHTTPServer):
    """A threaded server that does not print a traceback when a client hangs up."""

    daemon_threads = True
    request_queue_size = 128  # the default backlog (5) drops bursts of concurrent connections

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (BrokenPipeError, ConnectionResetError, TimeoutError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)


@dataclass(frozen=True)
class Organisme:
    """An organisme as TDBA's public look-ups project it, with its demo key."""

    siret: str
    uai: str
    enseigne: str
    raison_sociale: str
    ferme: bool
    nature: str
    adresse: dict[str, Any]
    demo_key: str
    id: str

    def public(self) -> dict[str, Any]:
        """Return the projection of ``get-by-uai-siret`` and the searches."""
        return {
            "_id": self.id,
            "siret": self.siret,
            "uai": self.uai,
            "enseigne": self.enseigne,
            "raison_sociale": self.raison_sociale,
            "ferme": self.ferme,
            "nature": self.nature,
            "adresse": self.adresse,
        }


@dataclass(frozen=True)
class Seed:
    """The sandbox's starting data: environment name, version and organismes."""

    env: str
    version: str
    organismes: tuple[Organisme, ...]


def load_seed(path: Path | None = None) -> Seed:
    """Read a seed file (the built-in demo one by default)."""
    if path is None:
        text = resources.files("tdba_wizard.sandbox").joinpath("seed.json").read_text("utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    organismes = tuple(
        Organisme(id=f"{index + 1:024x}", **item) for index, item in enumerate(data["organismes"])
    )
    return Seed(data.get("env", "sandbox"), data.get("version", "sandbox"), organismes)


@dataclass
class RateLimit:
    """TDBA's limits (``rateLimit.tiers`` of its config, all enforced): per IP, one counter
    for the public organismes look-ups (« public ») and another for every v3 request before
    its key is checked (« ingestionAuth »); per organisme after (« ingestion »)."""

    per_ip: int = 300
    per_organisme: int = 3000
    window: float = 60.0


@dataclass
class Failure:
    """A failure to inject into the next matching requests."""

    kind: FailureKind
    count: int = 1
    path: str = "/api/v3/"
    """The path it applies to; a path ending with "/" covers everything under it."""
    retry_after: int = 1
    slow_seconds: float = 5.0


@dataclass
class _Window:
    start: float
    count: int = 0


@dataclass
class _State:
    seed: Seed
    keys: dict[str, Organisme]
    revoked: set[str] = field(default_factory=set)
    records: dict[Key, Queued] = field(default_factory=dict)
    failures: deque[Failure] = field(default_factory=deque)
    windows: dict[str, _Window] = field(default_factory=dict)
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    transmissions: list[tuple[str, str, Key]] = field(default_factory=list)
    """(day, sender, record key) of every record received, as TDBA's transmissions report."""
    confirmed: dict[str, str] = field(default_factory=dict)
    """Organisme id → the ERP whose connection was confirmed on /connexion-api."""
    lock: threading.Lock = field(default_factory=threading.Lock)


class Sandbox:
    """A TDBA-compatible API on loopback, with knobs for tests and benchmarks."""

    def __init__(
        self,
        *,
        seed: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: tuple[Path, Path] | None = None,
        verbose: bool = False,
    ) -> None:
        loaded = load_seed(seed)
        self._state = _State(loaded, {o.demo_key: o for o in loaded.organismes})
        self.latency = 0.0
        """Seconds added before every answer."""
        self.rate_limit: RateLimit | None = None
        """Limits enforced with 429, as production does (None: not enforced, so that tests and
        demos that do not look at them are not slowed)."""
        self.extra_rule: ExtraRule | None = None
        """A server rule the client does not know (to test rows TDBA alone refuses)."""
        self.test_route = True
        """Whether ``POST /api/v3/dossiers-apprenants/test`` exists (False: it 404s)."""
        self.idle_timeout = IDLE_TIMEOUT
        self.body_deadline = BODY_DEADLINE
        self.verbose = verbose
        self._ids = ObjectIds()
        self._server = _QuietServer((host, port), _make_handler(self))
        self._tls = tls is not None
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Return the API root, as it goes into the config's ``[api] url``."""
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{host}]" if ":" in host else host
        return f"{'https' if self._tls else 'http'}://{shown}:{port}/api/"

    def start(self) -> Sandbox:
        """Serve in a background thread; return self."""
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # quick shutdown
            name="tdba-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` or KeyboardInterrupt."""
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- knobs and inspection --------------------------------------------------------------

    @property
    def organismes(self) -> tuple[Organisme, ...]:
        """Return the seeded organismes."""
        return self._state.seed.organismes

    def inject(self, failure: Failure) -> None:
        """Make the next matching requests fail as described."""
        with self._state.lock:
            self._state.failures.append(failure)

    def revoke(self, key: str) -> None:
        """Revoke a key, as TDBA does after 12 months without activity."""
        with self._state.lock:
            self._state.revoked.add(key)

    def records(self, sender: str | None = None) -> list[dict[str, Any]]:
        """Return the records received as TDBA stores them (latest values after upserts),
        each with the errors TDBA's processing finds later (``_processing_errors``); only
        those one organisme sent, when ``sender`` is its id."""
        known = {(o.uai, o.siret) for o in self.organismes}
        with self._state.lock:
            stored = [
                q for q in self._state.records.values() if sender is None or q.sender == sender
            ]
        result = []
        for queued in stored:
            record = process({**judge(queued.values).output, "has_nir": queued.has_nir})
            record["_processing_errors"] = processing_errors(record, known)
            result.append(record)
        return result

    def requests(self) -> list[tuple[str, str, int]]:
        """Return (method, path, status) of every request answered so far."""
        with self._state.lock:
            return list(self._state.requests)

    def transmissions(self, sender: str, day: str | None = None) -> list[dict[str, Any]]:
        """TDBA's transmissions report for one organisme: per day (successes and errors of
        its processing), or, for ``day``, per learner with the errors."""
        known = {(o.uai, o.siret) for o in self.organismes}
        with self._state.lock:
            sent = [(d, key) for d, who, key in self._state.transmissions if who == sender]
            stored = {key: self._state.records[key] for _, key in sent}
        judged: dict[Key, tuple[dict[str, Any], list[str]]] = {}
        for key, queued in stored.items():
            record = process({**judge(queued.values).output, "has_nir": queued.has_nir})
            judged[key] = (record, processing_errors(record, known))
        if day is None:
            days: dict[str, dict[str, int]] = {}
            for when, key in sent:
                counts = days.setdefault(when, {"success": 0, "error": 0})
                counts["error" if judged[key][1] else "success"] += 1
            return [{"date": d, "total": c["success"] + c["error"], **c}
                    for d, c in sorted(days.items(), reverse=True)]  # fmt: skip
        rows = []
        for when, key in sent:
            if when != day:
                continue
            record, errors = judged[key]
            rows.append({
                "id_erp_apprenant": record.get("id_erp_apprenant"),
                "nom": record.get("nom_apprenant"),
                "prenom": record.get("prenom_apprenant"),
                "annee_scolaire": record.get("annee_scolaire"),
                "formateur": {"uai": record.get("etablissement_formateur_uai"),
                              "siret": record.get("etablissement_formateur_siret")},
                "responsable": {"uai": record.get("etablissement_responsable_uai"),
                                "siret": record.get("etablissement_responsable_siret")},
                "errors": errors,
            })  # fmt: skip
        return rows

    def confirmations(self) -> dict[str, str]:
        """Return the organismes whose ERP connection was confirmed (id → ERP)."""
        with self._state.lock:
            return dict(self._state.confirmed)

    def dump(self, path: Path) -> None:
        """Write the records received to a JSON file, readable by its owner only (0600: they
        hold learners' data)."""
        from tdba_wizard.files import write_private_atomic

        text = json.dumps(self.records(), ensure_ascii=False, indent=2) + "\n"
        write_private_atomic(path, text.encode("utf-8"))

    # -- used by the handler ---------------------------------------------------------------

    def _take_failure(self, path: str) -> Failure | None:
        with self._state.lock:
            for failure in self._state.failures:
                wanted = failure.path
                if path == wanted or (wanted.endswith("/") and path.startswith(wanted)):
                    failure.count -= 1
                    if failure.count <= 0:
                        self._state.failures.remove(failure)
                    return failure
        return None

    def _limited(self, bucket: str, limit: int) -> tuple[bool, dict[str, str]]:
        """Count one request in ``bucket``; return (over the limit, RateLimit-* headers)."""
        policy = self.rate_limit
        if policy is None:
            return False, {}
        now = time.monotonic()
        with self._state.lock:
            window = self._state.windows.get(bucket)
            if window is None or now - window.start >= policy.window:
                window = self._state.windows[bucket] = _Window(now)
            window.count += 1
            reset = max(1, round(policy.window - (now - window.start)))
            headers = {
                "RateLimit-Limit": str(limit),
                "RateLimit-Remaining": str(max(0, limit - window.count)),
                "RateLimit-Reset": str(reset),
            }
            if window.count > limit:
                headers["Retry-After"] = str(reset)
                return True, headers
        return False, headers

    def _store(self, queued: list[Queued]) -> None:
        # A stored record holds the values as they were given (atomic values only: the cyclic
        # GC leaves them alone). What TDBA keeps of them is worked out when they are looked at.
        records = self._state.records
        day = time.strftime("%Y-%m-%d", time.gmtime())
        with self._state.lock:
            self._state.transmissions.extend((day, item.sender, item.key) for item in queued)
            for item in queued:
                stored = records.get(item.key)
                if stored is None:
                    records[item.key] = item
                else:  # null/absent values never erase stored ones
                    stored.values.update(item.values)
                    stored.has_nir = item.has_nir


class _Answer(Exception):
    """Raised inside the handler to send a JSON answer at once."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _bad_request(message: str, details: list[dict[str, Any]] | None = None) -> _Answer:
    body: dict[str, Any] = {"error": "Bad Request", "message": message}
    if details is not None:
        body["details"] = details
    return _Answer(400, body)


def _page(title: str, text: str) -> bytes:
    """A minimal French HTML page (the sandbox's stand-in for TDBA's web pages)."""
    from html import escape

    return (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head><body><h1>{escape(title)}</h1>"
        f"<p>{escape(text)}</p>"
        "<p>Tableau de bord de l'apprentissage — bac à sable de tdba-wizard</p></body></html>"
    ).encode()


def _make_handler(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    state = sandbox._state

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "tdba-sandbox"
        sys_version = ""

        def setup(self) -> None:
            super().setup()
            self.connection.settimeout(sandbox.idle_timeout)  # idle or stalled: closed

        def log_message(self, format: str, *args: Any) -> None:
            if sandbox.verbose:  # path and status only; never headers, bodies or queries
                args = tuple(arg.split("?", 1)[0] if isinstance(arg, str) else arg for arg in args)
                super().log_message(format, *args)

        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            if sandbox.verbose:  # the request line without its query (it may hold a key)
                line = self.requestline.split("?", 1)[0]
                super().log_message('"%s" %s %s', line, str(code), str(size))

        # -- plumbing ---------------------------------------------------------------------

        def _read_body(self) -> bytes:
            """Read the body: Content-Length or chunked, within the size and time limits."""
            deadline = time.monotonic() + sandbox.body_deadline
            chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
            declared = self.headers.get("Content-Length")
            if chunked and declared is not None:
                self.close_connection = True  # both: a smuggling attempt, never guessed
                raise _bad_request("Content-Length et Transfer-Encoding à la fois")
            if chunked:
                return self._read_chunked(deadline)
            try:
                length = int(declared) if declared is not None else 0
                if length < 0 or (declared is not None and not declared.strip().isdigit()):
                    raise ValueError
            except ValueError:
                self.close_connection = True
                raise _bad_request("Content-Length invalide") from None
            if length > MAX_BODY_BYTES:
                remaining = length
                while remaining > 0 and time.monotonic() < deadline:  # drain, for the 413
                    chunk = self.rfile.read(min(remaining, 1 << 20))
                    if not chunk:
                        break
                    remaining -= len(chunk)
                self.close_connection = True
                raise _Answer(413, _TOO_LARGE_HTML)
            return self._read_exactly(length, deadline)

        def _read_exactly(self, length: int, deadline: float) -> bytes:
            parts: list[bytes] = []
            remaining = length
            while remaining > 0:
                if time.monotonic() > deadline:
                    self.close_connection = True
                    raise _Answer(408, {"error": "Request Timeout", "message": "Corps trop lent"})
                chunk = self.rfile.read1(min(remaining, 1 << 16))
                if not chunk:
                    self.close_connection = True
                    raise _bad_request("Corps de requête incomplet")
                parts.append(chunk)
                remaining -= len(chunk)
            return b"".join(parts)

        def _read_chunked(self, deadline: float) -> bytes:
            parts: list[bytes] = []
            total = 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    self.close_connection = True
                    raise _bad_request("Corps « chunked » mal formé") from None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                total += size
                if total > MAX_BODY_BYTES:
                    self.close_connection = True
                    raise _Answer(413, _TOO_LARGE_HTML)
                parts.append(self._read_exactly(size, deadline))
                self.rfile.readline(8)  # the CRLF after the chunk

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            if isinstance(body, bytes):
                payload, content_type = body, "text/html; charset=utf-8"
            else:
                payload = encode_json(body)
                content_type = "application/json; charset=utf-8"
            with state.lock:  # logged before answering, so a client never sees it missing
                state.requests.append((self.command, self.path, status))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def _send_slowly(self, status: int, body: Any, seconds: float) -> None:
            payload = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            step = seconds / max(1, len(payload))
            try:
                for index in range(len(payload)):
                    self.wfile.write(payload[index : index + 1])
                    self.wfile.flush()
                    time.sleep(step)
            except OSError:
                pass  # the client gave up, as it should
            self.close_connection = True

        def _json_body(self) -> Any:
            return self._parse(self._read_body())

        @staticmethod
        def _parse(raw: bytes) -> Any:
            try:
                return pydantic_core.from_json(raw) if raw else None
            except ValueError:
                raise _bad_request("JSON invalide") from None

        def _authenticate(self) -> Organisme:
            header = self.headers.get("Authorization")
            if not header:
                raise _Answer(403, {"error": "Forbidden", "message": "Clé API manquante"})
            if not header.startswith("Bearer "):
                raise _Answer(
                    403, {"error": "Forbidden", "message": "La clé API doit etre au format Bearer"}
                )
            key = header[len("Bearer ") :]
            organisme = state.keys.get(key)
            if organisme is None or key in state.revoked:
                raise _Answer(403, {"error": "Forbidden", "message": "La clé API n'est pas valide"})
            return organisme

        def _rate_limit(self, bucket: str, limit: int, headers: dict[str, str]) -> None:
            limited, rate_headers = sandbox._limited(bucket, limit)
            headers.update(rate_headers)
            if limited:
                raise _Answer(
                    429,
                    {
                        "error": "Too Many Requests",
                        "message": "Trop de requêtes, veuillez réessayer plus tard.",
                    },
                    headers,
                )

        # -- dispatch ---------------------------------------------------------------------

        def _handle(self) -> None:
            path = self.path.split("?", 1)[0]
            if sandbox.latency:
                time.sleep(sandbox.latency)
            failure = sandbox._take_failure(path)
            if failure is not None:
                self._read_body()
                if failure.kind == "drop":
                    self.close_connection = True
                    return
                if failure.kind == "500":
                    self._send(500, {"error": "Internal Server Error", "message": "Erreur"})
                    return
                if failure.kind == "429":
                    self._send(
                        429,
                        {
                            "error": "Too Many Requests",
                            "message": "Trop de requêtes, veuillez réessayer plus tard.",
                        },
                        {"Retry-After": str(failure.retry_after)},
                    )
                    return
            headers: dict[str, str] = {}
            try:
                status, body = self._route(path, headers)
            except _Answer as answer:
                self._send(answer.status, answer.body, {**headers, **answer.headers})
                return
            if failure is not None and failure.kind == "slow":
                self._send_slowly(status, body, failure.slow_seconds)
                return
            self._send(status, body, headers)

        def _route(self, path: str, headers: dict[str, str]) -> tuple[int, Any]:
            method = self.command
            policy = sandbox.rate_limit or RateLimit()
            if method == "GET" and path in ("/api", "/api/"):
                return 200, {
                    "name": "TDB Apprentissage API",
                    "version": state.seed.version,
                    "env": state.seed.env,
                }
            if method == "GET" and path == "/api/healthcheck":
                return 200, {
                    "name": "TDB Apprentissage API",
                    "version": state.seed.version,
                    "env": state.seed.env,
                    "healthcheck": {"mongodb": True},
                }
            if method == "GET" and path == "/__sandbox/records":
                organisme = self._authenticate()  # learners' data: the demo key, and only its own
                return 200, sandbox.records(organisme.id)
            if method == "GET" and path.startswith("/__sandbox/transmissions"):
                organisme = self._authenticate()  # learners' data: its own, with its key
                day = path.removeprefix("/__sandbox/transmissions").strip("/") or None
                return 200, sandbox.transmissions(organisme.id, day)
            if method == "GET" and path == "/connexion-api":
                raise _Answer(*self._confirmation_page())
            if method == "POST" and path.startswith("/api/v1/organismes/"):
                self._rate_limit(f"public:{self.client_address[0]}", policy.per_ip, headers)
                return self._organismes(path.removeprefix("/api/v1/organismes/"))
            is_test = path == "/api/v3/dossiers-apprenants/test"
            if method == "POST" and (
                path == "/api/v3/dossiers-apprenants" or (is_test and sandbox.test_route)
            ):
                self._rate_limit(f"ingestionAuth:{self.client_address[0]}", policy.per_ip, headers)
                organisme = self._authenticate()
                self._rate_limit(f"org:{organisme.id}", policy.per_organisme, headers)
                if is_test:
                    self._read_body()
                    return 200, {"msg": "ok"}
                return self._dossiers(organisme)
            self._read_body()
            raise _Answer(404, {"error": "Not Found", "message": f"Route inconnue : {path}"})

        def _confirmation_page(self) -> tuple[int, bytes]:
            """TDBA's /connexion-api, as the wizard's « Confirmer l'accrochage » opens it.

            TDBA's rules (ui/pages/connexion-api.tsx, POST .../verify-user): without
            ``api_key`` the page sends to Paramètres to choose the ERP; with it, the query
            must be exactly ``siret``, ``uai``, ``erp``, ``api_key`` (a strict zod object of
            strings), and the key the organisme's; then the ERP is recorded for it.
            """
            from urllib.parse import parse_qs, urlsplit

            from tdba_wizard import erps

            parsed = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
            query = {k: v[0] for k, v in parsed.items()}
            erp = query.get("erp", "")
            name = erps.BY_ID[erp].name if erp in erps.BY_ID else None
            if "api_key" not in query:
                return 200, _page(
                    "Paramétrage de votre moyen de transmission",
                    f"Sans clé dans le lien, TDBA ouvre Paramètres sur l'ERP « {name or erp} » "
                    "(erpV3) pour générer la clé d'échange.",
                )
            expected = {"siret", "uai", "erp", "api_key"}
            if set(query) != expected or any(len(v) != 1 for v in parsed.values()):
                return 400, _page(
                    "Paramètres invalides",
                    "Le lien doit porter exactement siret, uai, erp et api_key (TDBA refuse "
                    f"les autres) ; reçus : {', '.join(sorted(query))}.",
                )
            organisme = state.keys.get(query["api_key"])
            if organisme is None or query["api_key"] in state.revoked:
                return 403, _page(
                    "Vous n’avez pas les droits pour accéder à cette page.",
                    "La clé d'échange du lien n'est pas celle de l'organisme connecté.",
                )
            with state.lock:
                state.confirmed[organisme.id] = erp
            known = f"l'ERP « {name} »" if name else f"un ERP que TDBA ne connaît pas (« {erp} »)"
            return 200, _page(
                "Accrochage confirmé",
                f"« {organisme.enseigne} » transmet ses effectifs avec {known} (bac à sable : "
                "rien n'est envoyé au vrai TDBA).",
            )

        def _organismes(self, action: str) -> tuple[int, Any]:
            body = self._json_body()
            if not isinstance(body, dict):
                raise _bad_request(
                    "Erreur de validation", [{"message": "Object attendu", "path": []}]
                )
            wanted = {"get-by-uai-siret": ("uai", "siret"), "search-by-siret": ("siret",)}
            fields = wanted.get(action, ("uai",) if action == "search-by-uai" else None)
            if fields is None:
                raise _Answer(404, {"error": "Not Found", "message": "Route inconnue"})
            missing = [
                {"message": "String attendu", "path": [name]}
                for name in fields
                if not isinstance(body.get(name), str)
            ]
            if missing:
                raise _bad_request("Erreur de validation", missing)
            found = [
                o.public()
                for o in sandbox.organismes
                if all(getattr(o, name) == body[name].strip().upper() for name in fields)
            ]
            if not found:
                raise _bad_request("Aucun organisme trouvé")
            return 200, found[0] if action == "get-by-uai-siret" else found

        def _dossiers(self, organisme: Organisme) -> tuple[int, Any]:
            answer = ingest(
                self._read_body(),
                self.headers.get("Content-Type"),
                organisme_id=organisme.id,
                ids=sandbox._ids,
                extra_rule=sandbox.extra_rule,
            )
            sandbox._store(answer.queued)
            return answer.status, answer.body

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def do_PUT(self) -> None:
            self._handle()

        def do_DELETE(self) -> None:
            self._handle()

    return Handler
