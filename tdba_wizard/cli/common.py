"""What the command handlers share: paths, the key (stdin, a file or a variable), questions."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tdba_wizard.errors import InputError
from tdba_wizard.paths import credentials_path, default_config_path
from tdba_wizard.secrets import SecretStore


def config_file(args: argparse.Namespace) -> Path:
    path: Path | None = args.config
    return path.expanduser() if path is not None else default_config_path()


def secret_store(config_path: Path) -> SecretStore:
    return SecretStore(credentials_path(config_path))


def read_key(args: argparse.Namespace) -> str:
    from tdba_wizard.identifiers import parse_api_key

    if args.api_key_stdin:
        raw = sys.stdin.read()
    elif args.api_key_file is not None:
        try:
            raw = args.api_key_file.read_text(encoding="utf-8-sig")
        except OSError as error:
            raise InputError(
                f"Lecture impossible de {args.api_key_file} : {error.strerror}."
            ) from None
    elif args.api_key_env is not None:
        if args.api_key_env not in os.environ:
            raise InputError(f"La variable d'environnement {args.api_key_env} n'est pas définie.")
        raw = os.environ[args.api_key_env]
    elif sys.stdin.isatty():
        import getpass

        raw = getpass.getpass("Clé d'échange TDBA (collez-la ; elle ne s'affiche pas) : ")
    else:
        raise InputError(
            "Clé d'échange manquante : fournissez-la avec --api-key-stdin, --api-key-file "
            "ou --api-key-env."
        )
    return parse_api_key(raw)


def confirm(question: str, assume_yes: bool) -> bool:
    """Ask on the terminal; without one (scripts, cron) there is nobody to ask."""
    if assume_yes or not sys.stdin.isatty():
        return True
    answer = input(f"{question} [o/N] ").strip().lower()
    if answer in ("o", "oui", "y", "yes"):
        return True
    print("Abandon : rien n'a été modifié.", file=sys.stderr)
    return False
