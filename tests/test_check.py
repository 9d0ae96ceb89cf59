"""`tdba-wizard --check`: each check's OK/WARNING/CRITICAL cases, exit codes, JSON, no Textual."""

from __future__ import annotations

import datetime as dt
import json
import stat
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tdba_wizard import check as check_module
from tdba_wizard.api import ApiInfo, Ok
from tdba_wizard.check import check_api, check_last_sync
from tdba_wizard.cli import main
from tdba_wizard.config import PRODUCTION_URL, Config, Establishment, load_config, save_config
from tdba_wizard.errors import NagiosCode
from tdba_wizard.paths import credentials_path, default_config_path, state_dir
from tdba_wizard.sandbox import Failure as Inject
from tdba_wizard.sandbox import Sandbox
from tdba_wizard.secrets import SecretStore

from .conftest import DEMO_KEY, run_python, valid_record
from .servers import free_port


def configure(url: str, organismes: list[Any], keys: list[str | None] | None = None) -> None:
    exports = default_config_path().parent.parent / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    establishments = [
        Establishment(
            name=o.enseigne,
            uai=o.uai,
            siret=o.siret,
            sentite=index + 1,
            source=str(exports / "effectifs-{uai}.csv"),
        )
        for index, o in enumerate(organismes)
    ]
    for o in organismes:
        (exports / f"effectifs-{o.uai}.csv").write_text("nom_apprenant\n", encoding="utf-8")
    save_config(
        default_config_path(),
        Config.model_validate(
            {"api": {"url": url}, "establishments": [e.model_dump() for e in establishments]}
        ),
    )
    store = SecretStore(credentials_path(default_config_path()))
    for organisme, key in zip(organismes, keys or [o.demo_key for o in organismes], strict=True):
        if key is not None:
            store.store(organisme.uai, organisme.siret, key, "file")


def run_json(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any]]:
    code = main(["--check", "--json", *extra])
    out = capsys.readouterr().out
    return code, json.loads(out)


def statuses(data: dict[str, Any], index: int = 0) -> dict[str, str]:
    return {c["code"]: c["status"] for c in data["establishments"][index]["checks"]}


def test_not_configured_is_critical(capsys: pytest.CaptureFixture[str]) -> None:
    code, data = run_json(capsys)
    assert code == NagiosCode.CRITICAL
    assert data["status"] == "CRITICAL" and data["exit_code"] == 2
    assert data["checks"][0]["code"] == "config"
    assert "tdba-wizard add" in data["checks"][0]["fix"]


def test_malformed_config_is_critical_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    path = default_config_path()
    path.parent.mkdir(parents=True)
    path.write_text("[api]\nurl = \n", encoding="utf-8")
    assert main(["--check"]) == NagiosCode.CRITICAL
    captured = capsys.readouterr()
    assert "Configuration invalide" in captured.out and "ligne 2" in captured.out
    assert "Traceback" not in captured.out + captured.err


def test_healthy_establishment(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    configure(sandbox.url, [sandbox.organismes[0]])
    code, data = run_json(capsys)
    assert statuses(data) == {
        "key": "OK",
        "export": "OK",
        "key_accepted": "OK",
        "organisme": "OK",
        "last_sync": "WARNING",  # never sent yet
    }
    api = next(c for c in data["checks"] if c["code"] == "api")
    assert api["status"] == "OK" and api["figures"]["env"] == "sandbox"
    assert isinstance(api["figures"]["latency_ms"], int)
    key = data["establishments"][0]["checks"][0]
    assert key["figures"]["backend"] == "file"
    assert sandbox.organismes[0].demo_key not in json.dumps(data)
    assert code == NagiosCode.WARNING


def test_refused_key_closed_and_unknown_establishments(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    open_one, closed = sandbox.organismes[0], sandbox.organismes[4]

    class Unknown:
        enseigne, uai, siret, demo_key = "Inconnu", "0755805C", "48401246400091", DEMO_KEY

    configure(sandbox.url, [open_one, closed, Unknown()], [DEMO_KEY, closed.demo_key, None])
    code, data = run_json(capsys)
    assert code == NagiosCode.CRITICAL
    refused, shut, unknown = (statuses(data, i) for i in range(3))
    assert refused["key_accepted"] == "CRITICAL" and refused["organisme"] == "OK"
    assert shut["organisme"] == "CRITICAL" and shut["key_accepted"] == "OK"
    assert unknown["key"] == "CRITICAL" and unknown["organisme"] == "CRITICAL"
    assert "key_accepted" not in unknown  # no key, nothing to test
    messages = json.dumps(data, ensure_ascii=False)
    assert "Générez-en une nouvelle" in messages and "fermé" in messages
    assert DEMO_KEY not in messages


def test_many_establishments_are_checked_over_several_pools(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(check_module, "PER_POOL", 2)
    organismes = list(sandbox.organismes)  # the 5th is closed
    configure(sandbox.url, organismes)
    _, data = run_json(capsys)
    assert [e["uai"] for e in data["establishments"]] == [o.uai for o in organismes]
    assert [statuses(data, i)["key_accepted"] for i in range(len(organismes))] == ["OK"] * 6
    organisme = [statuses(data, i)["organisme"] for i in range(len(organismes))]
    assert organisme == ["OK", "OK", "OK", "OK", "CRITICAL", "OK"]
    posts = [r for r in sandbox.requests() if r[0] == "POST"]
    assert len(posts) == 2 * len(organismes)


def test_one_establishment_is_one_monitoring_service(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    healthy, closed = sandbox.organismes[0], sandbox.organismes[4]
    configure(sandbox.url, [healthy, closed])
    code, data = run_json(capsys, "--uai", healthy.uai.lower())  # typed as it comes
    assert code == NagiosCode.WARNING  # never sent yet, no nightly job: not the closed one
    assert [e["uai"] for e in data["establishments"]] == [healthy.uai]
    assert statuses(data)["key_accepted"] == statuses(data)["organisme"] == "OK"
    code, data = run_json(capsys, "--uai", closed.uai)
    assert code == NagiosCode.CRITICAL
    assert [e["uai"] for e in data["establishments"]] == [closed.uai]
    code, data = run_json(capsys, "--uai", "0755805C")  # valid, not configured
    assert code == NagiosCode.UNKNOWN and data["establishments"] == []
    assert "Aucun établissement avec l'UAI 0755805C" in data["checks"][-1]["message"]
    code, data = run_json(capsys, "--uai", "0755805X")  # not a UAI: unknown, never critical
    assert code == NagiosCode.UNKNOWN and "--uai" in data["checks"][0]["message"]


def test_a_busy_tdba_is_never_a_refused_key_nor_an_unknown_establishment(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(sandbox.url, [sandbox.organismes[0]])
    sandbox.inject(Inject("429", path="/api/v3/dossiers-apprenants/test", retry_after=30))
    sandbox.inject(Inject("500", path="/api/v1/organismes/"))
    code, data = run_json(capsys)
    checks = {c["code"]: c for c in data["establishments"][0]["checks"]}
    assert checks["key_accepted"]["status"] == "UNKNOWN"
    assert checks["key_accepted"]["message"] == "Clé non vérifiable pour l'instant."
    assert "limite le nombre de requêtes" in checks["key_accepted"]["fix"]
    assert checks["organisme"]["status"] == "UNKNOWN"
    assert "non vérifiable" in checks["organisme"]["message"]
    assert code == NagiosCode.UNKNOWN and "CRITICAL" not in json.dumps(data)


def test_tdba_answer_on_an_establishment_is_kept_an_hour(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(sandbox.url, sandbox.organismes[:3])

    def lookups() -> int:
        return sum(1 for method, path, _ in sandbox.requests() if "organismes" in path)

    def key_tests() -> int:
        return sum(1 for method, path, _ in sandbox.requests() if path.endswith("/test"))

    _, first = run_json(capsys)
    assert (lookups(), key_tests()) == (3, 3)
    assert "réponse de TDBA" not in json.dumps(first, ensure_ascii=False)
    _, second = run_json(capsys)
    assert (lookups(), key_tests()) == (3, 6)  # the keys are asked every time
    organisme = {c["code"]: c for c in second["establishments"][0]["checks"]}["organisme"]
    assert organisme["status"] == "OK" and "réponse de TDBA le " in organisme["message"]
    assert "redemandée au bout d'une heure" in organisme["message"]
    cache = state_dir() / "organismes-cache.json"
    entries = json.loads(cache.read_text(encoding="utf-8"))
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=61)).isoformat()
    cache.write_text(json.dumps({k: {**v, "checked": old} for k, v in entries.items()}))
    _, third = run_json(capsys)
    assert lookups() == 6  # older than an hour: asked again
    assert "réponse de TDBA" not in json.dumps(third, ensure_ascii=False)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600


def test_unreachable_api_is_critical(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    configure(f"http://127.0.0.1:{free_port()}/api/", [sandbox.organismes[0]])
    assert main(["--check"]) == NagiosCode.CRITICAL
    out = capsys.readouterr().out
    assert "✖ TDBA injoignable" in out and "refuse la connexion" in out


def test_quiet_shows_only_problems(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    configure(sandbox.url, [sandbox.organismes[0]])
    main(["--check", "--quiet"])
    out = capsys.readouterr().out
    assert "✔" not in out
    assert "⚠ Aucun envoi encore effectué." in out
    assert out.strip().splitlines()[-1].startswith("WARNING — ")


def test_environment_mismatch_warns() -> None:
    config = Config.model_validate({"api": {"url": PRODUCTION_URL}})
    checks = check_api(config, Ok(ApiInfo("TDB Apprentissage API", "1", "recette"), 0.1))
    environment = next(c for c in checks if c.code == "environment")
    assert environment.status == NagiosCode.WARNING
    assert "« production »" in environment.message and "« recette »" in environment.message
    sandbox_like = Config.model_validate({"api": {"url": "http://127.0.0.1:1/api/"}})
    assert all(c.status == NagiosCode.OK for c in check_api(sandbox_like, Ok(ApiInfo("", "", "x"))))


NOW = dt.datetime(2027, 6, 1, 12, tzinfo=dt.UTC)
E = Establishment(name="E", uai="0802004U", siret="48401246400091", sentite=1)


def last(success_age: dt.timedelta | None, transmission_age: dt.timedelta | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"last_attempt": NOW.isoformat()}
    entry["last_success"] = (NOW - success_age).isoformat() if success_age else None
    entry["last_transmission"] = (NOW - transmission_age).isoformat() if transmission_age else None
    return {"establishments": {"0802004U-48401246400091": entry}}


@pytest.mark.parametrize(
    ("age", "expected"),
    [(dt.timedelta(hours=20), NagiosCode.OK), (dt.timedelta(days=3), NagiosCode.WARNING),
     (dt.timedelta(days=8), NagiosCode.CRITICAL)],
)  # fmt: skip
def test_last_sync_age(age: dt.timedelta, expected: NagiosCode) -> None:
    result, revocation = check_last_sync(E, last(age, age), NOW)
    assert result.status == expected
    assert result.figures["last_sync_age_hours"] == round(age.total_seconds() / 3600, 1)
    # The key's horizon, always shown: 12 months after the last transmission.
    revoked = (NOW - age + dt.timedelta(days=365)).astimezone(ZoneInfo("Europe/Paris"))
    assert revocation.status == NagiosCode.OK
    assert f"révoquerait le {revoked:%d/%m/%Y}" in revocation.message


def test_never_succeeded_is_critical_and_revocation_warns() -> None:
    [never] = check_last_sync(E, last(None, None), NOW)
    assert never.status == NagiosCode.CRITICAL and never.message == "Aucun envoi réussi."
    checks = check_last_sync(E, last(dt.timedelta(hours=1), dt.timedelta(days=340)), NOW)
    revocation = next(c for c in checks if c.code == "revocation")
    assert revocation.status == NagiosCode.WARNING and "12 mois" in revocation.message
    revoked = NOW - dt.timedelta(days=340) + dt.timedelta(days=365)
    assert revocation.figures["revocation_date"] == revoked.date().isoformat()
    assert f"révoquera la clé le {revoked:%d/%m/%Y}" in revocation.message


@pytest.mark.crontab
def test_everything_ok_after_schedule_and_sync(
    sandbox: Sandbox,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    user_crontab: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No cron daemon runs in the test machine; that check has its own test below.
    monkeypatch.setattr(check_module, "cron_daemon_running", lambda: True)
    configure(sandbox.url, [sandbox.organismes[0]])
    config = load_config(default_config_path())
    export = tmp_path / "export.json"
    export.write_text(json.dumps([valid_record(sandbox.organismes[0])]), encoding="utf-8")
    [establishment] = config.establishments
    save_config(
        default_config_path(),
        config.model_copy(
            update={"establishments": [establishment.model_copy(update={"source": str(export)})]}
        ),
    )
    assert main(["schedule", "install", "--yes"]) == 0
    assert main(["sync"]) == 0
    capsys.readouterr()
    code, report = run_json(capsys)
    assert code == NagiosCode.OK, json.dumps(report, ensure_ascii=False, indent=1)
    assert {c["code"]: c["status"] for c in report["checks"]}["schedule"] == "OK"
    assert main(["--check", "--cron-env"]) == NagiosCode.OK
    assert "✔ Le même contrôle réussit dans l'environnement de cron." in capsys.readouterr().out


def test_bad_arguments_and_internal_errors_are_unknown(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--check", "--frobnicate"]) == NagiosCode.UNKNOWN

    async def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(check_module, "run_check", explode)
    assert main(["--check", "--json"]) == NagiosCode.UNKNOWN
    document = json.loads(capsys.readouterr().out)  # the JSON document in every case
    assert document["status"] == "UNKNOWN" and document["exit_code"] == 3
    [internal] = document["checks"]
    assert "RuntimeError" in internal["message"] and "test_check.py" in internal["message"]
    assert main(["--check", "--json", "--frobnicate"]) == NagiosCode.UNKNOWN
    assert json.loads(capsys.readouterr().out)["status"] == "UNKNOWN"


def test_check_never_imports_textual(isolated_profile: Path) -> None:
    script = (
        "import sys\n"
        "from tdba_wizard.cli import main\n"
        "code = main(['--check', '--json'])\n"
        "loaded = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print('TEXTUAL', loaded, code, file=sys.stderr)\n"
    )
    result = run_python(script)
    assert "TEXTUAL [] 2" in result.stderr, result.stderr
    assert json.loads(result.stdout)["status"] == "CRITICAL"


@pytest.mark.secret_service
def test_session_and_cron_reading_different_keys_is_critical_until_one_key_is_left(
    sandbox: Sandbox, isolated_profile: Path
) -> None:
    """The issue's « two keys, silently », with a real keyring: the old key in the protected
    file (for cron), a newer one in the keyring. The session and cron would send with
    different keys; --check --cron-env says so (fingerprints, never keys), and an edit of
    the key leaves one key, read the same from both."""
    import os
    import subprocess
    import sys

    from .conftest import OTHER_KEY
    from .secret_service import secret_service

    organisme = sandbox.organismes[0]
    with secret_service(isolated_profile) as env:
        for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME"):
            env[name] = os.environ[name]

        def tdba(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "tdba_wizard", *argv], input=stdin, env=env,
                capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip

        added = tdba(
            "add", "--name", "CFA 1", "--uai", organisme.uai, "--siret", organisme.siret,
            "--sentite", "1", "--api-url", sandbox.url, "--api-key-stdin",
            "--secret-store", "file", "--yes", stdin=OTHER_KEY,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        planted = subprocess.run(
            [sys.executable, "-c",
             "import sys\nfrom pathlib import Path\nfrom tdba_wizard.secrets import SecretStore\n"
             "SecretStore(Path(sys.argv[1])).store(sys.argv[2], sys.argv[3], sys.stdin.read())",
             str(credentials_path(default_config_path())), organisme.uai, organisme.siret],
            input=organisme.demo_key, env=env, capture_output=True, text=True, timeout=60,
            check=False,
        )  # fmt: skip
        assert planted.returncode == 0, planted.stderr

        checked = tdba("--check", "--cron-env", "--json")
        report = json.loads(checked.stdout)
        assert checked.returncode == NagiosCode.CRITICAL
        cron_keys = next(c for c in report["checks"] if c["code"] == "cron_keys")
        assert cron_keys["status"] == "CRITICAL"
        assert "n'est pas celle de votre session" in cron_keys["message"]
        assert statuses(report)["key_copies"] == "CRITICAL"
        assert OTHER_KEY not in checked.stdout and organisme.demo_key not in checked.stdout

        edited = tdba("key", "--uai", organisme.uai, "--api-key-stdin", "--yes",
                      stdin=organisme.demo_key)  # fmt: skip
        assert edited.returncode == 0, edited.stderr
        assert "Autre copie de la clé de « CFA 1 » retirée du trousseau" in edited.stdout
        checked = tdba("--check", "--cron-env", "--json")
        report = json.loads(checked.stdout)
        cron_keys = next(c for c in report["checks"] if c["code"] == "cron_keys")
        assert cron_keys["status"] == "OK", cron_keys
        assert "key_copies" not in statuses(report)
        assert statuses(report)["key_accepted"] == "OK"
        listed = json.loads(tdba("list", "--json").stdout)
        assert listed["establishments"][0]["key"]["copies"] == ["file"]


def test_the_same_key_in_two_places_warns(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    organisme = sandbox.organismes[0]
    configure(sandbox.url, [organisme])  # in the file
    SecretStore(credentials_path(default_config_path())).store(
        organisme.uai, organisme.siret, organisme.demo_key, "keyring"
    )
    code, data = run_json(capsys)
    copies = next(c for c in data["establishments"][0]["checks"] if c["code"] == "key_copies")
    assert copies["status"] == "WARNING" and "--move-to file" in copies["fix"]
    assert code == NagiosCode.WARNING


def test_compare_keys_without_fingerprints_is_not_verifiable() -> None:
    couple = ("0802004U", "77937827200016")
    names = {couple: "CFA 1"}
    assert check_module.compare_keys({couple: "a1"}, {couple: None}, names).status == (
        NagiosCode.UNKNOWN
    )
    assert check_module.compare_keys({couple: "a1"}, {couple: "a1"}, names).status == (
        NagiosCode.OK
    )
    assert check_module.compare_keys({couple: "a1"}, {couple: "b2"}, names).status == (
        NagiosCode.CRITICAL
    )


def test_what_check_sees_of_the_last_run_and_the_export(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """Export missing → CRITICAL; the last run's refused rows → WARNING with the counts; the
    report e-mail failing → WARNING; times in the configured zone, named."""
    organisme = sandbox.organismes[0]
    configure(sandbox.url, [organisme])
    config = load_config(default_config_path())
    save_config(default_config_path(), config.with_schedule("23:00", "America/Cayenne"))
    state = state_dir()
    state.mkdir(parents=True, exist_ok=True)
    (state / "last-sync.json").write_text(json.dumps({
        "verdict": "WARNING",
        "warnings": ["Compte rendu non envoyé : Envoi du compte rendu impossible via x:25"],
        "establishments": {f"{organisme.uai}-{organisme.siret}": {
            "name": organisme.enseigne, "verdict": "WARNING",
            "reasons": ["3 lignes refusées avant envoi."], "rows_read": 10,
            "rejected_locally": 3, "rejected_by_tdba": 0, "accepted": 7, "spooled": 0,
            "last_attempt": "2026-12-02T02:00:00+00:00",
            "last_success": "2026-12-02T02:00:00+00:00",
            "last_transmission": "2026-12-02T02:00:00+00:00",
        }},
    }))  # fmt: skip
    code, data = run_json(capsys)
    checks = {c["code"]: c for c in data["establishments"][0]["checks"]}
    assert checks["last_run"]["status"] == "WARNING"
    assert "3 lignes refusées avant envoi." in checks["last_run"]["message"]
    assert checks["last_run"]["figures"]["rejected_locally"] == 3
    assert "le 01/12/2026 à 23:00 (America/Cayenne)" in checks["last_sync"]["message"]
    mail = next(c for c in data["checks"] if c["code"] == "report_mail")
    assert mail["status"] == "WARNING" and "compte rendu" in mail["message"]
    assert code == NagiosCode.WARNING
    source = config.establishments[0].source_path()
    assert source is not None
    source.unlink()
    code, data = run_json(capsys)
    export = next(c for c in data["establishments"][0]["checks"] if c["code"] == "export")
    assert export["status"] == "CRITICAL" and "Export introuvable" in export["message"]
    assert code == NagiosCode.CRITICAL


def test_tdba_down_is_said_once_and_establishments_are_not_verifiable(
    capsys: pytest.CaptureFixture[str], sandbox: Sandbox
) -> None:
    configure(f"http://127.0.0.1:{free_port()}/api/", [sandbox.organismes[0]])
    code, data = run_json(capsys)
    assert code == NagiosCode.CRITICAL
    api = next(c for c in data["checks"] if c["code"] == "api")
    assert api["status"] == "CRITICAL"
    checks = data["establishments"][0]["checks"]
    remote = [c for c in checks if c["code"] in ("key_accepted", "organisme")]
    assert [c["status"] for c in remote] == ["UNKNOWN"]
    assert "non vérifiables" in remote[0]["message"]
    assert not any("refusée" in c["message"] for c in checks)


def test_malformed_state_files_are_named_not_a_traceback(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(sandbox.url, [sandbox.organismes[0]])
    state = state_dir()
    state.mkdir(parents=True, exist_ok=True)
    (state / "last-sync.json").write_text('{"establishments": [1, 2]}')
    _, data = run_json(capsys)
    problem = next(c for c in data["checks"] if c["code"] == "last_sync_file")
    assert problem["status"] == "UNKNOWN" and "last-sync.json mal formé" in problem["message"]
    (state / "last-sync.json").write_bytes(b"\xff\xfe garbage")
    _, data = run_json(capsys)
    assert any(c["code"] == "last_sync_file" for c in data["checks"])


def test_no_cron_daemon_is_a_warning(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Detected from the running processes: a process named « cron » is a cron daemon."""
    import shutil
    import subprocess

    from tdba_wizard.schedule import cron_daemon_running

    fake = tmp_path / "cron"
    sleeper = shutil.which("sleep")
    assert sleeper is not None
    shutil.copy(sleeper, fake)
    before = cron_daemon_running()
    process = subprocess.Popen([str(fake), "30"])
    try:
        comm = Path(f"/proc/{process.pid}/comm")
        for _ in range(100):  # until it has exec'd
            if comm.read_text().strip() == "cron":
                break
            time.sleep(0.02)
        assert cron_daemon_running() is True
    finally:
        process.kill()
        process.wait()
    assert cron_daemon_running() is before
    assert cron_daemon_running(tmp_path / "no-proc") is None


@pytest.mark.crontab
def test_an_installed_job_without_a_cron_daemon_warns(
    sandbox: Sandbox,
    capsys: pytest.CaptureFixture[str],
    user_crontab: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure(sandbox.url, [sandbox.organismes[0]])
    assert main(["schedule", "install", "--yes"]) == 0
    capsys.readouterr()
    monkeypatch.setattr(check_module, "cron_daemon_running", lambda: False)
    _, data = run_json(capsys)
    schedule = next(c for c in data["checks"] if c["code"] == "schedule")
    assert schedule["status"] == "WARNING" and "aucun démon cron ne tourne" in schedule["message"]
    user_crontab.write(user_crontab.read().replace(b"--config", b"'--config"))  # a broken quote
    _, data = run_json(capsys)
    schedule = next(c for c in data["checks"] if c["code"] == "schedule")
    assert schedule["status"] == "WARNING" and "abîmé" in schedule["message"]


@pytest.mark.secret_service
def test_cron_env_fix_names_the_establishments(sandbox: Sandbox, isolated_profile: Path) -> None:
    import os
    import subprocess
    import sys

    from .secret_service import secret_service

    organisme = sandbox.organismes[0]
    with secret_service(isolated_profile) as env:
        for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME"):
            env[name] = os.environ[name]
        added = subprocess.run(
            [sys.executable, "-m", "tdba_wizard", "add", "--name", "CFA 1", "--uai",
             organisme.uai, "--siret", organisme.siret, "--sentite", "1", "--api-url",
             sandbox.url, "--api-key-stdin", "--yes"],
            input=organisme.demo_key, env=env, capture_output=True, text=True, timeout=60,
            check=False,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        checked = subprocess.run(
            [sys.executable, "-m", "tdba_wizard", "--check", "--cron-env", "--json"],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    cron_env = next(c for c in json.loads(checked.stdout)["checks"] if c["code"] == "cron_env")
    assert cron_env["status"] == "CRITICAL"
    assert f"« tdba-wizard key --uai {organisme.uai} --move-to file »" in cron_env["fix"]
