"""Config models, TOML load/save, atomicity and permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tdba_wizard import files
from tdba_wizard.config import (
    PRODUCTION_URL,
    ApiSettings,
    Config,
    ConfigError,
    ConfigNotFoundError,
    load_config,
    normalise_api_url,
    parse_config,
    save_config,
)
from tdba_wizard.paths import default_config_path

DESIGN_SKETCH = """
[api]
url = "https://cfas.apprentissage.beta.gouv.fr/api/"
erp = "ammon"
[schedule]
time = "23:00"
timezone = "Europe/Paris"
report_to = "admin@cfa.example"
[[establishments]]
name = "CFA 1 Liaison TdB"
siret = "77937827200016"
uai = "0802004U"
sentite = 1443191
source = "/srv/exports/effectifs-{sentite}.csv"
"""


def sample() -> Config:
    return parse_config(DESIGN_SKETCH, Path("config.toml"))


def test_design_sketch_is_valid() -> None:
    config = sample()
    assert config.api.environment == "production"
    assert config.establishments[0].sentite == 1443191
    assert config.establishments[0].source_path() == Path("/srv/exports/effectifs-1443191.csv")


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "config.toml"
    config = sample()
    save_config(path, config)
    assert load_config(path) == config
    text = path.read_text(encoding="utf-8")
    assert "sentite = 1443191" in text


def test_permissions(tmp_path: Path) -> None:
    path = tmp_path / "newdir" / "config.toml"
    save_config(path, sample())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_default_location_follows_xdg(isolated_profile: Path) -> None:
    assert default_config_path() == isolated_profile / ".config" / "tdba-wizard" / "config.toml"


def test_interrupted_save_leaves_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "profile" / "config.toml"
    save_config(path, sample())
    before = path.read_bytes()

    def crash(src: str, dst: str) -> None:
        raise KeyboardInterrupt  # the process is stopped between write and rename

    monkeypatch.setattr(files.os, "replace", crash)
    changed = sample().model_copy(update={"establishments": []})
    with pytest.raises(KeyboardInterrupt):
        save_config(path, changed)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.toml"]


def test_failed_write_is_a_french_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.toml"
    save_config(path, sample())
    before = path.read_bytes()

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full_disk)
    with pytest.raises(ConfigError, match="Rien n'a été modifié"):
        save_config(path, Config())
    assert path.read_bytes() == before


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigNotFoundError, match="tdba-wizard add"):
        load_config(tmp_path / "absent.toml")


def test_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[api]\nurl = "https://x.fr/api/"\nerp = ammon\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in caught.value.message
    assert "ligne 3, colonne 7" in caught.value.message


@pytest.mark.parametrize(
    ("replace", "by", "expected"),
    [
        ('uai = "0802004U"', 'uai = "0802004A"', "establishments n°1 → uai : La lettre clé"),
        ('siret = "77937827200016"', 'siret = "77937827200017"', "establishments n°1 → siret"),
        ("sentite = 1443191", "sentite = 0", "sentite : doit être supérieur à 0"),
        ("sentite = 1443191", 'sentite = "abc"', "sentite : nombre entier attendu"),
        ('erp = "ammon"', 'erp = "ammon"\ncolor = "red"', "clé inconnue « color »"),
        ('time = "23:00"', 'time = "25:00"', "schedule → time : heure invalide"),
        ('timezone = "Europe/Paris"', 'timezone = "Mars/Olympus"', "fuseau horaire inconnu"),
        ("https://cfas.", "http://cfas.", "api → url : l'adresse de l'API doit être en https"),
        ('report_to = "admin@cfa.example"', 'report_to = "admin"', "adresse e-mail invalide"),
        ('name = "CFA 1 Liaison TdB"', 'name = "  "', "name : le nom ne peut pas être vide"),
        ("{sentite}.csv", "{id}.csv", "variable inconnue {id}"),
        ('name = "CFA 1 Liaison TdB"\n', "", "name : champ obligatoire manquant"),
    ],
)
def test_validation_errors_name_the_field_in_french(replace: str, by: str, expected: str) -> None:
    assert replace in DESIGN_SKETCH
    with pytest.raises(ConfigError) as caught:
        parse_config(DESIGN_SKETCH.replace(replace, by), Path("c.toml"))
    assert expected in caught.value.message
    assert "Traceback" not in caught.value.message


def test_duplicate_couple_is_refused() -> None:
    doubled = DESIGN_SKETCH + DESIGN_SKETCH[DESIGN_SKETCH.index("[[establishments]]") :]
    with pytest.raises(ConfigError, match="n°1 et n°2 ont le même couple"):
        parse_config(doubled, Path("c.toml"))


def test_same_uai_other_siret_is_allowed() -> None:
    config = sample()
    other = config.establishments[0].model_copy(update={"siret": "13002526500013", "sentite": 2})
    Config(establishments=[config.establishments[0], other])


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://cfas.apprentissage.beta.gouv.fr/api", PRODUCTION_URL),
        ("http://127.0.0.1:8123/api/", "http://127.0.0.1:8123/api/"),
        ("http://localhost:8123/api", "http://localhost:8123/api/"),
        ("http://[::1]:8123/api/", "http://[::1]:8123/api/"),
    ],
)
def test_urls_accepted(url: str, expected: str) -> None:
    assert normalise_api_url(url) == expected


@pytest.mark.parametrize("url", ["http://example.fr/api/", "ftp://x/", "cfas.fr", "https://x/?a=1"])
def test_urls_refused(url: str) -> None:
    with pytest.raises(ValueError):
        ApiSettings(url=url)


def test_time_is_normalised() -> None:
    assert parse_config('[schedule]\ntime = "7:05"\n', Path("c")).schedule.time == "07:05"


def test_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TDBA_WIZARD_CONFIG", str(tmp_path / "x.toml"))
    assert default_config_path() == tmp_path / "x.toml"
    assert os.environ["TDBA_WIZARD_CONFIG"]
