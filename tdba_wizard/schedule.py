"""The nightly job in the user's crontab: render, install, remove, inspect, prove.

The job runs ``tdba-wizard sync`` at a time chosen in a time zone (23:00 Europe/Paris by
default). Debian's cron ignores ``CRON_TZ`` and servers often run in UTC, so the entry lists
every system-clock time that the chosen time can fall on during the year (21:00 and 22:00 on a
UTC server, for 23:00 in Paris) and the command carries ``--scheduled-for 23:00/Europe/Paris``:
``sync`` goes on only when it is that time in that zone, so it runs once a night, at the right
time, on both sides of each daylight-saving change.
"""

from __future__ import annotations

import datetime as dt
import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from tdba_wizard.errors import TdbaError
from tdba_wizard.files import ensure_private_dir

BEGIN = b"# >>> tdba-wizard : tache de nuit (geree par tdba-wizard schedule) >>>"
END = b"# <<< tdba-wizard <<<"
CRON_PATH = "/usr/bin:/bin"
GRACE = dt.timedelta(minutes=30)
"""How late after the chosen time cron may start the job and still count as on time."""
CRONTAB_TIMEOUT = 20.0
_HHMM = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")


class ScheduleError(TdbaError):
    """The schedule cannot be read, written or proven."""

    title = "Planification"


class NoCrontabError(ScheduleError):
    """There is no ``crontab`` program on this system."""

    title = "Pas de cron sur ce système"


# -- time ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DailyTime:
    """A daily time in a time zone: the job's "when"."""

    hour: int
    minute: int
    timezone: str

    @property
    def hhmm(self) -> str:
        """Return HH:MM."""
        return f"{self.hour:02d}:{self.minute:02d}"

    @property
    def token(self) -> str:
        """Return the ``--scheduled-for`` value, e.g. ``23:00/Europe/Paris``."""
        return f"{self.hhmm}/{self.timezone}"

    @classmethod
    def from_token(cls, token: str) -> DailyTime:
        """Parse a ``--scheduled-for`` value."""
        hhmm, _, zone = token.partition("/")
        return parse_time(hhmm, zone)

    def local(self, instant: dt.datetime) -> dt.datetime:
        """Return ``instant`` on the clock of this time's zone."""
        return instant.astimezone(ZoneInfo(self.timezone))

    def occurrence(self, day: dt.date) -> dt.datetime:
        """Return the instant of this time on ``day`` in its zone (aware)."""
        naive = dt.datetime(day.year, day.month, day.day, self.hour, self.minute)
        return naive.replace(tzinfo=ZoneInfo(self.timezone))

    def next_runs(self, now: dt.datetime, count: int = 3) -> list[dt.datetime]:
        """Return the next ``count`` runs after ``now``, aware, in the configured zone."""
        zone = ZoneInfo(self.timezone)
        day = now.astimezone(zone).date()
        runs: list[dt.datetime] = []
        while len(runs) < count:
            instant = self.occurrence(day)
            if instant > now:
                runs.append(instant)
            day += dt.timedelta(days=1)
        return runs

    def is_due(self, now: dt.datetime) -> bool:
        """Return True when ``now`` is this time (up to :data:`GRACE` late) in its zone."""
        local = self.local(now)
        for day in (local.date(), local.date() - dt.timedelta(days=1)):
            start = self.occurrence(day)
            if start <= now < start + GRACE:
                return True
        return False


def parse_time(value: str, timezone: str = "Europe/Paris") -> DailyTime:
    """Parse ``HH:MM``, a Quartz daily expression (``0 0 23 * * ?``) or a daily cron line."""
    try:
        ZoneInfo(timezone)
    except (ValueError, KeyError, OSError):
        raise ScheduleError(
            f"Fuseau horaire inconnu « {timezone} » (exemple : Europe/Paris)."
        ) from None
    match = _HHMM.match(value)
    if match:
        return DailyTime(int(match[1]), int(match[2]), timezone)
    fields = value.split()
    wildcard = {"*", "?"}
    daily = None
    if len(fields) in (6, 7):  # Quartz: sec min hour day-of-month month day-of-week [year]
        seconds, minute, hour, dom, month, dow = fields[:6]
        year_ok = len(fields) == 6 or fields[6] == "*"
        if seconds == "0" and {dom, month, dow} <= wildcard and year_ok:
            daily = (hour, minute)
    elif len(fields) == 5:  # cron: min hour day-of-month month day-of-week
        minute, hour, dom, month, dow = fields
        if {dom, month, dow} <= {"*"}:
            daily = (hour, minute)
    if daily is not None and daily[0].isdigit() and daily[1].isdigit():
        hour_number, minute_number = int(daily[0]), int(daily[1])
        if hour_number < 24 and minute_number < 60:
            return DailyTime(hour_number, minute_number, timezone)
    raise ScheduleError(
        f"« {value} » n'est pas une heure quotidienne : indiquez HH:MM (ex. 23:00) ou une "
        "expression Quartz quotidienne à heure fixe (ex. 0 0 23 * * ?). Les envois ne peuvent "
        "être planifiés qu'une fois par jour à heure fixe."
    )


def system_zone() -> dt.tzinfo:
    """Return the zone of the system clock, which cron uses (not the shell's ``TZ``)."""
    try:
        with open("/etc/localtime", "rb") as handle:
            return ZoneInfo.from_file(handle, key="localtime")
    except (OSError, ValueError):
        return dt.UTC


def cron_times(when: DailyTime, system: dt.tzinfo, year: int) -> list[tuple[int, int]]:
    """Return every (hour, minute) of the system clock on which ``when`` falls in ``year``+1."""
    times: set[tuple[int, int]] = set()
    day = dt.date(year, 1, 1)
    for _ in range(731):  # two years: every DST change, whatever the zones' rules
        local = when.occurrence(day).astimezone(system)
        times.add((local.hour, local.minute))
        day += dt.timedelta(days=1)
    return sorted(times)


def cron_fields(times: Iterable[tuple[int, int]]) -> list[str]:
    """Group (hour, minute) pairs into cron time fields, one per distinct minute."""
    by_minute: dict[int, list[int]] = {}
    for hour, minute in times:
        by_minute.setdefault(minute, []).append(hour)
    return [
        f"{minute} {','.join(str(h) for h in sorted(hours))} * * *"
        for minute, hours in sorted(by_minute.items())
    ]


# -- the entry ---------------------------------------------------------------------------


def program_command() -> list[str]:
    """Return the absolute command that starts this installed program."""
    script = Path(sys.executable).parent / "tdba-wizard"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [str(Path(sys.executable).absolute()), "-m", "tdba_wizard"]


def _cron_escape(command: str) -> str:
    # In a crontab, an unescaped % ends the command and starts its standard input.
    return command.replace("%", "\\%")


@dataclass(frozen=True)
class Entry:
    """The job as it goes into the crontab."""

    when: DailyTime
    program: tuple[str, ...]
    config_path: Path
    state_dir: Path
    fields: tuple[str, ...]

    @property
    def base(self) -> list[str]:
        """Return the program with the paths it must use whatever cron's environment is."""
        return [
            *self.program,
            "--config",
            str(self.config_path),
            "--state-dir",
            str(self.state_dir),
        ]

    @property
    def command(self) -> str:
        """Return the shell command that cron runs (program, log).

        No ``flock -n`` around it: a run stuck past its deadline would then hold that lock and
        every following night would stop at once, silently. ``sync`` holds its own lock,
        names its holder, and stops a run stuck past its deadline.
        """
        argv = [*self.base, "sync", "--scheduled-for", self.when.token]
        log = shlex.quote(str(self.state_dir / "sync.log"))
        return f"{shlex.join(argv)} >> {log} 2>&1"

    @property
    def manual_command(self) -> str:
        """Return what to schedule by hand where there is no cron."""
        return shlex.join([*self.base, "sync", "--scheduled-for", self.when.token])

    @property
    def preflight_command(self) -> str:
        """Return the same program and paths in check mode."""
        return shlex.join([*self.base, "sync", "--preflight"])

    def block(self) -> bytes:
        """Return the marked crontab block, newline-terminated."""
        lines = [BEGIN]
        lines.append(
            f"# Envoi des dossiers a TDBA chaque jour a {self.when.hhmm} ({self.when.timezone})"
            "; plusieurs heures systeme possibles, sync ne part qu'a la bonne.".encode()
        )
        command = _cron_escape(self.command)
        lines.extend(f"{fields} {command}".encode() for fields in self.fields)
        lines.append(END)
        return b"\n".join(lines) + b"\n"


def make_entry(
    when: DailyTime,
    config_path: Path,
    state_dir: Path,
    *,
    system: dt.tzinfo | None = None,
    today: dt.date | None = None,
) -> Entry:
    """Return the entry for ``when``, for this program and these paths."""
    year = (today or dt.date.today()).year
    times = cron_times(when, system or system_zone(), year)
    return Entry(
        when,
        tuple(program_command()),
        config_path.absolute(),
        state_dir.absolute(),
        tuple(cron_fields(times)),
    )


# -- crontab text ------------------------------------------------------------------------


def find_block(crontab: bytes) -> tuple[int, int] | None:
    """Return the byte span of our block (markers included), or None."""
    start = crontab.find(BEGIN)
    if start < 0 or (start > 0 and crontab[start - 1 : start] != b"\n"):
        return None
    end = crontab.find(END, start)
    if end < 0:
        return None
    end += len(END)
    if crontab[end : end + 1] == b"\n":
        end += 1
    return start, end


def with_block(crontab: bytes, block: bytes) -> bytes:
    """Return ``crontab`` with our block replaced (or appended); other bytes untouched."""
    span = find_block(crontab)
    if span is not None:
        return crontab[: span[0]] + block + crontab[span[1] :]
    if crontab and not crontab.endswith(b"\n"):
        crontab += b"\n"
    return crontab + block


def without_block(crontab: bytes) -> bytes:
    """Return ``crontab`` without our block; other bytes untouched."""
    span = find_block(crontab)
    if span is None:
        return crontab
    return crontab[: span[0]] + crontab[span[1] :]


def installed_lines(crontab: bytes) -> list[str]:
    """Return the job lines of our block (comments excluded)."""
    span = find_block(crontab)
    if span is None:
        return []
    body = crontab[span[0] : span[1]].decode("utf-8", "replace").splitlines()
    return [line for line in body if line.strip() and not line.lstrip().startswith("#")]


def installed_program(line: str) -> str:
    """Return the program a job line of our block runs (after the cron fields and the lock)."""
    tokens = shlex.split(line.replace("\\%", "%"))[5:]
    if tokens and tokens[0].endswith("flock"):
        tokens = tokens[3:]  # flock -n LOCKFILE
    return tokens[0] if tokens else ""


# -- the crontab program -----------------------------------------------------------------


class Crontab:
    """The current user's crontab, through the real ``crontab`` program."""

    def __init__(self, program: str | None = None) -> None:
        found = program or shutil.which("crontab")
        self.program = found

    @property
    def available(self) -> bool:
        """Return True when a crontab program exists."""
        return self.program is not None

    def _run(
        self, args: list[str], data: bytes | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        if self.program is None:
            raise NoCrontabError("Aucun programme « crontab » sur ce système.")
        try:
            return subprocess.run(
                [self.program, *args],
                input=data,
                capture_output=True,
                timeout=CRONTAB_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ScheduleError(
                f"« crontab {' '.join(args)} » n'a pas répondu en {CRONTAB_TIMEOUT:g} s. "
                "Rien n'a été modifié."
            ) from None
        except OSError as error:
            raise ScheduleError(
                f"Impossible de lancer {self.program} : {error.strerror}. Rien n'a été modifié."
            ) from None

    def read(self) -> bytes:
        """Return the crontab's bytes; an absent crontab reads as empty."""
        result = self._run(["-l"])
        if result.returncode == 0:
            return result.stdout
        message = result.stderr.decode("utf-8", "replace").strip()
        if "no crontab for" in message:
            return b""
        raise ScheduleError(
            f"Lecture de la crontab impossible ({message or f'code {result.returncode}'}). "
            "Rien n'a été modifié."
        )

    def write(self, content: bytes) -> None:
        """Replace the crontab with ``content`` and check that it reads back identical."""
        result = self._run(["-"], content)
        if result.returncode != 0:
            message = result.stderr.decode("utf-8", "replace").strip()
            raise ScheduleError(
                f"« crontab » a refusé la nouvelle table ({message or f'code {result.returncode}'})"
                " : la crontab précédente est restée en place."
            )
        if self.read() != content:
            raise ScheduleError(
                "La crontab relue ne correspond pas à ce qui a été écrit : vérifiez-la avec "
                "« crontab -l »."
            )


def cron_daemon_running(proc: Path = Path("/proc")) -> bool | None:
    """Return whether a cron daemon runs on this machine (None: cannot be known here)."""
    if not proc.is_dir():
        return None
    names = {"cron", "crond", "cronie", "fcron", "dcron", "bcron-sched"}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text(encoding="utf-8", errors="replace").strip() in names:
                return True
        except OSError:
            continue
    return False


# -- proof from cron's environment -------------------------------------------------------


def cron_environment() -> dict[str, str]:
    """Return the near-empty environment cron gives a job (no session bus, no venv)."""
    user = pwd.getpwuid(os.getuid())
    return {
        "HOME": user.pw_dir,
        "LOGNAME": user.pw_name,
        "SHELL": "/bin/sh",
        "PATH": CRON_PATH,
    }


def run_as_cron(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` the way cron runs a job: its environment, no input, output captured.

    Raises :class:`subprocess.TimeoutExpired` past ``timeout`` seconds, OSError when it cannot
    be started."""
    return subprocess.run(
        argv,
        env=cron_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@dataclass(frozen=True)
class Proof:
    """What the check-mode run in cron's environment said."""

    ok: bool
    output: str


def prove(entry: Entry, timeout: float = 90.0) -> Proof:
    """Run the job's program in check mode with cron's environment."""
    try:
        result = run_as_cron(["/bin/sh", "-c", entry.preflight_command], timeout)
    except subprocess.TimeoutExpired:
        return Proof(False, f"Le contrôle n'a pas répondu en {timeout:g} s.")
    output = (result.stdout + result.stderr).strip()
    if result.returncode == 127:
        output = (
            f"Le programme est introuvable depuis cron ({entry.program[0]}). Installez "
            "tdba-wizard à un emplacement permanent (pas un dossier temporaire), puis "
            "recommencez."
        )
    return Proof(result.returncode == 0, output)


# -- services ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleStatus:
    """What ``schedule show`` reports."""

    installed: bool
    lines: list[str]
    current: bool
    """True when the installed lines are exactly the ones this program would install now."""


def status(crontab: Crontab, expected: Entry) -> ScheduleStatus:
    """Return whether the job is installed and whether it is the expected one."""
    lines = installed_lines(crontab.read())
    wanted = installed_lines(expected.block())
    return ScheduleStatus(bool(lines), lines, lines == wanted)


def install(crontab: Crontab, entry: Entry) -> bytes:
    """Install (or replace) the block; return the previous crontab, for undo."""
    before = crontab.read()
    # The shell opens the log before the program runs: the directory
    # must exist at 23:00.
    try:
        ensure_private_dir(entry.state_dir)
    except OSError as error:
        raise ScheduleError(
            f"Impossible de créer le dossier d'état {entry.state_dir} : {error.strerror}. "
            "Rien n'a été modifié."
        ) from None
    crontab.write(with_block(before, entry.block()))
    return before


def remove(crontab: Crontab) -> bool:
    """Remove the block; return False when it was not installed."""
    before = crontab.read()
    if find_block(before) is None:
        return False
    crontab.write(without_block(before))
    return True


def describe_runs(when: DailyTime, now: dt.datetime, count: int = 3) -> list[str]:
    """Return the next runs in French, in the configured zone and on the system clock."""
    system = system_zone()
    lines = []
    for run in when.next_runs(now, count):
        local = run.astimezone(system)
        lines.append(
            f"{run:%d/%m/%Y %H:%M} ({when.timezone}) = {local:%d/%m/%Y %H:%M} "
            f"(heure du système, {local.tzname()})"
        )
    return lines
