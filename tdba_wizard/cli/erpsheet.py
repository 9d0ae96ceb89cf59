"""``tdba-wizard erp-sheet``: what to type into the ERP, establishment by establishment."""

from __future__ import annotations

import argparse
import base64
import sys

from tdba_wizard.cli.common import config_file, secret_store
from tdba_wizard.errors import ExitCode, InputError


def osc52(text: str) -> str:
    """The terminal sequence that puts ``text`` on the clipboard (works over SSH too)."""
    return f"\x1b]52;c;{base64.b64encode(text.encode('utf-8')).decode('ascii')}\a"


def cmd_erp_sheet(args: argparse.Namespace) -> int:
    from tdba_wizard.config import load_config
    from tdba_wizard.identifiers import parse_siret, parse_uai
    from tdba_wizard.operations import select
    from tdba_wizard.secrets import SecretError
    from tdba_wizard.sheet import erp_sheet

    config_path = config_file(args)
    config = load_config(config_path)
    if args.uai:
        targets = [select(config, parse_uai(args.uai), parse_siret(args.siret) if args.siret
                          else None)]  # fmt: skip
    else:
        targets = list(config.establishments)
    if not targets:
        print("Aucun établissement configuré. Ajoutez-en un avec « tdba-wizard add ».")
        return ExitCode.OK
    store = secret_store(config_path)
    keys: dict[tuple[str, str], str | None] = {}
    for establishment in targets:
        if establishment.transmission == "excel":
            continue
        try:
            keys[(establishment.uai, establishment.siret)] = store.get(
                establishment.uai, establishment.siret
            ).value
        except SecretError:
            keys[(establishment.uai, establishment.siret)] = None
    if args.copy_key:
        if len(targets) != 1:
            raise InputError(
                "--copy-key : précisez l'établissement avec --uai (une clé à la fois)."
            )
        key = keys.get((targets[0].uai, targets[0].siret))
        if key is None:
            raise InputError(
                "--copy-key : aucune clé d'échange enregistrée pour cet établissement."
            )
        if not sys.stdout.isatty():
            raise InputError(
                "--copy-key a besoin d'un terminal (la clé passe par lui vers votre "
                "presse-papiers, sans s'afficher) : elle n'est jamais écrite dans un fichier ou "
                "un tube."
            )
    print(erp_sheet(config, targets, keys), end="")
    if args.copy_key:
        sys.stdout.write(osc52(keys[(targets[0].uai, targets[0].siret)] or ""))
        sys.stdout.flush()
        print("La clé d'échange est dans votre presse-papiers (si votre terminal le permet) : "
              "collez-la dans l'ERP.")  # fmt: skip
    return ExitCode.OK
