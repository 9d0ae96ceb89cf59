"""The nightly entry: time zones, Quartz input, crontab editing with the real crontab binary,
and the proof from cron's environment."""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tdba_wizard import schedule
from tdba_wizard.cli import main
from tdba_wizard.schedule import (
    BEGIN,
    END,
    Crontab,
    DailyTime,
    ScheduleError,
    cron_fields,
    cron_times,
    make_entry,
    parse_time,
    with_block,
    without_block,
)

from .conftest import DEMO_KEY
from .secret_service import secret_service

PARIS = DailyTime(23, 0, "Europe/Paris")
UTC = dt.UTC
FOREIGN = (
    b"SHELL=/bin/bash\n"
    b'MAILTO=""\n'
    b"\n"
    b"# sauvegarde de nuit\n"
    b"*/5  *\t* * *   echo '50% fait' \\% > /dev/null\n"
    b"   \n"
    b"0 3 * * 1 /usr/bin/true   # commentaire en fin de ligne\n"
    b"@reboot /bin/true\n"
)


# -- time zones ---------------------------------------------------------------------------


def test_utc_server_gets_both_possible_hours() -> None:
    times = cron_times(PARIS, UTC, 2027)
    assert times == [(21, 0), (22, 0)]
    assert cron_fields(times) == ["0 21,22 * * *"]


def test_server_in_paris_gets_one_line() -> None:
    assert cron_fields(cron_times(PARIS, ZoneInfo("Europe/Paris"), 2027)) == ["0 23 * * *"]


def test_half_hour_zone_gets_one_line_per_minute() -> None:
    times = cron_times(DailyTime(23, 0, "Asia/Kolkata"), UTC, 2027)
    assert cron_fields(times) == ["30 17 * * *"]
    adelaide = cron_fields(cron_times(DailyTime(23, 0, "Australia/Adelaide"), UTC, 2027))
    assert adelaide == ["30 12,13 * * *"]


def _cron_firings(fields: list[str], day: dt.date) -> list[dt.datetime]:
    """What Debian's cron does on a UTC system on ``day``: every listed hour and minute."""
    firings = []
    for line in fields:
        minute, hours = line.split()[:2]
        for hour in hours.split(","):
            firings.append(
                dt.datetime(day.year, day.month, day.day, int(hour), int(minute), tzinfo=UTC)
            )
    return firings


@pytest.mark.parametrize(
    "day",
    [
        dt.date(2027, 3, 27), dt.date(2027, 3, 28), dt.date(2027, 3, 29),
        dt.date(2027, 10, 30), dt.date(2027, 10, 31), dt.date(2027, 11, 1),
        dt.date(2027, 1, 15), dt.date(2027, 7, 14),
    ],
)  # fmt: skip
def test_runs_once_at_23h_paris_on_a_utc_server_across_dst(day: dt.date) -> None:
    fields = cron_fields(cron_times(PARIS, UTC, 2027))
    due = [firing for firing in _cron_firings(fields, day) if PARIS.is_due(firing)]
    assert len(due) == 1
    paris = due[0].astimezone(ZoneInfo("Europe/Paris"))
    assert (paris.date(), paris.hour, paris.minute) == (day, 23, 0)


def test_late_cron_start_still_counts_but_not_an_hour_off() -> None:
    start = PARIS.occurrence(dt.date(2027, 10, 31))
    assert PARIS.is_due(start + dt.timedelta(minutes=5))
    assert not PARIS.is_due(start - dt.timedelta(hours=1))
    assert not PARIS.is_due(start + dt.timedelta(hours=1))


def test_next_runs_across_the_autumn_change() -> None:
    now = dt.datetime(2027, 10, 30, 12, 0, tzinfo=UTC)
    runs = PARIS.next_runs(now, 2)
    assert [r.astimezone(UTC).hour for r in runs] == [21, 22]  # CEST then CET
    assert all(r.hour == 23 for r in runs)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("23:00", "23:00"), ("7:05", "07:05"), ("0 0 23 * * ?", "23:00"), ("0 30 22 ? * *", "22:30"),
     ("0 15 1 * * ? *", "01:15"), ("0 23 * * *", "23:00")],
)  # fmt: skip
def test_time_inputs(value: str, expected: str) -> None:
    assert parse_time(value).hhmm == expected


@pytest.mark.parametrize(
    "value",
    ["0 0 23 ? * MON-FRI", "0 0/5 * * * ?", "0 0 23 1 * ?", "24:00", "30 0 23 * * ?", "demain"],
)
def test_non_daily_inputs_are_refused(value: str) -> None:
    with pytest.raises(ScheduleError, match="n'est pas une heure quotidienne"):
        parse_time(value)


def test_unknown_zone() -> None:
    with pytest.raises(ScheduleError, match="Fuseau horaire inconnu"):
        parse_time("23:00", "Mars/Olympus")


# -- the entry ----------------------------------------------------------------------------


def entry_for(tmp_path: Path) -> schedule.Entry:
    return make_entry(
        PARIS,
        tmp_path / "cfg dir" / "config.toml",
        tmp_path / "état%",
        system=UTC,
        today=dt.date(2027, 1, 1),
    )


def test_entry_is_absolute_locked_logged_and_escaped(tmp_path: Path) -> None:
    block = entry_for(tmp_path).block().decode()
    lines = block.splitlines()
    assert lines[0] == BEGIN.decode() and lines[-1] == END.decode()
    [job] = [line for line in lines if not line.startswith("#")]
    assert job.startswith("0 21,22 * * * ")
    assert "flock" not in job  # sync holds its own lock (a stuck run is taken over)
    assert "'" + str(tmp_path / "cfg dir" / "config.toml") + "'" in job
    assert "sync --scheduled-for 23:00/Europe/Paris" in job
    assert job.endswith("sync.log' 2>&1")
    assert "état\\%" in job and "état%" not in job.replace("état\\%", "")
    program = job.split()[5]  # after the five fields
    assert os.path.isabs(program)
    assert DEMO_KEY not in block


def test_block_editing_is_byte_exact() -> None:
    block = BEGIN + b"\n0 1 * * * x\n" + END + b"\n"
    once = with_block(FOREIGN, block)
    assert once.startswith(FOREIGN)
    assert with_block(with_block(once, block), block) == once
    assert without_block(once) == FOREIGN
    no_newline = b"0 4 * * * /bin/true"
    assert without_block(with_block(no_newline, block)) == no_newline + b"\n"


# -- the real crontab ---------------------------------------------------------------------


@pytest.mark.crontab
def test_install_on_empty_crontab(user_crontab: Crontab, tmp_path: Path) -> None:
    subprocess.run(["crontab", "-r"], capture_output=True, check=False)
    assert user_crontab.read() == b""
    entry = entry_for(tmp_path)
    schedule.install(user_crontab, entry)
    assert user_crontab.read() == entry.block()
    assert entry.state_dir.is_dir()  # the log and the lock can be opened at 23:00
    state = schedule.status(user_crontab, entry)
    assert state.installed and state.current and len(state.lines) == 1
    assert schedule.remove(user_crontab) is True
    assert user_crontab.read() == b""
    assert schedule.remove(user_crontab) is False


@pytest.mark.crontab
def test_foreign_entries_are_preserved_byte_for_byte(user_crontab: Crontab, tmp_path: Path) -> None:
    user_crontab.write(FOREIGN)
    entry = entry_for(tmp_path)
    for _ in range(3):
        schedule.install(user_crontab, entry)
    content = user_crontab.read()
    assert content.count(BEGIN) == 1 and content.count(END) == 1
    assert without_block(content) == FOREIGN
    later = make_entry(DailyTime(22, 30, "Europe/Paris"), tmp_path / "c.toml", tmp_path, system=UTC)
    schedule.install(user_crontab, later)
    assert b"30 20,21 * * *" in user_crontab.read()
    assert without_block(user_crontab.read()) == FOREIGN
    schedule.remove(user_crontab)
    assert user_crontab.read() == FOREIGN


@pytest.mark.crontab
def test_failing_crontab_write_leaves_previous_untouched(
    user_crontab: Crontab, tmp_path: Path
) -> None:
    user_crontab.write(FOREIGN)
    failing = tmp_path / "crontab"
    failing.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "-l" ]; then exec {shutil.which("crontab")} -l; fi\n'
        'echo "errors in crontab file, can\'t install." >&2\nexit 1\n'
    )
    failing.chmod(0o755)
    with pytest.raises(ScheduleError, match="la crontab précédente est restée en place"):
        schedule.install(Crontab(str(failing)), entry_for(tmp_path))
    assert user_crontab.read() == FOREIGN


def test_unreadable_crontab_aborts(tmp_path: Path) -> None:
    broken = tmp_path / "crontab"
    broken.write_text("#!/bin/sh\necho 'crontab: permission denied' >&2\nexit 1\n")
    broken.chmod(0o755)
    with pytest.raises(ScheduleError, match="Lecture de la crontab impossible"):
        schedule.install(Crontab(str(broken)), entry_for(tmp_path))


# -- CLI and proof ------------------------------------------------------------------------


def _add_with_file_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(DEMO_KEY))
    argv = ["add", "--name", "CFA 1", "--siret", "77937827200016", "--uai", "0802004U"]
    argv += ["--sentite", "1", "--api-key-stdin", "--secret-store", "file", "--yes"]
    assert main(argv) == 0


def test_no_crontab_gives_the_command_to_schedule_by_hand(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _add_with_file_key(monkeypatch)
    monkeypatch.setenv("PATH", str(tmp_path))  # no crontab on this PATH
    assert main(["schedule", "install", "--yes"]) == 1
    err = capsys.readouterr().err
    assert "Pas de « crontab » sur ce système" in err
    assert "sync --scheduled-for 23:00/Europe/Paris" in err
    assert DEMO_KEY not in err


@pytest.mark.crontab
def test_cli_install_show_remove_with_quartz(
    user_crontab: Crontab, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _add_with_file_key(monkeypatch)
    capsys.readouterr()
    assert main(["schedule", "install", "--at", "0 30 22 * * ?", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "Tâche de nuit installée" in out
    assert "✔ « CFA 1 » (UAI 0802004U) : clé lue dans le fichier de clés" in out
    assert "(Europe/Paris)" in out and "heure du système" in out
    assert b"--scheduled-for 22:30/Europe/Paris" in user_crontab.read()
    assert main(["schedule", "show"]) == 0
    shown = capsys.readouterr().out
    assert "22:30/Europe/Paris" in shown and "diffère" not in shown
    assert DEMO_KEY.encode() not in user_crontab.read()
    assert main(["schedule", "remove", "--yes"]) == 0
    assert main(["schedule", "show"]) == 1


@pytest.mark.secret_service
@pytest.mark.crontab
def test_proof_fails_when_the_key_is_only_in_the_session_keyring(
    user_crontab: Crontab, isolated_profile: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = user_crontab.read()
    with secret_service(isolated_profile) as env:
        for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME"):
            env[name] = os.environ[name]
        run = [sys.executable, "-m", "tdba_wizard"]
        added = subprocess.run(
            [*run, "add", "--name", "CFA 1", "--siret", "77937827200016", "--uai", "0802004U",
             "--sentite", "1", "--api-key-stdin", "--yes"],
            input=DEMO_KEY, capture_output=True, text=True, env=env, timeout=60, check=False,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        assert "Secret Service" in added.stdout
        installed = subprocess.run(
            [*run, "schedule", "install", "--yes"],
            capture_output=True, text=True, env=env, timeout=120, check=False,
        )  # fmt: skip
    assert installed.returncode == 1
    assert "aucun bus de session D-Bus" in installed.stdout
    assert "Rien n'a été installé" in installed.stderr
    assert "tdba-wizard key --uai 0802004U --move-to file" in installed.stderr
    assert user_crontab.read() == before
    assert DEMO_KEY not in installed.stdout + installed.stderr


@pytest.mark.crontab
def test_proof_passes_with_the_explicit_key_file(
    user_crontab: Crontab, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _add_with_file_key(monkeypatch)
    assert main(["schedule", "install", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Vérification dans l'environnement de cron" in out
    assert "✔ Dossier d'état utilisable" in out
    assert "rien n'est installé" in out
    assert schedule.find_block(user_crontab.read()) is None


def test_scheduled_sync_outside_its_time_does_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = dt.datetime.now(UTC) + dt.timedelta(hours=2)
    token = f"{now.astimezone(ZoneInfo('Europe/Paris')):%H:%M}/Europe/Paris"
    assert main(["sync", "--scheduled-for", token]) == 0
    assert "ce n'est pas l'heure prévue" in capsys.readouterr().out


def test_installed_program_is_read_back_from_the_line(tmp_path: Path) -> None:
    entry = entry_for(tmp_path)
    [line] = schedule.installed_lines(entry.block())
    assert schedule.installed_program(line) == entry.program[0]
