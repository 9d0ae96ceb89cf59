"""The client against the sandbox over real sockets: every outcome and its explanation."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tdba_wizard.api import (
    USER_AGENT,
    ApiInfo,
    BatchResult,
    Failure,
    KeyRefused,
    NetworkFailure,
    Ok,
    Organisme,
    OrganismeNotFound,
    Pacer,
    Pacers,
    PayloadRefused,
    RateLimited,
    ServerError,
    TdbaClient,
    UnexpectedAnswer,
    _all_accepted,
    encode_json,
    trust_store,
)
from tdba_wizard.sandbox import Failure as Inject
from tdba_wizard.sandbox import RateLimit, Sandbox

from .conftest import DEMO_KEY, demo, valid_record
from .servers import free_port, html_server, refusing_proxy, self_signed_certificate


def call(url: str, method: str, *args: Any, **client_options: Any) -> Any:
    async def go() -> Any:
        async with TdbaClient(url, **client_options) as client:
            return await getattr(client, method)(*args)

    return asyncio.run(go())


def test_probe(sandbox: Sandbox) -> None:
    outcome = call(sandbox.url, "probe")
    assert isinstance(outcome, Ok)
    assert outcome.value == ApiInfo("TDB Apprentissage API", "sandbox-2026.11", "sandbox")
    assert outcome.latency > 0


def test_user_agent_names_the_tool(sandbox: Sandbox) -> None:
    seen: list[str] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request.headers["User-Agent"])

    async def go() -> None:
        async with TdbaClient(sandbox.url) as client:
            client._http.event_hooks["request"].append(record)
            await client.probe()

    asyncio.run(go())
    assert seen == [USER_AGENT]
    assert USER_AGENT.startswith("tdba-wizard/")


def test_key_accepted(sandbox: Sandbox) -> None:
    assert isinstance(call(sandbox.url, "check_key", demo(sandbox).demo_key), Ok)
    assert ("POST", "/api/v3/dossiers-apprenants/test", 200) in sandbox.requests()


def test_key_check_falls_back_when_test_route_404s(sandbox: Sandbox) -> None:
    sandbox.test_route = False
    assert isinstance(call(sandbox.url, "check_key", demo(sandbox).demo_key), Ok)
    assert [r[1:] for r in sandbox.requests()] == [
        ("/api/v3/dossiers-apprenants/test", 404),
        ("/api/v3/dossiers-apprenants", 200),
    ]
    assert sandbox.records() == []


@pytest.mark.parametrize("revoke", [False, True])
def test_key_refused(sandbox: Sandbox, revoke: bool) -> None:
    key = demo(sandbox).demo_key if revoke else DEMO_KEY
    if revoke:
        sandbox.revoke(key)
    outcome = call(sandbox.url, "check_key", key)
    assert outcome == KeyRefused("La clé API n'est pas valide")
    assert "TDBA → Paramètres" in outcome.explanation
    assert "12 mois" in outcome.explanation
    assert key not in repr(outcome) + outcome.explanation
    assert not outcome.retryable


def test_find_organisme(sandbox: Sandbox) -> None:
    closed = demo(sandbox, 4)
    outcome = call(sandbox.url, "find_organisme", closed.uai, closed.siret)
    assert isinstance(outcome, Ok)
    organisme: Organisme = outcome.value
    assert organisme.ferme is True
    assert organisme.display_name == closed.enseigne
    assert organisme.address.endswith("MARSEILLE")


def test_organisme_not_found(sandbox: Sandbox) -> None:
    outcome = call(sandbox.url, "find_organisme", "0802004U", "77937827200016")
    assert outcome == OrganismeNotFound()
    assert "Vérifiez l'UAI et le SIRET" in outcome.explanation


def test_search_by_siret_offers_the_uais(sandbox: Sandbox) -> None:
    outcome = call(sandbox.url, "search_by_siret", "13002526500013")
    assert isinstance(outcome, Ok)
    assert sorted(o.uai for o in outcome.value) == ["0754321P", "0755805C"]
    assert call(sandbox.url, "search_by_uai", "0951099D").value[0].nature == "lieu_formation"


def test_send_batch_counts_items(sandbox: Sandbox) -> None:
    organisme = demo(sandbox)
    batch = [
        valid_record(organisme, "A"),
        valid_record(organisme, "B", statut_apprenant=7, email_contact="x"),
        valid_record(organisme, "C"),
    ]
    outcome = call(sandbox.url, "send_batch", organisme.demo_key, batch)
    assert isinstance(outcome, Ok)
    result: BatchResult = outcome.value
    assert (result.sent, result.accepted, result.rejected) == (3, 2, 1)
    [rejection] = result.rejections
    assert rejection.index == 1 and rejection.id_erp_apprenant == "B"
    assert set(rejection.errors) == {
        ("statut_apprenant", "Valeurs possibles: 0,2,3"),
        ("email_contact", "Email non valide"),
    }
    assert "Martin" not in repr(result).upper() and "LÉA" not in repr(result).upper()
    assert len(sandbox.records()) == 2


@pytest.mark.parametrize("refused", [False, True])
def test_learner_data_cannot_pass_for_an_answer(sandbox: Sandbox, refused: bool) -> None:
    # A 200 answer where everything is accepted is only counted (see api._all_accepted):
    # echoed values that spell the keys it counts must not change what is counted.
    organisme = demo(sandbox)
    spelled = '"has_error":false,"has_error":true}, {"has_error":false'
    batch = [
        valid_record(organisme, "A", adresse_apprenant=spelled),
        valid_record(organisme, "B", cause_exclusion_formation=spelled * 3),
    ]
    if refused:
        batch.append(valid_record(organisme, "C", email_contact=spelled))
    outcome = call(sandbox.url, "send_batch", organisme.demo_key, batch)
    assert isinstance(outcome, Ok)
    assert (outcome.value.sent, outcome.value.accepted) == (len(batch), 2)
    assert [r.id_erp_apprenant for r in outcome.value.rejections] == (["C"] if refused else [])


@pytest.mark.parametrize(
    ("content_type", "body", "counted"),
    [
        ("application/json", b'{"data":[{"x":"\\\\","has_error":false}]}', True),
        ("text/html", b'<p>{"has_error":false}</p>', False),
        ("application/json", b'{"data":[{"has_error": false}]}', False),  # spaced: read
        ("application/json", b'{"data":[{"has_error":false,"has_error":true}]}', False),
        ("application/json", b'{"data":[{"has_error":false},{"has_error":false}]}', False),
    ],
)
def test_only_a_plain_answer_is_counted(content_type: str, body: bytes, counted: bool) -> None:
    response = httpx.Response(200, headers={"Content-Type": content_type}, content=body)
    assert _all_accepted(response, 1) is counted


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@given(json_values)
def test_encode_json_is_compact_json(value: Any) -> None:
    body = encode_json(value)
    assert json.loads(body) == value
    if b"\\u" not in body:  # no escaped fallback: the usual UTF-8, with no spaces
        assert body == json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def test_encode_json_escapes_what_utf8_cannot_hold() -> None:
    assert json.loads(encode_json({"nom": "\ud800", "n": 2**70})) == {"nom": "\ud800", "n": 2**70}


def test_rate_limited_with_retry_after(sandbox: Sandbox) -> None:
    sandbox.rate_limit = RateLimit(per_organisme=1, window=20)
    key = demo(sandbox).demo_key

    async def go() -> list[Any]:
        async with TdbaClient(sandbox.url) as client:
            return [await client.send_batch(key, []), await client.send_batch(key, [])]

    first, second = asyncio.run(go())
    assert isinstance(first, Ok)
    assert isinstance(second, RateLimited)
    assert second.retry_after is not None and 1 <= second.retry_after <= 20
    assert second.retryable
    assert "nouvel essai possible dans" in second.explanation


def test_pacer_lets_a_burst_through_and_spreads_the_rest() -> None:
    pacer = Pacer(share=3, window=0.4)

    async def go() -> list[float]:
        started = time.monotonic()
        moments = []
        for _ in range(7):
            await pacer.turn()
            moments.append(time.monotonic() - started)
        return moments

    moments = asyncio.run(go())
    assert moments[2] < 0.3  # the first three at once
    assert moments[3] >= 0.4 and moments[6] >= 0.8  # never more than three in 0.4 s
    assert pacer.waited > 0.7


def test_clients_sharing_pacers_stay_under_the_limit_together(sandbox: Sandbox) -> None:
    sandbox.rate_limit = RateLimit(per_ip=4, per_organisme=100, window=1)
    pacers = Pacers(lookups=Pacer(4, 1.2), ingestion=Pacer(4, 1.2))
    key = demo(sandbox).demo_key

    async def go() -> list[Any]:
        async with (
            TdbaClient(sandbox.url, pacers=pacers) as one,
            TdbaClient(sandbox.url, pacers=pacers) as two,
        ):
            return await asyncio.gather(*(client.check_key(key) for client in (one, two) * 5))

    assert all(isinstance(outcome, Ok) for outcome in asyncio.run(go()))
    assert pacers.waited > 0 and pacers.lookups.waited == 0


def test_injected_429_carries_retry_after(sandbox: Sandbox) -> None:
    sandbox.inject(Inject("429", retry_after=7))
    assert call(sandbox.url, "send_batch", demo(sandbox).demo_key, []) == RateLimited(7.0)


def test_server_error(sandbox: Sandbox) -> None:
    sandbox.inject(Inject("500"))
    outcome = call(sandbox.url, "check_key", demo(sandbox).demo_key)
    assert outcome == ServerError(500)
    assert outcome.retryable and "réessayez plus tard" in outcome.explanation


def test_payload_refused_400(sandbox: Sandbox) -> None:
    items = b"[" + b",".join([b"{}"] * 2001) + b"]"
    outcome = call(sandbox.url, "send_batch", demo(sandbox).demo_key, items)
    assert isinstance(outcome, PayloadRefused)
    assert (outcome.status, outcome.message) == (400, "Erreur de validation")
    assert "2000" in outcome.explanation


def test_payload_refused_413(sandbox: Sandbox) -> None:
    outcome = call(
        sandbox.url, "send_batch", demo(sandbox).demo_key, b"[" + b" " * (10 << 20) + b"]"
    )
    assert isinstance(outcome, PayloadRefused) and outcome.status == 413
    assert "10 Mo" in outcome.explanation


def test_client_refuses_to_build_oversized_batches(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError):
        call(sandbox.url, "send_batch", DEMO_KEY, [{}] * 2001)


def test_connection_refused() -> None:
    outcome = call(f"http://127.0.0.1:{free_port()}/api/", "probe")
    assert isinstance(outcome, NetworkFailure) and outcome.cause == "refused"
    assert "refuse la connexion" in outcome.explanation


def test_timeout(sandbox: Sandbox) -> None:
    sandbox.latency = 2.0
    outcome = call(sandbox.url, "probe", timeout=httpx.Timeout(0.3))
    assert isinstance(outcome, NetworkFailure) and outcome.cause == "timeout"
    assert "ne répond pas dans le délai" in outcome.explanation


def test_slow_body_times_out(sandbox: Sandbox) -> None:
    """Each byte arrives in time for httpx's read timeout; the call's deadline still holds."""
    sandbox.inject(Inject("slow", path="/api", slow_seconds=5))
    outcome = call(sandbox.url, "probe", timeout=httpx.Timeout(2.0), deadline=0.5)
    assert isinstance(outcome, NetworkFailure) and outcome.cause == "timeout"


def test_dropped_connection(sandbox: Sandbox) -> None:
    sandbox.inject(Inject("drop"))
    outcome = call(sandbox.url, "send_batch", demo(sandbox).demo_key, [])
    assert isinstance(outcome, NetworkFailure) and outcome.cause == "dropped"
    assert outcome.retryable and "coupé la connexion" in outcome.explanation


def test_dns_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """The resolver is made to fail for one name, so no query ever leaves the machine."""
    real = socket.getaddrinfo

    def resolver(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "tdba.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    outcome = call("https://tdba.invalid/api/", "probe")
    assert isinstance(outcome, NetworkFailure) and outcome.cause == "dns"
    assert "tdba.invalid est introuvable (DNS)" in outcome.explanation


def test_tls_certificate_failure(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    with Sandbox(tls=(cert, key)) as secure:
        assert secure.url.startswith("https://127.0.0.1:")
        outcome = call(secure.url, "probe")
    assert isinstance(outcome, NetworkFailure) and outcome.cause == "tls"
    assert "ne désactivez jamais la vérification" in outcome.explanation
    assert not outcome.retryable


def _hashed_store(directory: Path, cert: Path) -> Path:
    """Return a certificate directory holding ``cert`` under its OpenSSL hash name."""
    digest = subprocess.run(
        ["openssl", "x509", "-subject_hash", "-noout", "-in", str(cert)],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    directory.mkdir()
    (directory / f"{digest}.0").symlink_to(cert)
    return directory


def test_trust_store_reads_a_hashed_directory_lazily(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = self_signed_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_DIR", str(_hashed_store(tmp_path / "certs", cert)))
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    context = trust_store()
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0  # nothing parsed at start
    with Sandbox(tls=(cert, key)) as secure:
        assert isinstance(call(secure.url, "probe"), Ok)  # found in the directory on demand
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "empty"))
    with Sandbox(tls=(cert, key)) as secure:
        outcome = call(secure.url, "probe")
    assert isinstance(outcome, NetworkFailure) and outcome.cause == "tls"


def test_trust_store_honours_a_named_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = self_signed_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # e.g. an inspecting proxy's root
    context = trust_store()
    assert isinstance(context, ssl.SSLContext)
    assert context.cert_store_stats()["x509_ca"] == 1
    with Sandbox(tls=(cert, key)) as secure:
        assert isinstance(call(secure.url, "probe"), Ok)


def test_proxy_failure_and_proxy_variables_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    with refusing_proxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy)
        outcome = call("https://cfas.example/api/", "probe")
    assert isinstance(outcome, NetworkFailure) and outcome.cause == "proxy"
    assert "HTTPS_PROXY" in outcome.explanation


def test_unexpected_html_answer() -> None:
    with html_server() as url:
        outcome = call(url, "probe")
        assert isinstance(outcome, UnexpectedAnswer)
        assert "text/html" in outcome.reason
        assert "/api/" in outcome.explanation
        assert isinstance(call(url, "send_batch", DEMO_KEY, []), UnexpectedAnswer)


def test_unexpected_shape(sandbox: Sandbox) -> None:
    outcome = call(sandbox.url.replace("/api/", "/autre-chose/"), "probe")  # JSON, not TDBA's
    assert isinstance(outcome, UnexpectedAnswer)


def test_every_failure_has_a_french_explanation() -> None:
    failures: list[Failure] = [
        KeyRefused("x"),
        OrganismeNotFound(),
        RateLimited(None),
        ServerError(503),
        PayloadRefused(400, "Erreur de validation", ("a",)),
        UnexpectedAnswer(200, "x"),
        *(
            NetworkFailure(c, "h")
            for c in ("dns", "refused", "timeout", "tls", "proxy", "dropped", "other")
        ),  # type: ignore[arg-type]
    ]
    for failure in failures:
        assert failure.explanation and not failure.ok


def test_key_never_in_client_repr_or_errors(sandbox: Sandbox) -> None:
    async def go() -> str:
        async with TdbaClient(sandbox.url) as client:
            outcome = await client.check_key(DEMO_KEY)
            return repr(client) + repr(outcome) + getattr(outcome, "explanation", "")

    assert DEMO_KEY not in asyncio.run(go())
