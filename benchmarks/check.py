"""Benchmark of `tdba-wizard --check` (run: python benchmarks/check.py).

Serves the sandbox in its own process with 200 ms added to every answer and 50 demo organismes,
then times `tdba-wizard --check --json` for 1 and for 50 establishments (they are checked
concurrently, so 50 should take about as long as 1), and the cold start with no network against
`python -c "import httpx, pydantic, keyring"`. Targets: 50 establishments <= 1.5x one;
cold start <= 1.5x the baseline.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from tdba_wizard.config import Config, Establishment, save_config
from tdba_wizard.identifiers import luhn_valid, uai_check_letter
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


def organismes(count: int) -> list[dict[str, object]]:
    """Return ``count`` organismes with valid identifiers and keys."""
    result = []
    for index in range(count):
        prefix = f"{100000000 + index * 7919:09d}0001"
        siret = next(prefix + d for d in "0123456789" if luhn_valid(prefix + d))
        digits = f"{590000 + index:07d}"
        result.append({
            "siret": siret, "uai": digits + uai_check_letter(digits), "enseigne": f"CFA {index}",
            "raison_sociale": f"CFA {index}", "ferme": False, "nature": "responsable_formateur",
            "adresse": {}, "demo_key": str(uuid.UUID(int=index + 1, version=4)),
        })  # fmt: skip
    return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def profile(root: Path, url: str, seeded: list[dict[str, object]], count: int) -> dict[str, str]:
    """Write a config (and a 0600 key file) for the first ``count`` organismes."""
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
        store.store(str(o["uai"]), str(o["siret"]), str(o["demo_key"]), "file")
    return env


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, capture_output=True, check=False)
    return time.perf_counter() - started


def median(command: list[str], env: dict[str, str]) -> float:
    return statistics.median(timed(command, env) for _ in range(RUNS))


def main() -> None:
    check = [sys.executable, "-m", "tdba_wizard", "--check", "--json"]
    with tempfile.TemporaryDirectory(prefix="tdba-check-bench-") as tmp:
        root = Path(tmp)
        seeded = organismes(50)
        seed = root / "seed.json"
        seed.write_text(json.dumps({"env": "sandbox", "organismes": seeded}), encoding="utf-8")
        port = free_port()
        sandbox = subprocess.Popen(
            [sys.executable, "-m", "tdba_wizard", "sandbox", "--port", str(port),
             "--seed", str(seed), "--latency", "200"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        try:
            assert sandbox.stdout is not None
            sandbox.stdout.readline()
            url = f"http://127.0.0.1:{port}/api/"
            one = median(check, profile(root / "one", url, seeded, 1))
            fifty = median(check, profile(root / "fifty", url, seeded, 50))
            result = subprocess.run(check, env=profile(root / "fifty", url, seeded, 50),
                                    capture_output=True, text=True, check=False)  # fmt: skip
            accepted = sum(
                c["code"] == "key_accepted" and c["status"] == "OK"
                for e in json.loads(result.stdout)["establishments"]
                for c in e["checks"]
            )
        finally:
            sandbox.send_signal(signal.SIGINT)
            sandbox.wait(timeout=30)
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
    print(f"ratio 50/1: {fifty / one:.2f}  (target <= 1.5)")
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
