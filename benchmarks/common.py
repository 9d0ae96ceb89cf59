"""What the benchmarks share: organismes with valid identifiers, a free port, the sandbox."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tdba_wizard.identifiers import luhn_valid, uai_check_letter


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


@contextmanager
def sandbox(
    seeded: list[dict[str, object]] | None, workdir: Path, latency: int | None = None
) -> Iterator[tuple[str, int]]:
    """Serve the sandbox in its own process on 127.0.0.1 (seeded with ``seeded`` when given);
    yield its API root and its pid."""
    command = [sys.executable, "-m", "tdba_wizard", "sandbox", "--port", str(free_port())]
    if seeded is not None:
        seed = workdir / "seed.json"
        seed.write_text(json.dumps({"env": "sandbox", "organismes": seeded}), encoding="utf-8")
        command += ["--seed", str(seed)]
    if latency is not None:
        command += ["--latency", str(latency)]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()
        yield f"http://127.0.0.1:{command[5]}/api/", process.pid
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
