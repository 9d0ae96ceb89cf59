"""The sandbox as a well-behaved server: bad framing, slow and idle clients, chunked bodies,
the confirmation page, learners' data behind the demo key, --dump on SIGTERM."""

from __future__ import annotations

import html
import json
import signal
import socket
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx

from tdba_wizard.sandbox import Sandbox, load_seed

from .conftest import valid_record
from .servers import free_port, sandbox_command

ROUTE = "/api/v3/dossiers-apprenants"


def raw(sandbox: Sandbox, request: bytes, *, wait: float = 5.0) -> bytes:
    """Send bytes as they are; return what comes back until the server closes or ``wait``."""
    parts = urlsplit(sandbox.url)
    assert parts.hostname is not None and parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=wait) as connection:
        connection.sendall(request)
        received = b""
        try:
            while chunk := connection.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    return received


def post_head(sandbox: Sandbox, headers: str) -> bytes:
    key = sandbox.organismes[0].demo_key
    return (
        f"POST {ROUTE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\n{headers}\r\n"
    ).encode()


def test_an_invalid_content_length_is_a_400(sandbox: Sandbox) -> None:
    for value in ("abc", "-5", "1e3", "12 34"):
        answer = raw(sandbox, post_head(sandbox, f"Content-Length: {value}\r\n") + b"[]")
        assert answer.startswith(b"HTTP/1.1 400"), (value, answer[:80])
        assert b"Content-Length invalide" in answer


def test_content_length_and_chunked_together_are_refused(sandbox: Sandbox) -> None:
    head = post_head(sandbox, "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n")
    answer = raw(sandbox, head + b"2\r\n[]\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400")


def test_a_chunked_body_is_read(sandbox: Sandbox) -> None:
    item = json.dumps([valid_record(sandbox.organismes[0])]).encode()
    chunks = [item[:10], item[10:]]

    def body() -> bytes:
        return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"

    answer = raw(sandbox, post_head(sandbox, "Transfer-Encoding: chunked\r\n") + body())
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert len(sandbox.records()) == 1
    garbled = raw(sandbox, post_head(sandbox, "Transfer-Encoding: chunked\r\n") + b"zz\r\n")
    assert garbled.startswith(b"HTTP/1.1 400")


def test_idle_and_slow_clients_are_timed_out(sandbox: Sandbox) -> None:
    sandbox.idle_timeout = 0.5
    sandbox.body_deadline = 1.0
    started = time.monotonic()
    assert raw(sandbox, b"", wait=10) == b""  # idle: closed by the server
    assert time.monotonic() - started < 5
    parts = urlsplit(sandbox.url)
    assert parts.hostname is not None and parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        connection.sendall(post_head(sandbox, "Content-Length: 20\r\n"))
        try:
            for byte in b"[" + b" " * 8:  # trickled, never finished in time
                connection.sendall(bytes([byte]))
                time.sleep(0.3)
        except OSError:
            pass  # the server answered and closed meanwhile
        answer = connection.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408")


def test_learner_records_need_the_demo_key(sandbox: Sandbox) -> None:
    url = sandbox.url.replace("/api/", "/__sandbox/records")
    assert httpx.get(url, timeout=5).status_code == 403
    wrong = {"Authorization": "Bearer 00000000-0000-4000-8000-000000000000"}
    assert httpx.get(url, headers=wrong, timeout=5).status_code == 403


def test_the_confirmation_page_follows_tdba_s_rules(sandbox: Sandbox) -> None:
    from tdba_wizard import erps

    organisme = sandbox.organismes[0]
    root = sandbox.url.removesuffix("/").removesuffix("/api")

    def page(**query: str) -> httpx.Response:
        answer = httpx.get(f"{root}/connexion-api?{urlencode(query)}", timeout=5)
        answer.shown = html.unescape(answer.text)  # type: ignore[attr-defined]
        return answer

    good = {"siret": organisme.siret, "uai": organisme.uai, "erp": "ammon"}
    without_key = page(**good)
    assert without_key.status_code == 200 and "Paramètres sur l'ERP « Ammon »" in without_key.shown
    refused = page(**good, api_key="00000000-0000-4000-8000-000000000000")
    assert refused.status_code == 403 and "pas les droits" in refused.shown
    extra = page(**good, api_key=organisme.demo_key, autre="x")
    assert extra.status_code == 400 and "exactement siret, uai, erp et api_key" in extra.shown
    missing = page(siret=organisme.siret, erp="ammon", api_key=organisme.demo_key)
    assert missing.status_code == 400
    for erp in erps.IDS:
        confirmed = page(**{**good, "erp": erp}, api_key=organisme.demo_key)
        assert confirmed.status_code == 200 and "Accrochage confirmé" in confirmed.shown
        assert f"l'ERP « {erps.get(erp).name} »" in confirmed.shown
        assert sandbox.confirmations() == {organisme.id: erp}
        assert organisme.demo_key not in confirmed.shown
    assert "text/html; charset=utf-8" in confirmed.headers["content-type"]
    unknown = page(**{**good, "erp": "inconnu"}, api_key=organisme.demo_key)
    assert unknown.status_code == 200 and "ne connaît pas" in unknown.shown


def test_verbose_log_never_shows_a_key(tmp_path: Path) -> None:
    port = free_port()
    with sandbox_command("--port", str(port), "--verbose") as (process, _):
        key = load_seed().organismes[0].demo_key
        organisme = load_seed().organismes[0]
        query = urlencode({"uai": organisme.uai, "siret": organisme.siret, "api_key": key})
        httpx.get(f"http://127.0.0.1:{port}/connexion-api?{query}", timeout=5)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    assert "/connexion-api" in err and key not in err


def test_dump_is_written_on_sigterm_for_the_owner_only(tmp_path: Path) -> None:
    port = free_port()
    dump = tmp_path / "recus.json"
    with sandbox_command("--port", str(port), "--dump", str(dump)) as (process, _):
        organisme = load_seed().organismes[0]
        sent = httpx.post(
            f"http://127.0.0.1:{port}{ROUTE}",
            json=[valid_record(organisme)],
            headers={"Authorization": f"Bearer {organisme.demo_key}"},
            timeout=5,
        )
        assert sent.status_code == 200
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=20)
    assert process.returncode == 0
    assert "Dossiers reçus écrits" in out
    assert [r["id_erp_apprenant"] for r in json.loads(dump.read_text("utf-8"))] == ["A1"]
    assert oct(dump.stat().st_mode & 0o777) == "0o600"
