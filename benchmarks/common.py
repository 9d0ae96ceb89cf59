"""What the benchmarks share: a free port, the sandbox in its own process."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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
