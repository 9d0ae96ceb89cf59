"""Small loopback servers for failure cases: self-signed TLS, HTML answers, a failing proxy."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .secret_service import require


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """Create a throwaway self-signed certificate for 127.0.0.1 with the openssl binary."""
    require("openssl")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            shutil.which("openssl") or "openssl",
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


def free_port() -> int:
    """Return a loopback port on which nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def html_server() -> Iterator[str]:
    """Serve an HTML page on every path (a captive portal or a wrong URL); yield its root."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _page(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            payload = b"<html><body>Portail captif</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _page

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def refusing_proxy() -> Iterator[str]:
    """A proxy that answers 502 to every CONNECT; yield its URL."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_CONNECT(self) -> None:
            self.send_response(502, "Bad Gateway")
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def as_in_a_terminal() -> None:
    """Ctrl+C as in a terminal, even when the tests run where SIGINT is ignored (a job started
    in the background by a script): the sandbox then gets its KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def sandbox_command(
    *options: str, stderr: int = subprocess.PIPE
) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """``tdba-wizard sandbox OPTIONS`` in its own process, as a user runs it (Ctrl+C stops
    it): yields the process and what it printed up to « Ctrl+C … » (ready); killed on the way
    out if it still runs."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tdba_wizard", "sandbox", *options],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        preexec_fn=as_in_a_terminal,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline()]
        while not lines[-1].startswith("Ctrl+C") and lines[-1] and len(lines) < 50:
            lines.append(process.stdout.readline())
        yield process, lines
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
