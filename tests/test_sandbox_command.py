"""`tdba-wizard sandbox` as a user runs it: starts, answers curl, stops on Ctrl+C."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from tdba_wizard.sandbox import load_seed

from .conftest import valid_record
from .secret_service import require
from .servers import free_port, sandbox_command


def curl(*args: str) -> str:
    result = subprocess.run(
        [shutil.which("curl") or "curl", "-sS", "--max-time", "10", *args],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    return result.stdout


def test_sandbox_command_serves_curl_and_stops_cleanly(tmp_path: Path) -> None:
    require("curl")
    port = free_port()
    dump = tmp_path / "recus.json"
    with sandbox_command("--port", str(port), "--dump", str(dump)) as (process, lines):
        url = f"http://127.0.0.1:{port}/api/"
        assert lines[0].strip() == f"Bac à sable TDBA à l'écoute : {url}"
        keys = [line.split(": ")[1].strip() for line in lines if "clé de démonstration" in line]
        assert len(keys) == 6
        assert "UAI 0802004U · SIRET 48401246400091" in "".join(lines)

        assert json.loads(curl(url.rstrip("/")))["name"] == "TDB Apprentissage API"
        refused = json.loads(curl("-X", "POST", "-H", "Content-Type: application/json",
                                  "-d", "[]", url + "v3/dossiers-apprenants"))  # fmt: skip
        assert refused == {"error": "Forbidden", "message": "Clé API manquante"}

        body = json.dumps([valid_record(load_seed().organismes[0])])
        sent = json.loads(
            curl(
                "-X",
                "POST",
                "-H",
                f"Authorization: Bearer {keys[0]}",
                "-H",
                "Content-Type: application/json",
                "-d",
                body,
                url + "v3/dossiers-apprenants",
            )
        )
        assert sent["status"] == "OK" and sent["data"][0]["has_error"] is False

        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "Bac à sable arrêté." in out
    assert [r["id_erp_apprenant"] for r in json.loads(dump.read_text("utf-8"))] == ["A1"]


def test_port_in_use_is_a_french_error() -> None:
    port = free_port()
    with sandbox_command("--port", str(port), stderr=subprocess.DEVNULL) as (first, _):
        try:
            second = subprocess.run(
                [sys.executable, "-m", "tdba_wizard", "sandbox", "--port", str(port)],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            assert second.returncode == 1
            assert "le port est peut-être déjà pris" in second.stderr
        finally:
            first.send_signal(signal.SIGINT)
            first.wait(timeout=15)
