"""Benchmark of `tdba-wizard --check` (run: python benchmarks/check.py).

Serves the sandbox in its own process with 200 ms added to every answer and 50 demo organismes,
then times `tdba-wizard --check --json` for 1 and for 50 establishments (they are checked
concurrently and their keys read in one go, so 50 should take about as long as 1; the median
of the runs after the first, which fills the hour-long cache of TDBA's answers on the
establishments, as monitoring every few minutes does; the first run is printed too), with the keys
in the protected file, then with the keys in a real Secret Service (gnome-keyring, unlocked, on
the private bus of a `dbus-run-session`); and the cold start with no network against
`python -c "import httpx, pydantic, keyring"`. Targets: 50 establishments <= 1.2x one, for both
stores; cold start <= 1.5x the baseline.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal

from common import free_port, sandbox

from tdba_wizard.config import Config, Establishment, save_config
from tdba_wizard.sandbox.network import network_organismes
from tdba_wizard.secrets import SecretStore

RUNS = 5
# The smallest program on this stack that does what --check must: validate one pydantic model
# and make one async httpx request (refused here). Printed to show how far the baseline,
# which imports the packages but uses none of them, is from what any such program costs.
FLOOR = """
import asyncio, sys, httpx
from pydantic import BaseModel
class Settings(BaseModel):
    url: str
    count: int = 1
Settings.model_validate({"url": sys.argv[1]})
async def main():
    async with httpx.AsyncClient() as client:
        try:
            await client.get(sys.argv[1])
        except httpx.HTTPError:
            pass
asyncio.run(main())
"""


def profile(
    root: Path,
    url: str,
    seeded: list[dict[str, object]],
    count: int,
    target: Literal["file", "keyring"] = "file",
) -> dict[str, str]:
    """Write a config, and the keys of the first ``count`` organismes in ``target``."""
    env = dict(os.environ, XDG_CONFIG_HOME=str(root / "config"), XDG_STATE_HOME=str(root / "state"))
    config_path = root / "config" / "tdba-wizard" / "config.toml"
    chosen = seeded[:count]
    establishments = [
        Establishment(
            name=str(o["enseigne"]), uai=str(o["uai"]), siret=str(o["siret"]), sentite=i + 1
        )
        for i, o in enumerate(chosen)
    ]
    data = {"api": {"url": url}, "establishments": [e.model_dump() for e in establishments]}
    save_config(config_path, Config.model_validate(data))
    store = SecretStore(config_path.with_name("credentials.toml"))
    for o in chosen:
        store.store(str(o["uai"]), str(o["siret"]), str(o["demo_key"]), target)
    return env


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, capture_output=True, check=False)
    return time.perf_counter() - started


def median(command: list[str], env: dict[str, str]) -> float:
    return statistics.median(timed(command, env) for _ in range(RUNS))


def first_then_median(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """The first run (TDBA asked about every establishment: the hour-long cache is empty),
    then the median of the next ones (monitoring every few minutes: keys asked, look-ups
    from the cache)."""
    first = timed(command, env)
    return first, median(command, env)


CHECK = [sys.executable, "-m", "tdba_wizard", "--check", "--json"]


def accepted_keys(env: dict[str, str]) -> int:
    result = subprocess.run(CHECK, env=env, capture_output=True, text=True, check=False)
    return sum(
        c["code"] == "key_accepted" and c["status"] == "OK"
        for e in json.loads(result.stdout)["establishments"]
        for c in e["checks"]
    )


def keyring_case(url: str, seed: Path, root: Path) -> None:
    """Inside ``dbus-run-session``: start gnome-keyring on this bus, store the keys in it, time
    --check for 1 and 50 establishments; print the figures as JSON."""
    home = root / "home"
    (home / "run").mkdir(parents=True, mode=0o700)
    os.environ.update(HOME=str(home), XDG_DATA_HOME=str(home / "share"),
                      XDG_RUNTIME_DIR=str(home / "run"))  # fmt: skip
    subprocess.run(
        ["gnome-keyring-daemon", "--unlock", "--components=secrets", "--daemonize"],
        input="jetable-pour-le-banc\n", capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    seeded = json.loads(seed.read_text(encoding="utf-8"))["organismes"]
    one_env = profile(root / "one", url, seeded, 1, "keyring")
    fifty_env = profile(root / "fifty", url, seeded, 50, "keyring")
    probe = subprocess.run(
        [sys.executable, "-c", "import keyring; print(type(keyring.get_keyring()).__module__)"],
        env=fifty_env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    _, one = first_then_median(CHECK, one_env)
    _, fifty = first_then_median(CHECK, fifty_env)
    figures = {"backend": probe, "one": one, "fifty": fifty, "accepted": accepted_keys(fifty_env)}
    print(json.dumps(figures))


def main() -> None:
    if sys.argv[1:2] == ["--keyring-case"]:
        keyring_case(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
        return
    check = CHECK
    with tempfile.TemporaryDirectory(prefix="tdba-check-bench-") as tmp:
        root = Path(tmp)
        seeded = network_organismes(50)
        seed = root / "seed.json"
        with sandbox(seeded, root, latency=200) as (url, _):
            one_first, one = first_then_median(check, profile(root / "one", url, seeded, 1))
            fifty_first, fifty = first_then_median(check, profile(root / "fifty", url, seeded, 50))
            accepted = accepted_keys(profile(root / "fifty", url, seeded, 50))
            inner = subprocess.run(
                ["dbus-run-session", "--", sys.executable, __file__, "--keyring-case", url,
                 str(seed), str(root / "keyring")],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if inner.returncode != 0:
                raise SystemExit(f"keyring case failed:\n{inner.stderr}")
            in_keyring = json.loads(inner.stdout.strip().splitlines()[-1])
        refused = f"http://127.0.0.1:{free_port()}/api/"
        offline = profile(root / "offline", refused, seeded, 1)
        cold = median(check, offline)
        baseline = median([sys.executable, "-c", "import httpx, pydantic, keyring"], offline)
        floor = median([sys.executable, "-c", FLOOR, refused], offline)
    print(f"--check, 1 establishment (200 ms latency):   {one:6.3f} s")
    print(
        f"--check, 50 establishments (200 ms latency): {fifty:6.3f} s"
        f"  ({accepted}/50 keys accepted)"
    )
    print(f"ratio 50/1, keys in the protected file: {fifty / one:.2f}  (target <= 1.2)")
    print(
        f"first run (every establishment looked up in TDBA, cache empty): 1: {one_first:.3f} s, "
        f"50: {fifty_first:.3f} s, ratio {fifty_first / one_first:.2f}"
    )
    print(f"--check, keys in a real Secret Service ({in_keyring['backend']}):")
    print(f"  1 establishment:   {in_keyring['one']:6.3f} s")
    print(f"  50 establishments: {in_keyring['fifty']:6.3f} s  ({in_keyring['accepted']}/50 keys "
          "accepted)")  # fmt: skip
    print(f"ratio 50/1, keys in the keyring: {in_keyring['fifty'] / in_keyring['one']:.2f}  "
          "(target <= 1.2)")  # fmt: skip
    print(
        f"cold start, no network: {cold:6.3f} s; "
        f"baseline import httpx, pydantic, keyring: {baseline:6.3f} s"
    )
    print(f"ratio cold/baseline: {cold / baseline:.2f}  (target <= 1.5)")
    print(
        f"stack floor (one pydantic model + one async httpx request): {floor:6.3f} s, "
        f"{floor / baseline:.2f}x the baseline; --check is {cold / floor:.2f}x the floor"
    )


if __name__ == "__main__":
    main()
