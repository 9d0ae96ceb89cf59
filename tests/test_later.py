"""What TDBA's processing will do later, told tonight: the prediction against the sandbox's own
processing, the organisme look-ups (cache, TTL, look-up down), duplicates, history."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tdba_wizard.cli import main
from tdba_wizard.config import Config, save_config
from tdba_wizard.nightly.later import SECOND_EFFECTIF, TWICE_IN_EXPORT
from tdba_wizard.nightly.organismes import CACHE_FILE
from tdba_wizard.paths import default_config_path, state_dir
from tdba_wizard.records.processing import (
    END_BEFORE_START,
    ORGANISME_FORMATEUR_NOT_FOUND,
    ORGANISME_RESPONSABLE_NOT_FOUND,
)
from tdba_wizard.sandbox import Failure, Sandbox
from tdba_wizard.secrets import SecretStore

from .test_sync import export_path, records, setup, with_second, write_csv

__all__ = ["setup"]

Setup = tuple[Sandbox, Config, SecretStore]
LOOKUP = "/api/v1/organismes/get-by-uai-siret"
UNKNOWN = {"uai": "0802004U", "siret": "77937827200016"}  # valid, but no such organisme


def couple(role: str, who: dict[str, str]) -> dict[str, str]:
    return {f"etablissement_{role}_uai": who["uai"], f"etablissement_{role}_siret": who["siret"]}


def corpus(sandbox: Sandbox) -> list[dict[str, Any]]:
    """Every case the processing rejects, and some it does not."""
    closed = next(o for o in sandbox.organismes if o.ferme)
    rows = records(sandbox, 40)
    for i in range(0, 5):  # an unknown formateur
        rows[i].update(couple("formateur", UNKNOWN))
    for i in range(5, 8):  # an unknown responsable
        rows[i].update(couple("responsable", UNKNOWN))
    for i in range(8, 10):  # both unknown, and a date error TDBA will not get to
        rows[i].update(couple("formateur", UNKNOWN), **couple("responsable", UNKNOWN))
        rows[i]["date_fin_formation"] = "2024-01-01"
    for i in range(10, 13):  # a closed organisme: found, so no processing error
        rows[i].update(couple("formateur", {"uai": closed.uai, "siret": closed.siret}))
    for i in range(13, 17):  # an incomplete first contract
        rows[i]["contrat_date_fin"] = "2026-06-30"
    rows[17]["cause_rupture_contrat_2"] = "démission"  # an incomplete second contract
    for i in range(18, 21):  # the training ends before it starts
        rows[i]["date_fin_formation"] = "2025-08-01"
    rows[21]["contrat_date_rupture"] = "2026-01-10"  # a contract and a date error at once
    rows[21]["date_fin_formation"] = "2025-08-01"
    rows[22]["contrat_date_fin_3"] = "2026-06-30"  # contract, with an unknown formateur
    rows[22].update(couple("formateur", UNKNOWN))
    return rows


def sandbox_errors(sandbox: Sandbox) -> tuple[Counter[str], int]:
    """The sandbox's processing: records per message, and records with any error."""
    found = [r["_processing_errors"] for r in sandbox.records()]
    return Counter(m for errors in found for m in errors), sum(1 for e in found if e)


def test_the_prediction_is_what_the_processing_finds(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, config, _ = setup
    write_csv(export_path(config), corpus(sandbox))
    assert main(["sync"]) == 1  # WARNING: accepted tonight, rejected later
    out = capsys.readouterr().out
    report = json.loads(sorted((state_dir() / "reports").glob("*.json"))[-1].read_text())
    [e] = report["establishments"]
    predicted = {g["reason"]: g["count"] for g in e["predicted_processing_errors"]}
    expected, failing = sandbox_errors(sandbox)
    assert predicted == dict(expected)
    assert e["predicted_failing"] == failing == 5 + 3 + 2 + 4 + 1 + 3 + 1 + 1
    assert predicted[ORGANISME_FORMATEUR_NOT_FOUND] == 5 + 2 + 1
    assert predicted[ORGANISME_RESPONSABLE_NOT_FOUND] == 3 + 2
    assert predicted[END_BEFORE_START] == 3 + 1  # not rows 8-9: their organismes are unknown
    assert "Rejets prévus au traitement par TDBA : 20 dossier(s)" in out
    assert "organisme formateur non trouvé — 8 ligne(s) : l.2 (id E0)" in out
    assert "comme fermé" in out  # found (no error), but said
    # The sandbox shows the same in TDBA's transmissions report.
    key = {"Authorization": f"Bearer {sandbox.organismes[0].demo_key}"}
    base = sandbox.url.replace("/api/", "/__sandbox/transmissions")
    assert httpx.get(base, timeout=5).status_code == 403
    [today] = httpx.get(base, headers=key, timeout=5).json()
    assert (today["total"], today["error"], today["success"]) == (40, 20, 20)
    learners = httpx.get(f"{base}/{today['date']}", headers=key, timeout=5).json()
    assert sum(1 for row in learners if row["errors"]) == 20


def test_dry_run_predicts_too(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    sandbox, config, _ = setup
    write_csv(export_path(config), corpus(sandbox))
    assert main(["sync", "--dry-run"]) == 1
    out = capsys.readouterr().out
    assert "Rejets prévus au traitement par TDBA : 20 dossier(s)" in out
    assert sandbox.records() == []


def test_look_ups_are_per_couple_cached_a_day_and_never_fail_when_down(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, config, _ = setup
    write_csv(export_path(config), corpus(sandbox))

    def look_ups() -> int:
        return sum(1 for _, path, _ in sandbox.requests() if path == LOOKUP)

    main(["sync", "--dry-run"])
    assert look_ups() == 3  # the establishment, the unknown couple, the closed one: once each
    main(["sync", "--dry-run"])
    assert look_ups() == 3  # the cache answers for a day
    cache = state_dir() / CACHE_FILE
    data = json.loads(cache.read_text())
    for entry in data.values():
        entry["checked"] = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).isoformat()
    cache.write_text(json.dumps(data))
    main(["sync", "--dry-run"])
    assert look_ups() == 6  # past its day: asked again
    cache.unlink()
    sandbox.inject(Failure("500", count=100, path="/api/v1/organismes/"))
    capsys.readouterr()
    assert main(["sync", "--dry-run"]) == 1
    out = capsys.readouterr().out
    assert "organisme formateur non trouvé" not in out  # not verified is not « not found »
    assert "dossiers non vérifiés : la recherche d'établissements de TDBA n'a pas répondu" in out


def test_hold_unmatched_keeps_back_what_would_be_rejected(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, config, _ = setup
    write_csv(export_path(config), corpus(sandbox))
    assert main(["sync", "--hold-unmatched"]) == 1
    out = capsys.readouterr().out
    stored = {r["id_erp_apprenant"] for r in sandbox.records()}
    held = {f"E{i}" for i in (*range(0, 10), 22)}
    assert stored == {f"E{i}" for i in range(40)} - held
    assert "11 dossiers retenus" in out
    assert ORGANISME_FORMATEUR_NOT_FOUND not in out.split("Rejets prévus")[-1]


def test_a_learner_under_a_new_id_or_year_is_a_second_effectif(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, config, _ = setup
    rows = records(sandbox, 4)
    write_csv(export_path(config), rows)
    assert main(["sync"]) == 0
    capsys.readouterr()
    rows[0]["id_erp_apprenant"] = "NOUVEL-ID"  # the ERP renumbered a learner
    rows[1]["annee_scolaire"] = "2026-2027"  # another school year
    twice = dict(rows[2], id_erp_apprenant="E2-BIS")  # the same learner twice in the export
    write_csv(export_path(config), [*rows, twice])
    assert main(["sync"]) == 1
    out = capsys.readouterr().out
    assert f"{SECOND_EFFECTIF} — 2 ligne(s)" in out
    assert "(id NOUVEL-ID (avant : E0, 2025-2026))" in out
    assert f"{TWICE_IN_EXPORT} — 1 ligne(s)" in out
    # What TDBA holds: one effectif per (id, formateur, year): the sandbox has them twice.
    people = Counter(
        (r["nom_apprenant"], r["date_de_naissance_apprenant"]) for r in sandbox.records()
    )
    assert sorted(n for n in people.values() if n > 1) == [2, 2, 2]
    # No name is stored: the index holds keyed hashes only.
    index = next((state_dir() / "learners").glob("*.json"))
    assert "Martin" not in index.read_text() and "E2-BIS" in index.read_text()
    assert oct(index.stat().st_mode & 0o777) == "0o600"
    capsys.readouterr()
    assert main(["sync"]) == 0  # the next night: TDBA holds them all already, nothing new
    assert "Doublons prévus" not in capsys.readouterr().out


def test_history_outlasts_tdba_s_fifteen_days(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, config, _ = setup
    write_csv(export_path(config), records(sandbox, 3))
    main(["sync"])
    write_csv(export_path(config), corpus(sandbox))
    main(["sync"])
    main(["sync", "--dry-run"])  # a simulation is not a run: not in the journal
    capsys.readouterr()
    assert main(["history", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert [(r["verdict"], r["rows_read"], r["predicted_failing"]) for r in runs] == [
        ("OK", 3, 0),
        ("WARNING", 40, 20),
    ]
    assert main(["history", "--uai", config.establishments[0].uai]) == 0
    out = capsys.readouterr().out
    assert "2 envoi(s)" in out and "rejets prévus" in out and "Martin" not in out
    assert main(["history", "--uai", "0755805C"]) == 0
    assert "Aucun envoi enregistré pour l'UAI 0755805C" in capsys.readouterr().out
    journal = state_dir() / "history.jsonl"
    old = dict(runs[0], finished_at="2024-01-01T00:00:00+00:00")
    journal.write_text(json.dumps(old) + "\n" + journal.read_text() + "pas du json\n")
    main(["sync"])
    capsys.readouterr()
    main(["history", "--json"])
    kept = json.loads(capsys.readouterr().out)["runs"]
    assert len(kept) == 3 and all(r["finished_at"] > "2025" for r in kept)  # 400 days


def test_check_warns_of_predicted_processing_failures(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, config, _ = setup
    write_csv(export_path(config), corpus(sandbox))
    main(["sync"])
    capsys.readouterr()
    main(["--check", "--json"])
    document = json.loads(capsys.readouterr().out)
    last_run = next(c for c in document["establishments"][0]["checks"] if c["code"] == "last_run")
    assert last_run["status"] == "WARNING"
    assert "20 dossiers que le traitement de TDBA rejettera" in last_run["message"]
    assert last_run["figures"]["predicted_failing"] == 20


def test_config_without_the_sandbox_organisme_is_still_predicted(
    setup: Setup, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Many establishments share nothing: each export's couples are asked once per run."""
    sandbox, config, store = setup
    second = sandbox.organismes[1]
    two = with_second(config, sandbox, str(tmp_path / "autre-{sentite}.csv"))
    save_config(default_config_path(), two)
    store.store(second.uai, second.siret, second.demo_key, "file")
    write_csv(export_path(config), records(sandbox, 2))
    other = [dict(r, **couple("formateur", {"uai": second.uai, "siret": second.siret}),
                  **couple("responsable", {"uai": second.uai, "siret": second.siret}))
             for r in records(sandbox, 2, start=10)]  # fmt: skip
    write_csv(tmp_path / "autre-2.csv", other)
    assert main(["sync"]) == 0
    lookups = [p for _, p, _ in sandbox.requests() if p == LOOKUP]
    assert len(lookups) == 2
