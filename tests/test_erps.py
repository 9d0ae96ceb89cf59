"""Every ERP TDBA knows: the confirmation link, the guidance, the ERP's sheet, the Excel path,
and a network that mixes who sends."""

from __future__ import annotations

import base64
import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tdba_wizard import erps
from tdba_wizard.cli import main
from tdba_wizard.cli.parser import ERP_IDS
from tdba_wizard.config import Config, Establishment, load_config, save_config
from tdba_wizard.nightly.excel import TEMPLATE_HEADERS
from tdba_wizard.paths import credentials_path, default_config_path, state_dir
from tdba_wizard.sandbox import Sandbox
from tdba_wizard.secrets import SecretStore
from tdba_wizard.sheet import confirmation_link, erp_sheet
from tdba_wizard.tui.screens.erpchoice import guidance

from .conftest import DEMO_KEY, valid_record
from .test_sync import records, write_csv

UPSTREAM_ORDER = (
    "ymag",
    "gesti",
    "scform",
    "fcamanager",
    "aimaira",
    "cactus",
    "myclic",
    "gescicca",
    "formasup",
    "formasup-hdf",
    "charlemagne",
    "ammon",
    "ofa-link",
    "filiz",
    "hyperplanning",
)  # fmt: skip  (desiredOrder, ParametresClient.tsx at 12cb59e9)
MASKED = "1b2c3d4e-••••-••••-••••-••••••••4c5d"


def establishment(erp_id: str, **changes: Any) -> Establishment:
    erp = erps.get(erp_id)
    data: dict[str, Any] = {
        "name": "CFA 1",
        "siret": "77937827200016",
        "uai": "0802004U",
        "erp": erp_id,
        "transmission": "erp" if erp.api else "excel",
        "sentite": 1443191 if erp.needs_sentite else None,
    }
    data.update(changes)
    return Establishment(**data)


def test_the_ids_are_tdba_s_in_its_order() -> None:
    assert (*UPSTREAM_ORDER, erps.OTHER) == erps.IDS
    assert ERP_IDS == erps.IDS  # the parser's copy (kept light) says the same
    assert {e.id for e in erps.ERPS if not e.api} == {"fcamanager", "formasup", erps.OTHER}


@pytest.mark.parametrize("erp_id", erps.IDS)
def test_each_erp_its_link_its_guidance_its_sheet(erp_id: str) -> None:
    erp = erps.get(erp_id)
    e = establishment(erp_id)
    config = Config(establishments=[e])
    link = confirmation_link(config, e)
    assert link == (
        "https://cfas.apprentissage.beta.gouv.fr/connexion-api?siret=77937827200016&uai=0802004U"
        f"&erp={erp_id}"
    )
    assert "api_key" not in link
    text = guidance(erp, e.transmission)
    if erp.api:
        assert erps.where_key(erp) in text
        sheet = erp_sheet(config, [e], {("0802004U", "77937827200016"): DEMO_KEY})
        assert MASKED in sheet and DEMO_KEY not in sheet
        assert link in sheet and f"━━ {erp.name} (identifiant TDBA : {erp_id}) ━━" in sheet
        if erp.procedure:
            assert erp.procedure in sheet
        else:
            assert "TDBA ne publie pas la procédure de cet éditeur" in sheet
    else:
        assert "Pas de clé d'échange" in text
        sheet = erp_sheet(config, [e], {})
        assert "importe le modèle Excel" in sheet and "tdba-wizard xlsx --uai 0802004U" in sheet


def test_ammon_s_sheet_names_every_parameter_of_the_procedure() -> None:
    first = establishment("ammon", transmission="erp")
    second = establishment("ammon", name="CFA 2", siret="13002526500013", uai="0755805C",
                           sentite=77)  # fmt: skip
    config = Config(establishments=[first, second])
    sheet = erp_sheet(config, [first, second], {})
    for expected in (
        "Paramétrage des applications externes > Nouveau",
        "type API_TDBA",
        "URL de l'API https://cfas.apprentissage.beta.gouv.fr/api/",
        "Version v3",
        "CFA_API_KEY",
        "CFA_SENTITE = 1443191",
        "Paramétrage spécifique > Nouveau (un par établissement) : Nom = CFA 1",
        "Nom = CFA 2",
        "CFA_SENTITE = 77",
        "« Valider la connexion »",
        "Gestionnaire de travaux > Importer",
        "« Liaison Tableau de Bord Apprentissage »",
        "tous les jours à 23:00 (expression Quartz 0 0 23 * * ?)",
        "renseignez votre e-mail pour recevoir son rapport",
        "catégorie « OF »",
    ):
        assert expected in sheet, expected
    # The application and the job are made once; each other establishment, its specific part.
    assert sheet.count("Paramétrage des applications externes") == 1
    assert sheet.count("Paramétrage spécifique > Nouveau") == 2


def _configure(sandbox: Sandbox, *establishments: Establishment) -> None:
    save_config(
        default_config_path(),
        Config.model_validate(
            {
                "api": {"url": sandbox.url},
                "establishments": [e.model_dump() for e in establishments],
            }
        ),
    )


def test_erp_sheet_command_masks_the_key_and_copies_it_only_to_a_terminal(
    capsys: pytest.CaptureFixture[str], sandbox: Sandbox
) -> None:
    organisme = sandbox.organismes[0]
    e = establishment("ymag", uai=organisme.uai, siret=organisme.siret)
    _configure(sandbox, e)
    SecretStore(credentials_path(default_config_path())).store(
        e.uai, e.siret, organisme.demo_key, "file"
    )
    assert main(["erp-sheet"]) == 0
    out = capsys.readouterr().out
    assert organisme.demo_key not in out and "Ypareo" in out and "erp=ymag" in out
    assert main(["erp-sheet", "--copy-key"]) == 1  # not a terminal: never into a pipe
    assert "a besoin d'un terminal" in capsys.readouterr().err
    # In a terminal: the key goes by OSC 52, never as text.
    leader, follower = pty.openpty()
    env = dict(os.environ)
    done = subprocess.run(
        [sys.executable, "-m", "tdba_wizard", "erp-sheet", "--copy-key"],
        stdin=follower, stdout=follower, stderr=follower, env=env, timeout=60, check=False,
    )  # fmt: skip
    os.close(follower)
    output = b""
    try:
        while chunk := os.read(leader, 65536):
            output += chunk
    except OSError:
        pass
    os.close(leader)
    assert done.returncode == 0
    encoded = base64.b64encode(organisme.demo_key.encode()).decode()
    assert f"\x1b]52;c;{encoded}\a".encode() in output
    assert organisme.demo_key.encode() not in output


def test_xlsx_is_the_template_with_the_valid_rows(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    organisme = sandbox.organismes[0]
    e = establishment("formasup", uai=organisme.uai, siret=organisme.siret,
                      source=str(tmp_path / "export-{uai}.csv"))  # fmt: skip
    _configure(sandbox, e)
    rows = records(sandbox, 2003)
    rows[4]["email_contact"] = "pas-un-email"
    write_csv(tmp_path / f"export-{organisme.uai}.csv", rows)
    out = tmp_path / "effectifs.xlsx"
    assert main(["xlsx", "--uai", organisme.uai, "--out", str(out)]) == 1  # one row refused
    printed = capsys.readouterr().out
    assert "écartées (refusées par les règles de TDBA) : 1 ; écrites : 2002" in printed
    assert "email_contact : Email non valide — 1 ligne(s) : l.6 (id E4)" in printed
    assert "non repris : id_erp_apprenant, statut_apprenant" in printed
    files = [tmp_path / "effectifs-1.xlsx", tmp_path / "effectifs-2.xlsx"]
    written = []
    for path in files:
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        workbook = openpyxl.load_workbook(path)
        assert workbook.sheetnames == ["Modèle"]
        sheet = workbook["Modèle"]
        header, *body = list(sheet.iter_rows(values_only=True))
        assert header == TEMPLATE_HEADERS
        written += body
    assert len(written) == 2002
    names = [h.replace("*", "").strip() for h in TEMPLATE_HEADERS]
    first = dict(zip(names, written[0], strict=True))
    assert (
        first["nom_apprenant"] == "Martin 0"
        and first["etablissement_formateur_uai"] == organisme.uai
    )
    assert first["date_entree_formation"].date().isoformat() == "2025-09-01"  # an Excel date
    assert [row[names.index("nom_apprenant")] for row in written][4] == "Martin 5"


def test_a_mixed_network_sync_and_check(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One Ammon establishment sent by Ammon itself, one sent by tdba-wizard: sync sends only
    the second; --check watches the first's key and couple, and the second's runs."""
    by_ammon, by_sync = sandbox.organismes[0], sandbox.organismes[1]
    first = establishment("ammon", uai=by_ammon.uai, siret=by_ammon.siret, transmission="erp")
    second = Establishment(name="CFA 2", uai=by_sync.uai, siret=by_sync.siret, erp="ymag",
                           source=str(tmp_path / "export-{uai}.csv"))  # fmt: skip
    _configure(sandbox, first, second)
    store = SecretStore(credentials_path(default_config_path()))
    store.store(first.uai, first.siret, by_ammon.demo_key, "file")
    store.store(second.uai, second.siret, by_sync.demo_key, "file")
    rows = [valid_record(by_sync, f"P{i}", nom_apprenant=f"Durand {i}") for i in range(3)]
    write_csv(tmp_path / f"export-{by_sync.uai}.csv", rows)
    assert main(["sync"]) == 0
    out = capsys.readouterr().out
    assert "Non envoyés par tdba-wizard : « CFA 1 » (son ERP transmet lui-même)" in out
    assert sorted(r["id_erp_apprenant"] for r in sandbox.records()) == ["P0", "P1", "P2"]
    main(["--check", "--json"])
    document = json.loads(capsys.readouterr().out)
    checks = [{c["code"]: c for c in e["checks"]} for e in document["establishments"]]
    assert set(checks[0]) == {"key", "key_accepted", "organisme", "transmission"}
    assert checks[0]["key_accepted"]["status"] == "OK"
    assert "n'est pas connue d'ici" in checks[0]["transmission"]["message"]
    assert checks[1]["last_sync"]["status"] == "OK" and "export" in checks[1]
    assert load_config(default_config_path()).erp_of(second) == "ymag"
    assert (state_dir() / "last-sync.json").exists()


def test_preflight_reads_only_the_keys_the_nightly_job_needs(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    by_ammon, by_sync, excel = sandbox.organismes[0], sandbox.organismes[1], sandbox.organismes[2]
    first = establishment("ammon", uai=by_ammon.uai, siret=by_ammon.siret, transmission="erp")
    second = Establishment(name="CFA 2", uai=by_sync.uai, siret=by_sync.siret, erp="ymag",
                           source=str(tmp_path / "export.csv"))  # fmt: skip
    third = establishment("autre", name="CFA 3", uai=excel.uai, siret=excel.siret)
    _configure(sandbox, first, second, third)
    SecretStore(credentials_path(default_config_path())).store(
        second.uai, second.siret, by_sync.demo_key, "file"
    )  # the ERP-sent one keeps its key in the ERP; the Excel one has none
    assert main(["sync", "--preflight"]) == 0
    out = capsys.readouterr().out
    assert f"✔ « CFA 1 » (UAI {first.uai}) : son ERP envoie lui-même, pas de clé à lire" in out
    assert f"✔ « CFA 2 » (UAI {second.uai}) : clé lue dans le fichier" in out
    assert f"✔ « CFA 3 » (UAI {third.uai}) : import du modèle Excel, pas de clé à lire" in out
    assert "✖" not in out


def test_add_chooses_the_erp_and_who_sends(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    base = ["add", "--name", "CFA 1", "--siret", "77937827200016", "--uai", "0802004U", "--yes"]
    assert main([*base, "--erp", "ammon"]) == 1
    assert "--sentite : obligatoire pour Ammon" in capsys.readouterr().err
    assert main([*base, "--erp", "inconnu"]) == 1
    assert "ERP inconnu « inconnu »" in capsys.readouterr().err
    assert main([*base, "--erp", "fcamanager", "--transmission", "erp"]) == 1
    assert "ne transmet pas par l'API" in capsys.readouterr().err
    # An ERP without API: an Excel upload, no key asked.
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main([*base, "--erp", "fcamanager"]) == 0
    [saved] = load_config(default_config_path()).establishments
    assert (saved.erp, saved.transmission, saved.sentite) == ("fcamanager", "excel", None)
    assert (
        SecretStore(credentials_path(default_config_path())).copies(saved.uai, saved.siret).places
        == []
    )
