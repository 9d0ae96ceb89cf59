"""Setting establishments up from scripts: add, remove, key, list."""

from __future__ import annotations

import argparse
import json
import re
import sys

from tdba_wizard.cli.common import (
    config_file,
    confirm,
    key_destination,
    read_key,
    secret_store,
)
from tdba_wizard.errors import ExitCode, InputError
from tdba_wizard.secrets import SecretError, StoreTarget


def cmd_add(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from tdba_wizard.config import Establishment, describe_validation_error, normalise_api_url
    from tdba_wizard.identifiers import mask_api_key
    from tdba_wizard.operations import apply_add, plan_add

    if not re.fullmatch(r"\s*\d+\s*", args.sentite) or int(args.sentite) <= 0:
        raise InputError(
            f"--sentite : « {args.sentite} » n'est pas un identifiant CFA_SENTITE valide "
            "(nombre entier positif, l'id de la fiche du centre dans l'ERP)."
        )
    try:
        establishment = Establishment(
            name=args.name,
            siret=args.siret,
            uai=args.uai,
            sentite=int(args.sentite),
            source=args.source,
        )
    except ValidationError as error:
        raise InputError("--" + " ; --".join(describe_validation_error(error))) from None
    api_url = None
    if args.api_url is not None:
        try:
            api_url = normalise_api_url(args.api_url)
        except ValueError as error:
            raise InputError(f"--api-url : {error}") from None
    config_path = config_file(args)
    plan = plan_add(config_path, establishment, api_url)
    key = read_key(args)
    store = secret_store(config_path)
    target = args.secret_store
    if args.dry_run:
        # The diff first: it is worth seeing even when the keyring turns out to be unusable.
        print("Simulation (--dry-run) : rien n'est écrit.")
        print(plan.diff, end="")
    destination = key_destination(store, target, establishment.uai, establishment.siret)
    if args.dry_run:
        print(f"Clé {mask_api_key(key)} : serait enregistrée dans le {destination}.")
        return ExitCode.OK
    if not confirm(
        f"Ajouter « {establishment.name} » (UAI {establishment.uai}, SIRET "
        f"{establishment.siret}) dans {config_path} et la clé dans le {destination} ?",
        args.yes,
    ):
        return ExitCode.FAILURE
    where = apply_add(plan, store, key, target)
    print(
        f"✔ « {establishment.name} » ajouté (UAI {establishment.uai}, SIRET "
        f"{establishment.siret}, SENTITE {establishment.sentite}) dans {config_path}."
    )
    print(f"✔ Clé {mask_api_key(key)} enregistrée dans le {where}.")
    return ExitCode.OK


def cmd_remove(args: argparse.Namespace) -> int:
    from tdba_wizard.identifiers import parse_siret, parse_uai
    from tdba_wizard.operations import apply_remove, plan_remove

    uai = parse_uai(args.uai)
    siret = parse_siret(args.siret) if args.siret else None
    config_path = config_file(args)
    plan = plan_remove(config_path, uai, siret)
    target = plan.establishment
    if args.dry_run:
        print("Simulation (--dry-run) : rien n'est écrit.")
        print(plan.diff, end="")
        print(f"La clé de l'UAI {target.uai} / SIRET {target.siret} serait supprimée.")
        return ExitCode.OK
    if not confirm(
        f"Retirer « {target.name} » (UAI {target.uai}, SIRET {target.siret}) et supprimer sa clé ?",
        args.yes,
    ):
        return ExitCode.FAILURE
    store = secret_store(config_path)
    try:
        removed = apply_remove(plan, store)
    except SecretError as error:
        print(f"✔ « {target.name} » retiré de {config_path}.")
        print(f"⚠ La clé n'a pas pu être supprimée : {error.message}", file=sys.stderr)
        return ExitCode.FAILURE
    print(f"✔ « {target.name} » retiré de {config_path}.")
    if removed:
        print(f"✔ Clé supprimée du {' et du '.join(removed)}.")
    else:
        print("Aucune clé n'était enregistrée pour cet établissement.")
    return ExitCode.OK


def cmd_list(args: argparse.Namespace) -> int:
    from tdba_wizard.config import load_config

    config_path = config_file(args)
    config = load_config(config_path)
    store = secret_store(config_path)
    rows: list[dict[str, object]] = []
    for establishment in config.establishments:
        try:
            found = store.get(establishment.uai, establishment.siret)
            key_state: dict[str, object] = {
                "found": True,
                "backend": found.backend,
                "where": found.where,
            }
        except SecretError as error:
            key_state = {"found": False, "backend": None, "where": error.message}
        rows.append({**establishment.model_dump(mode="json"), "key": key_state})
    if args.json:
        payload = {"config": str(config_path), "api_url": config.api.url, "establishments": rows}
        json.dump(payload, sys.stdout, ensure_ascii=False, indent=2)
        print()
        return ExitCode.OK
    print(f"Configuration : {config_path}")
    print(f"API TDBA : {config.api.url} (ERP : {config.api.erp})")
    if not rows:
        print("Aucun établissement configuré. Ajoutez-en un avec « tdba-wizard add ».")
        return ExitCode.OK
    for row in rows:
        key = row["key"]
        assert isinstance(key, dict)
        state = f"✔ clé : {key['where']}" if key["found"] else f"✖ clé : {key['where']}"
        print(f"\n• {row['name']}")
        print(f"  UAI {row['uai']} · SIRET {row['siret']} · SENTITE {row['sentite']}")
        if row.get("source"):
            print(f"  Export : {row['source']}")
        print(f"  {state}")
    return ExitCode.OK


def cmd_key(args: argparse.Namespace) -> int:
    from tdba_wizard.config import load_config
    from tdba_wizard.identifiers import mask_api_key, parse_siret, parse_uai
    from tdba_wizard.operations import select

    config_path = config_file(args)
    target = select(
        load_config(config_path),
        parse_uai(args.uai),
        parse_siret(args.siret) if args.siret else None,
    )
    key = read_key(args)
    store = secret_store(config_path)
    where_to = key_destination(store, args.secret_store, target.uai, target.siret)
    if args.dry_run:
        print(
            f"Simulation : la clé {mask_api_key(key)} de « {target.name} » irait dans le "
            f"{where_to}."
        )
        return ExitCode.OK
    if not confirm(
        f"Enregistrer la nouvelle clé de « {target.name} » dans le {where_to} ?", args.yes
    ):
        return ExitCode.FAILURE
    where = store.store(target.uai, target.siret, key, args.secret_store)
    print(f"✔ Clé {mask_api_key(key)} de « {target.name} » enregistrée dans le {where}.")
    other: StoreTarget = "file" if args.secret_store == "keyring" else "keyring"
    try:
        if store.delete_from(target.uai, target.siret, other):
            print("✔ L'ancienne clé a été retirée de l'autre emplacement.")
    except SecretError as error:
        print(
            f"⚠ Ancienne clé non retirée de l'autre emplacement : {error.message}", file=sys.stderr
        )
    return ExitCode.OK
