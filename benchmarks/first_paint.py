"""Benchmark of the wizard's first paint (run: python benchmarks/first_paint.py).

Starts each program in a pseudo-terminal of 80×24 and times it from its start to the first
frame that shows its first screen (the output read from the terminal, escape sequences set
aside, until a word of that screen appears): the wizard on a fresh profile (« Accueil », the
choice of TDBA), the wizard's home screen with a network of 200 establishments (keys in the
protected file), and a minimal Textual app that shows one label. Each is run 7 times,
alternately; the medians are printed with the ratio. The package is byte-compiled first, as an
installation does (Textual's own files are). Target: the wizard's first screen <= 1.5x the
minimal app.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

from common import free_port

from tdba_wizard.config import Config, Establishment, save_config
from tdba_wizard.sandbox.network import network_organismes
from tdba_wizard.secrets import SecretStore

RUNS = 7
SIZE = (24, 80)  # rows, columns
MINIMAL = """
from textual.app import App
from textual.widgets import Label

class Minimal(App):
    def compose(self):
        yield Label("Bonjour")

Minimal().run()
"""
ESCAPES = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


def first_frame(command: list[str], marker: bytes, env: dict[str, str]) -> float:
    """Seconds from the start of ``command`` in a pseudo-terminal until ``marker`` is shown."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *SIZE, 0, 0))
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
    )
    os.close(slave)
    seen = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 30)
            if not ready:
                raise SystemExit(f"no frame with {marker!r} after 30 s: {command}")
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the program stopped
                raise SystemExit(f"{command} stopped before showing {marker!r}") from None
            seen += chunk
            if marker in ESCAPES.sub(b"", seen):
                return time.perf_counter() - started
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        os.close(master)


def network_profile(root: Path, count: int) -> dict[str, str]:
    """A profile with ``count`` establishments, their keys in the protected file, and an API
    address where nothing answers (the home screen reads keys, it asks TDBA nothing)."""
    config_path = root / "config" / "tdba-wizard" / "config.toml"
    establishments = [
        Establishment(name=f"CFA n°{i}", uai=str(o["uai"]), siret=str(o["siret"]), sentite=i + 1)
        for i, o in enumerate(network_organismes(count))
    ]
    url = f"http://127.0.0.1:{free_port()}/api/"
    data = {"api": {"url": url}, "establishments": [e.model_dump() for e in establishments]}
    save_config(config_path, Config.model_validate(data))
    store = SecretStore(config_path.with_name("credentials.toml"))
    for e, o in zip(establishments, network_organismes(count), strict=True):
        store.store(e.uai, e.siret, str(o["demo_key"]), "file")
    return environment(root)


def environment(root: Path) -> dict[str, str]:
    return dict(
        os.environ,
        TERM="xterm-256color",
        COLORTERM="truecolor",
        XDG_CONFIG_HOME=str(root / "config"),
        XDG_STATE_HOME=str(root / "state"),
        XDG_DATA_HOME=str(root / "data"),
        XDG_CACHE_HOME=str(root / "cache"),
    )


def main() -> None:
    import tdba_wizard

    package = str(Path(tdba_wizard.__file__).parent)
    subprocess.run([sys.executable, "-m", "compileall", "-q", package], check=True)
    wizard = [sys.executable, "-m", "tdba_wizard"]
    with tempfile.TemporaryDirectory(prefix="tdba-paint-") as tmp:
        root = Path(tmp)
        fresh = environment(root / "fresh")
        network = network_profile(root / "network", 200)
        cases = {
            "minimal Textual app, one label": ([sys.executable, "-c", MINIMAL], b"Bonjour", fresh),
            "wizard, first screen (Accueil)": (wizard, b"Recette", fresh),
            "wizard, home of 200 establishments": (wizard, b"CFA n\xc2\xb00", network),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(RUNS):
            for name, (command, marker, env) in cases.items():
                times[name].append(first_frame(command, marker, env))
    medians = {name: statistics.median(runs) for name, runs in times.items()}
    for name, runs in times.items():
        print(
            f"{name:<38} median {medians[name]:6.3f} s "
            f"(from {min(runs):.3f} to {max(runs):.3f}, {RUNS} runs)"
        )
    base = medians["minimal Textual app, one label"]
    print(
        f"ratio first screen / minimal app: {medians['wizard, first screen (Accueil)'] / base:.2f}"
        "  (target <= 1.5)"
    )
    print(
        "ratio home of 200 / minimal app: "
        f"{medians['wizard, home of 200 establishments'] / base:.2f}"
    )


if __name__ == "__main__":
    main()
