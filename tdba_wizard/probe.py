"""Can the nightly job reach the keyring? Asked in a child process with cron's environment.

``python -m tdba_wizard.probe`` prints one JSON object: ``{"keyring": true, "where": …}`` or
``{"keyring": false, "reason": …, "message": …}``. :func:`keyring_from_cron` runs it the way
cron would run the job (no session bus, no desktop variables), before anything is written, so
that the wizard can say where a key must live for the job to read it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

from tdba_wizard.paths import credentials_path, default_config_path
from tdba_wizard.secrets import KeyringUnavailableError, SecretStore

PROBE_TIMEOUT = 30.0


@dataclass(frozen=True)
class CronKeyring:
    """Whether the keyring answers from cron's environment, and why not."""

    reachable: bool | None
    """None: it could not be found out."""
    message: str


def keyring_from_cron(timeout: float = PROBE_TIMEOUT) -> CronKeyring:
    """Ask, from cron's environment, whether the keyring answers there."""
    from tdba_wizard.schedule import run_as_cron

    try:
        result = run_as_cron([sys.executable, "-m", "tdba_wizard.probe"], timeout)
        answer = json.loads(result.stdout)
        reachable = answer["keyring"]
        message = str(answer.get("where") if reachable else answer.get("message"))
    except (OSError, subprocess.TimeoutExpired, ValueError, KeyError, TypeError):
        return CronKeyring(
            None,
            "non vérifiable : le contrôle depuis l'environnement de cron n'a pas abouti",
        )
    return CronKeyring(bool(reachable), message)


def main() -> int:
    store = SecretStore(credentials_path(default_config_path()))
    try:
        where = store.check_keyring()
    except KeyringUnavailableError as error:
        cause = error.message.split(" Solutions : ")[0]
        print(json.dumps({"keyring": False, "reason": error.reason, "message": cause}))
    else:
        print(json.dumps({"keyring": True, "where": where}))
    sys.stdout.flush()
    # Do not wait for a keyring thread that hung (it is a daemon thread, killed on exit).
    os._exit(0)


if __name__ == "__main__":
    main()
