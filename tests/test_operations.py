"""Plans and their application: one key in one place, locks, interrupted writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tdba_wizard.config import Config, ConfigError, Establishment, load_config, save_config
from tdba_wizard.errors import InputError
from tdba_wizard.operations import apply, plan_add, plan_edit, plan_move_key, plan_remove
from tdba_wizard.paths import credentials_path
from tdba_wizard.secrets import SERVICE, SecretError, SecretStore

from .conftest import DEMO_KEY, OTHER_KEY, MemoryKeyring

FIRST = Establishment(name="CFA 1", siret="77937827200016", uai="0802004U", sentite=1)
SECOND = Establishment(name="CFA 2", siret="13002526500013", uai="0755805C", sentite=2)
THIRD_KEY = "2c3d4e5f-6071-4b8c-9d0e-1f2a3b4c5d6e"


def store_for(config_path: Path) -> SecretStore:
    return SecretStore(credentials_path(config_path))


def added(tmp_path: Path, target: str = "keyring") -> tuple[Path, SecretStore]:
    config_path = tmp_path / "profile" / "config.toml"
    store = store_for(config_path)
    apply(plan_add(config_path, FIRST, key=DEMO_KEY, target=target, store=store), store)  # type: ignore[arg-type]
    return config_path, store


def test_add_plans_then_applies(tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    config_path = tmp_path / "profile" / "config.toml"
    store = store_for(config_path)
    plan = plan_add(config_path, FIRST, key=DEMO_KEY, target="keyring", store=store)
    assert not config_path.exists() and memory_keyring.entries == {}  # a plan writes nothing
    assert DEMO_KEY not in plan.text and DEMO_KEY not in repr(plan)
    assert "1b2c3d4e-••••-••••-••••-••••••••4c5d" in plan.text
    done = apply(plan, store)
    assert load_config(config_path).establishments == [FIRST]
    assert memory_keyring.entries == {(SERVICE, "0802004U-77937827200016"): DEMO_KEY}
    assert any("Configuration enregistrée" in line for line in done)


def test_same_key_for_two_establishments_is_refused(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    config_path, store = added(tmp_path)
    with pytest.raises(InputError, match="déjà celle de « CFA 1 »"):
        plan_add(config_path, SECOND, key=DEMO_KEY, target="keyring", store=store)
    with pytest.raises(InputError, match="déjà configuré"):
        plan_add(config_path, FIRST, key=OTHER_KEY, target="keyring", store=store)


def test_a_new_key_replaces_the_old_where_it_lives_and_every_other_copy_goes(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    """The issue's « two keys, silently »: the key was in the file (for cron), an old copy in
    the keyring; the edit must leave one key, in the file, the same for the session and cron."""
    config_path, store = added(tmp_path, "file")
    store.store(FIRST.uai, FIRST.siret, DEMO_KEY, "keyring")  # a stray old copy
    plan = plan_edit(config_path, FIRST, FIRST, store=store, key=OTHER_KEY)
    assert "remplace l'ancienne dans le fichier de clés" in plan.text
    assert "l'autre copie, dans le trousseau" in plan.text
    apply(plan, store)
    copies = store.copies(FIRST.uai, FIRST.siret)
    assert (copies.keyring, copies.file) == (None, OTHER_KEY)
    # What the session reads and what cron (no keyring) reads are the same key.
    assert store.get(FIRST.uai, FIRST.siret).value == OTHER_KEY


def test_moving_a_key_without_typing_it(tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    config_path, store = added(tmp_path)
    plan = plan_move_key(config_path, FIRST, "file", store=store)
    assert "déplacée du trousseau" in plan.text and "vers le fichier de clés" in plan.text
    apply(plan, store)
    assert memory_keyring.entries == {}
    assert store.copies(FIRST.uai, FIRST.siret).file == DEMO_KEY
    again = plan_move_key(config_path, FIRST, "file", store=store)
    assert "rien à faire" in again.text and not again.keys


def test_two_different_copies_are_not_moved_by_guess(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    config_path, store = added(tmp_path)
    store.store(FIRST.uai, FIRST.siret, OTHER_KEY, "file")
    assert store.copies(FIRST.uai, FIRST.siret).differ
    with pytest.raises(SecretError, match="laquelle est la bonne ne peut pas se deviner"):
        plan_move_key(config_path, FIRST, "file", store=store)


def test_remove_deletes_every_copy(tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    config_path, store = added(tmp_path)
    store.store(FIRST.uai, FIRST.siret, DEMO_KEY, "file")
    done = apply(plan_remove(config_path, FIRST.uai, None, store=store), store)
    assert load_config(config_path).establishments == []
    assert store.copies(FIRST.uai, FIRST.siret).places == []
    assert len([line for line in done if "supprimée" in line]) == 2


def test_a_plan_applies_to_what_is_on_disk_when_applied(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    """Another command changed the config after the plan was made: nothing of it is lost."""
    config_path, store = added(tmp_path)
    plan = plan_add(config_path, SECOND, key=OTHER_KEY, target="keyring", store=store)
    config = load_config(config_path)
    save_config(config_path, config.with_schedule("22:15", "Europe/Paris", None))
    apply(plan, store)
    after = load_config(config_path)
    assert [e.uai for e in after.establishments] == [FIRST.uai, SECOND.uai]
    assert after.schedule.time == "22:15"


def test_keys_are_put_back_when_the_config_cannot_be_written(
    tmp_path: Path, memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tdba_wizard import operations

    config_path, store = added(tmp_path)
    renamed = FIRST.model_copy(update={"name": "CFA Un"})
    plan = plan_edit(config_path, FIRST, renamed, store=store, key=OTHER_KEY)

    def disk_full(path: Path, config: Config) -> None:
        raise ConfigError(f"Écriture impossible de {path} : plus de place. Rien n'a été modifié.")

    monkeypatch.setattr(operations, "save_config", disk_full)
    with pytest.raises(ConfigError):
        apply(plan, store)
    assert memory_keyring.entries == {(SERVICE, "0802004U-77937827200016"): DEMO_KEY}
    assert load_config(config_path).establishments == [FIRST]


# -- two processes at once ----------------------------------------------------------------

ADD_ONE = textwrap.dedent(
    """
    import sys
    from tdba_wizard.cli import main
    sys.exit(main(["--config", sys.argv[1], "add", "--name", sys.argv[2], "--siret",
                   sys.argv[3], "--uai", sys.argv[4], "--sentite", "1",
                   "--api-key-stdin", "--secret-store", "file", "--yes"]))
    """
)


def test_two_adds_at_once_keep_both_establishments_and_both_keys(tmp_path: Path) -> None:
    """The issue saw 8 lost establishments and 7 lost keys in 20 rounds; none is allowed."""
    for round_ in range(12):
        config_path = tmp_path / f"round{round_}" / "config.toml"
        runs = [
            subprocess.Popen(
                [sys.executable, "-c", ADD_ONE, str(config_path), e.name, e.siret, e.uai],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for e in (FIRST, SECOND)
        ]
        for process, key in zip(runs, (DEMO_KEY, OTHER_KEY), strict=True):
            assert process.stdin is not None
            process.stdin.write(key)
            process.stdin.close()
        for process in runs:
            assert process.wait(timeout=60) == 0, process.stderr.read()  # type: ignore[union-attr]
        config = load_config(config_path)
        assert sorted(e.uai for e in config.establishments) == sorted([FIRST.uai, SECOND.uai])
        store = store_for(config_path)
        assert store.read_from(FIRST.uai, FIRST.siret, "file") == DEMO_KEY
        assert store.read_from(SECOND.uai, SECOND.siret, "file") == OTHER_KEY
        assert [p.name for p in config_path.parent.iterdir() if p.name.endswith(".tmp")] == []


# -- a process killed while it writes -----------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from tdba_wizard import files
    from tdba_wizard.secrets import SecretStore
    if sys.argv[2] == "named":  # a system without O_TMPFILE
        files._write_unnamed = lambda path, data: False
    store = SecretStore(Path(sys.argv[1]))
    print("prêt", flush=True)
    n = 0
    while True:
        n += 1
        store.store("0802004U", "77937827200016", f"{n:08d}-5f60-4a7b-8c9d-0e1f2a3b4c5d", "file")
    """
)


@pytest.mark.parametrize("way", ["unnamed", "named"])
def test_a_write_killed_midway_leaves_no_key_behind(tmp_path: Path, way: str) -> None:
    credentials = tmp_path / "profile" / "credentials.toml"
    for _ in range(8):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(credentials), way],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout is not None and writer.stdout.readline().strip() == "prêt"
        time.sleep(0.05 + 0.1 * (os.getpid() % 3))
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
        # Whatever was left, the next write under the lock removes it.
        store = SecretStore(credentials)
        store.store(FIRST.uai, FIRST.siret, DEMO_KEY, "file")
        assert store.read_from(FIRST.uai, FIRST.siret, "file") == DEMO_KEY
        leftovers = [p.name for p in credentials.parent.iterdir() if p.name.endswith(".tmp")]
        assert leftovers == []
        assert oct(credentials.stat().st_mode & 0o777) == "0o600"


def test_only_our_own_leftovers_are_removed(tmp_path: Path) -> None:
    from tdba_wizard.files import remove_stale_temporaries

    ours = tmp_path / ".credentials.toml.a1b2c3.tmp"
    foreign = tmp_path / ".someone-else.conf.x.tmp"
    for path in (ours, foreign):
        path.write_text("x", encoding="utf-8")
    assert remove_stale_temporaries(tmp_path, ["credentials.toml", "config.toml"]) == [ours]
    assert foreign.exists() and not ours.exists()
