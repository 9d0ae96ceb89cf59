"""The sandbox pinned to TDBA-API.md, over real HTTP with a plain HTTP client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tdba_wizard.sandbox import Failure, RateLimit, Sandbox

from .conftest import demo, valid_record

ROUTE = "v3/dossiers-apprenants"


def post(sandbox: Sandbox, path: str, body: Any, auth: str | None = None) -> httpx.Response:
    headers = {"Authorization": auth} if auth is not None else {}
    return httpx.post(sandbox.url + path, json=body, headers=headers, timeout=10)


def bearer(sandbox: Sandbox, index: int = 0) -> str:
    return f"Bearer {demo(sandbox, index).demo_key}"


def test_root_and_healthcheck(sandbox: Sandbox) -> None:
    root = httpx.get(sandbox.url.rstrip("/"), timeout=5).json()
    assert root == {"name": "TDB Apprentissage API", "version": "sandbox-2026.11", "env": "sandbox"}
    health = httpx.get(sandbox.url + "healthcheck", timeout=5).json()
    assert health["healthcheck"] == {"mongodb": True}


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        (None, "Clé API manquante"),
        ("Basic abc", "La clé API doit etre au format Bearer"),
        ("bearer 7a72e3b6-603e-4684-a44e-30531e4e78c4", "La clé API doit etre au format Bearer"),
        ("Bearer 00000000-0000-4000-8000-000000000000", "La clé API n'est pas valide"),
    ],
)
@pytest.mark.parametrize("path", [ROUTE, ROUTE + "/test"])
def test_the_three_403_messages(
    sandbox: Sandbox, auth: str | None, message: str, path: str
) -> None:
    response = post(sandbox, path, [], auth)
    assert response.status_code == 403
    assert response.json() == {"error": "Forbidden", "message": message}


def test_revoked_key_is_not_valid(sandbox: Sandbox) -> None:
    sandbox.revoke(demo(sandbox).demo_key)
    response = post(sandbox, ROUTE, [], bearer(sandbox))
    assert response.json()["message"] == "La clé API n'est pas valide"


def test_test_route_and_empty_array(sandbox: Sandbox) -> None:
    assert post(sandbox, ROUTE + "/test", None, bearer(sandbox)).json() == {"msg": "ok"}
    response = post(sandbox, ROUTE, [], bearer(sandbox))
    assert response.status_code == 200
    assert response.json() == {"status": "OK", "message": "Queued", "data": []}
    assert sandbox.records() == []


def test_2000_items_accepted_2001_refused(sandbox: Sandbox) -> None:
    organisme = demo(sandbox)
    batch = [valid_record(organisme, f"E{i}") for i in range(2000)]
    ok = post(sandbox, ROUTE, batch, bearer(sandbox))
    assert ok.status_code == 200
    assert len(ok.json()["data"]) == 2000
    refused = post(sandbox, ROUTE, [*batch, valid_record(organisme, "E2000")], bearer(sandbox))
    assert refused.status_code == 400
    body = refused.json()
    assert (body["error"], body["message"]) == ("Bad Request", "Erreur de validation")
    assert body["details"]


def test_not_an_array_is_refused(sandbox: Sandbox) -> None:
    response = post(sandbox, ROUTE, {"nom_apprenant": "X"}, bearer(sandbox))
    assert response.status_code == 400
    assert response.json()["message"] == "Erreur de validation"


def test_over_10_mb_is_413(sandbox: Sandbox) -> None:
    body = b"[" + b" " * (10 * 1024 * 1024) + b"]"
    response = httpx.post(
        sandbox.url + ROUTE,
        content=body,
        headers={"Authorization": bearer(sandbox), "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413


def test_order_detail_and_ids(sandbox: Sandbox) -> None:
    organisme = demo(sandbox)
    items = [
        valid_record(organisme, "A"),
        valid_record(organisme, "B", date_de_naissance_apprenant="28/10/2000"),
        valid_record(organisme, "C"),
    ]
    body = post(sandbox, ROUTE, items, bearer(sandbox)).json()
    assert body["status"] == "OK" and body["message"] == "Queued"
    assert body["detail"] == "Some data are invalid"
    assert [d["id_erp_apprenant"] for d in body["data"]] == ["A", "B", "C"]
    assert [d["has_error"] for d in body["data"]] == [False, True, False]
    assert body["data"][1]["validation_errors"] == [
        {"message": "Date invalide", "path": ["date_de_naissance_apprenant"]}
    ]
    assert all(len(d["_id"]) == 24 for d in body["data"])
    clean = post(sandbox, ROUTE, [items[0]], bearer(sandbox)).json()
    assert "detail" not in clean


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"prenom_apprenant": None}, "prenom_apprenant", "String attendu"),
        ({"date_entree_formation": None}, "date_entree_formation", "Champ obligatoire"),
        ({"date_entree_formation": ""}, "date_entree_formation", "Date invalide"),
        ({"date_fin_formation": "30/06/2027"}, "date_fin_formation", "Date invalide"),
        ({"etablissement_formateur_uai": "080200U"}, "etablissement_formateur_uai", "UAI invalide"),
        (
            {"etablissement_responsable_siret": "4840124640009"},
            "etablissement_responsable_siret",
            "Siret invalide. Format attendu : 14 chiffres",
        ),
        ({"statut_apprenant": 1}, "statut_apprenant", "Valeurs possibles: 0,2,3"),
        ({"email_contact": ""}, "email_contact", "Email non valide"),
        ({"email_contact": "lea@"}, "email_contact", "Email non valide"),
        ({"tel_apprenant": "12"}, "tel_apprenant", "Format invalide"),
        ({"annee_scolaire": "2023-2025"}, "annee_scolaire", "Format invalide (format attendu"),
        ({"sexe_apprenant": "X"}, "sexe_apprenant", "M, H ou F attendu"),
        ({"annee_formation": 6}, "annee_formation", "Le chiffre doit être inférieur ou égal à 5"),
        ({"formation_rncp": "RNCP1"}, "formation_rncp", "Code RNCP invalide"),
        ({"formation_cfd": "123"}, "formation_cfd", "Code CFD invalide"),
        ({"code_postal_apprenant": "750001"}, "code_postal_apprenant", "Le code postal doit"),
        ({"rqth_apprenant": "oui"}, "rqth_apprenant", "Boolean attendu"),
    ],
)
def test_validation_messages(
    sandbox: Sandbox, changes: dict[str, Any], field: str, message: str
) -> None:
    item = valid_record(demo(sandbox), **changes)
    result = post(sandbox, ROUTE, [item], bearer(sandbox)).json()["data"][0]
    assert result["has_error"] is True
    assert [e["path"] for e in result["validation_errors"]] == [[field]]
    assert result["validation_errors"][0]["message"].startswith(message)


def test_normalisation_unknown_fields_and_nir(sandbox: Sandbox) -> None:
    organisme = demo(sandbox)
    item = valid_record(
        organisme,
        nom_apprenant="  martin ",
        annee_scolaire="2025/2026",
        etablissement_formateur_siret=f"{organisme.siret[:3]} {organisme.siret[3:]}",
        formation_rncp="12345",
        code_postal_apprenant="1000",
        sexe_apprenant=2,
        tel_apprenant="+33 6 12 34 56 78",
        duree_theorique_formation=2,
        derniere_situation=0,
        siret_employeur="not a siret",
        couleur_preferee="bleu",
        nir_apprenant="1 85 05 78 006 084 36",
    )
    answer = post(sandbox, ROUTE, [item], bearer(sandbox)).json()["data"][0]
    assert answer["has_error"] is False
    [stored] = sandbox.records()
    assert stored["nom_apprenant"] == "MARTIN"
    assert stored["annee_scolaire"] == "2025-2026"
    assert stored["etablissement_formateur_siret"] == organisme.siret
    assert stored["formation_rncp"] == "RNCP12345"
    assert stored["code_postal_apprenant"] == "01000"
    assert stored["sexe_apprenant"] == "F"
    assert stored["tel_apprenant"] == "0612345678"
    assert stored["duree_theorique_formation_mois"] == 24
    assert "derniere_situation" not in stored and stored["siret_employeur"] is None
    assert "couleur_preferee" not in stored and "nir_apprenant" not in stored
    assert stored["has_nir"] is True


def test_idempotent_upsert_and_nulls_do_not_erase(sandbox: Sandbox) -> None:
    organisme = demo(sandbox)
    post(sandbox, ROUTE, [valid_record(organisme, "A", email_contact="a@b.fr")], bearer(sandbox))
    post(
        sandbox,
        ROUTE,
        [valid_record(organisme, "A", email_contact=None, statut_apprenant=0)],
        bearer(sandbox),
    )
    post(
        sandbox, ROUTE, [valid_record(organisme, "A", annee_scolaire="2026-2027")], bearer(sandbox)
    )
    records = sorted(sandbox.records(), key=lambda r: str(r["annee_scolaire"]))
    assert len(records) == 2
    assert records[0]["email_contact"] == "a@b.fr"
    assert records[0]["statut_apprenant"] == 0


def test_processing_errors_are_kept_for_inspection(sandbox: Sandbox, tmp_path: Path) -> None:
    organisme = demo(sandbox)
    item = valid_record(
        organisme,
        etablissement_formateur_uai="0802004U",
        etablissement_formateur_siret="77937827200016",
        date_fin_formation="2024-01-01",
    )
    assert post(sandbox, ROUTE, [item], bearer(sandbox)).json()["data"][0]["has_error"] is False
    [stored] = sandbox.records()
    # Upstream's messages and order; with an organisme not found, the date check is not run.
    assert stored["_processing_errors"] == ["organisme formateur non trouvé"]
    other = valid_record(
        organisme, "A2", date_fin_formation="2024-01-01", contrat_date_fin="2026-06-30"
    )
    post(sandbox, ROUTE, [other], bearer(sandbox))
    second = next(r for r in sandbox.records() if r["id_erp_apprenant"] == "A2")
    assert second["_processing_errors"] == [
        "Information de contrat incomplète : contrat_date_debut manquant mais ce champ est "
        "renseigné",
        "Information de contrat incomplète : contrat_date_fin, cause_rupture_contrat ou "
        "contrat_date_rupture nécessite la présence de contrat_date_debut",
        "La date de fin de formation doit être supérieure à la date d'entrée en formation",
    ]
    stored = next(r for r in sandbox.records() if r["id_erp_apprenant"] == "A1")
    sandbox.dump(tmp_path / "dump.json")
    assert json.loads((tmp_path / "dump.json").read_text("utf-8")) == sandbox.records()
    assert oct((tmp_path / "dump.json").stat().st_mode & 0o777) == "0o600"
    records_url = sandbox.url.replace("/api/", "/__sandbox/records")
    # Learners' data: the demo key is needed, and shows only that organisme's records.
    assert httpx.get(records_url, timeout=5).status_code == 403
    owner = {"Authorization": bearer(sandbox)}
    assert httpx.get(records_url, headers=owner, timeout=5).json() == sandbox.records()
    other = {"Authorization": f"Bearer {demo(sandbox, 1).demo_key}"}
    assert httpx.get(records_url, headers=other, timeout=5).json() == []


def test_organisme_lookups(sandbox: Sandbox) -> None:
    paris = demo(sandbox, 1)
    found = post(
        sandbox, "v1/organismes/get-by-uai-siret", {"uai": paris.uai, "siret": paris.siret}
    )
    assert found.status_code == 200
    assert set(found.json()) == {
        "_id", "siret", "uai", "enseigne", "raison_sociale", "ferme", "nature", "adresse"
    }  # fmt: skip
    assert found.json()["nature"] == "responsable"
    unknown = post(
        sandbox, "v1/organismes/get-by-uai-siret", {"uai": paris.uai, "siret": "48401246400091"}
    )
    assert unknown.status_code == 400
    assert unknown.json() == {"error": "Bad Request", "message": "Aucun organisme trouvé"}
    by_siret = post(sandbox, "v1/organismes/search-by-siret", {"siret": paris.siret}).json()
    assert sorted(o["uai"] for o in by_siret) == ["0754321P", "0755805C"]
    by_uai = post(sandbox, "v1/organismes/search-by-uai", {"uai": "0133336F"}).json()
    assert [o["ferme"] for o in by_uai] == [True]
    none = post(sandbox, "v1/organismes/search-by-uai", {"uai": "0951099C"})
    assert none.status_code == 400 and none.json()["message"] == "Aucun organisme trouvé"


def test_seed_has_the_promised_variety(sandbox: Sandbox) -> None:
    natures = {o.nature for o in sandbox.organismes}
    assert {"responsable", "formateur", "responsable_formateur"} <= natures
    assert [o.ferme for o in sandbox.organismes].count(True) == 1
    assert len({o.demo_key for o in sandbox.organismes}) == len(sandbox.organismes)


def test_seed_file_can_be_replaced(tmp_path: Path) -> None:
    seed = {
        "env": "recette",
        "organismes": [
            {
                "siret": "77937827200016", "uai": "0802004U", "enseigne": "Autre",
                "raison_sociale": "AUTRE", "ferme": False, "nature": "formateur",
                "adresse": {}, "demo_key": "9f8e7d6c-5b4a-4392-a1b0-c9d8e7f6a5b4",
            }
        ],
    }  # fmt: skip
    (tmp_path / "seed.json").write_text(json.dumps(seed), encoding="utf-8")
    with Sandbox(seed=tmp_path / "seed.json") as other:
        assert httpx.get(other.url, timeout=5).json()["env"] == "recette"
        assert [o.enseigne for o in other.organismes] == ["Autre"]


def test_rate_limit_headers_and_429(sandbox: Sandbox) -> None:
    sandbox.rate_limit = RateLimit(per_ip=100, per_organisme=2, window=30)
    first = post(sandbox, ROUTE, [], bearer(sandbox))
    assert first.headers["RateLimit-Limit"] == "2"
    assert first.headers["RateLimit-Remaining"] == "1"
    post(sandbox, ROUTE, [], bearer(sandbox))
    limited = post(sandbox, ROUTE, [], bearer(sandbox))
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 30
    assert limited.json() == {
        "error": "Too Many Requests",
        "message": "Trop de requêtes, veuillez réessayer plus tard.",
    }
    assert post(sandbox, ROUTE, [], bearer(sandbox, 1)).status_code == 200  # per organisme
    assert httpx.get(sandbox.url, timeout=5).status_code == 200  # GET /api is not limited


def test_lookups_and_sends_have_their_own_per_ip_counters(sandbox: Sandbox) -> None:
    sandbox.rate_limit = RateLimit(per_ip=2, per_organisme=100, window=30)
    organisme = sandbox.organismes[0]
    couple = {"uai": organisme.uai, "siret": organisme.siret}
    lookup = sandbox.url + "v1/organismes/get-by-uai-siret"
    assert [httpx.post(lookup, json=couple, timeout=5).status_code for _ in range(3)] == [
        200, 200, 429
    ]  # fmt: skip
    # TDBA's « public » and « ingestionAuth » limits are two counters of the same address.
    assert [post(sandbox, ROUTE, [], bearer(sandbox)).status_code for _ in range(3)] == [
        200, 200, 429
    ]  # fmt: skip


def test_injected_failures_apply_once(sandbox: Sandbox) -> None:
    sandbox.inject(Failure("500", count=2))
    assert post(sandbox, ROUTE, [], bearer(sandbox)).status_code == 500
    assert post(sandbox, ROUTE, [], bearer(sandbox)).status_code == 500
    assert post(sandbox, ROUTE, [], bearer(sandbox)).status_code == 200
    sandbox.inject(Failure("drop"))
    with pytest.raises(httpx.RemoteProtocolError):
        post(sandbox, ROUTE, [], bearer(sandbox))


def test_2000_item_batch_is_fast(sandbox: Sandbox) -> None:
    """Not a timing assertion: the figure is printed; the benchmark scripts judge speed."""
    organisme = demo(sandbox)
    batch = [valid_record(organisme, f"E{i}", email_contact="a@b.fr") for i in range(2000)]
    response = post(sandbox, ROUTE, batch, bearer(sandbox))
    assert response.status_code == 200
    print(f"2000 items answered in {response.elapsed.total_seconds():.3f} s")
