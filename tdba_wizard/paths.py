"""Where the tool keeps its files (platform directories, overridable for tests and scripts)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "tdba-wizard"
CONFIG_ENV = "TDBA_WIZARD_CONFIG"
STATE_ENV = "TDBA_WIZARD_STATE_DIR"


def config_dir() -> Path:
    """Return the per-user configuration directory (moved by ``XDG_CONFIG_HOME`` on Linux)."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def state_dir() -> Path:
    """Return the state directory (last results, logs, unsent batches); ``$TDBA_WIZARD_STATE_DIR``
    overrides the platform default, so the nightly job and the session agree on it."""
    override = os.environ.get(STATE_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_state_dir(APP_NAME, appauthor=False))


def default_config_path() -> Path:
    """Return the config file path: ``$TDBA_WIZARD_CONFIG`` if set, else the platform default."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser()
    return config_dir() / "config.toml"


def credentials_path(config_path: Path) -> Path:
    """Return the explicit-choice credentials file that sits beside the config file."""
    return config_path.with_name("credentials.toml")
