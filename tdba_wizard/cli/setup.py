"""Setting establishments up from scripts: add, remove, key, list.

Each command makes a plan (:mod:`tdba_wizard.operations`), prints it, asks (in a terminal,
unless ``--yes``) and applies it; ``--dry-run`` prints the same plan and stops there.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import TYPE_CHECKING

from tdba_wizard.cli.common import config_file, confirm, read_key, secret_store
from tdba_wizard.errors import ExitCode, InputError
from tdba_wizard.secrets import SecretError

if TYPE_CHECKING:
    from tdba_wizard.operations import Plan
    from tdba_wizard.secrets import SecretStore


def _run_plan(plan: Plan, store: SecretStore, args: argparse.Namespace) -> int:
    """Print the plan; apply it unless --dry-run or a "no" at the question."""
    from tdba_wizard.operations import apply

    if args.dry_run:
        print("Simulation (--dry-run) : rien n'est écrit. Ce qui serait fait :")
        print(plan.text)
        return ExitCode.OK
    if not plan.keys and not plan.changes_config:
        print(plan.text)
        return ExitCode.OK
    print(plan.text)
    if not confirm(f"{plan.title} ?", args.yes):
        return ExitCode.FAILURE
    for line in apply(plan, store):
        print(f"✔ {line}")
    print(f"✔ {plan.done}")
    return ExitCode.OK


def cmd_add(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from tdba_wizard import erps
    from tdba_wizard.config import (
        Establishment,
        Transmission,
        check_erp,
        describe_validation_error,
        normalise_api_url,
    )
    from tdba_wizard.operations import load_existing, plan_add, refuse_duplicate

    sentite = None
    if args.sentite is not None:
        if not re.fullmatch(r"\s*\d+\s*", args.sentite) or int(args.sentite) <= 0:
            raise InputError(
                f"--sentite : « {args.sentite} » n'est pas un identifiant CFA_SENTITE valide "
                "(nombre entier positif, l'id de la fiche du centre dans Ammon)."
            )
        sentite = int(args.sentite)
    config_path = config_file(args)
    existing = load_existing(config_path)  # a malformed file or a duplicate: before the key
    try:
        erp_id = check_erp(args.erp) if args.erp is not None else None
    except ValueError as error:
        raise InputError(f"--erp : {error}") from None
    erp = erps.get(erp_id or (existing.api.erp if existing is not None else erps.AMMON))
    transmission: Transmission = args.transmission or ("export" if erp.api else "excel")
    if transmission == "erp" and not erp.api:
        raise InputError(
            f"--transmission erp : {erp.name} ne transmet pas par l'API de TDBA ; choisissez "
            "« export » (tdba-wizard envoie depuis son export) ou « excel »."
        )
    if erp.needs_sentite and sentite is None:
        raise InputError(
            "--sentite : obligatoire pour Ammon (l'id de la fiche entreprise du CFA dans Ammon, "
            "que la liaison TDBA d'Ammon demande)."
        )
    try:
        establishment = Establishment(
            name=args.name,
            siret=args.siret,
            uai=args.uai,
            sentite=sentite,
            source=args.source,
            erp=erp_id,
            transmission=transmission,
        )
    except ValidationError as error:
        raise InputError("--" + " ; --".join(describe_validation_error(error))) from None
    api_url = None
    if args.api_url is not None:
        try:
            api_url = normalise_api_url(args.api_url)
        except ValueError as error:
            raise InputError(f"--api-url : {error}") from None
    if existing is not None:
        refuse_duplicate(existing, establishment)  # before a key is asked for
    key = None if transmission == "excel" else read_key(args)
    store = secret_store(config_path)
    plan = plan_add(
        config_path,
        establishment,
        key=key,
        target=args.secret_store or "keyring",
        store=store,
        api_url=api_url,
    )
    return _run_plan(plan, store, args)


def cmd_remove(args: argparse.Namespace) -> int:
    from tdba_wizard.identifiers import parse_siret, parse_uai
    from tdba_wizard.operations import plan_remove

    uai = parse_uai(args.uai)
    siret = parse_siret(args.siret) if args.siret else None
    config_path = config_file(args)
    store = secret_store(config_path)
    plan = plan_remove(config_path, uai, siret, store=store)
    code = _run_plan(plan, store, args)
    [key_plan] = plan.keys
    if code == ExitCode.OK and not args.dry_run and key_plan.before.keyring_problem:
        from tdba_wizard.secrets import SERVICE, entry_name

        why = key_plan.before.keyring_problem.split(" Solutions :")[0]  # theirs are for reading
        entry = entry_name(key_plan.establishment.uai, key_plan.establishment.siret)
        print(
            f"⚠ Trousseau non vérifié : {why} S'il gardait une copie de la clé, elle y est "
            f"restée : depuis la session de bureau, effacez l'entrée {entry} du service "
            f"{SERVICE} (« Mots de passe et clés », ou « secret-tool clear service {SERVICE} "
            f"username {entry} »).",
            file=sys.stderr,
        )
        return ExitCode.FAILURE
    return code


def cmd_key(args: argparse.Namespace) -> int:
    from tdba_wizard.config import load_config
    from tdba_wizard.identifiers import parse_siret, parse_uai
    from tdba_wizard.operations import plan_edit, plan_move_key, select

    config_path = config_file(args)
    establishment = select(
        load_config(config_path),
        parse_uai(args.uai),
        parse_siret(args.siret) if args.siret else None,
    )
    store = secret_store(config_path)
    if args.move_to is not None:
        plan = plan_move_key(config_path, establishment, args.move_to, store=store)
    else:
        key = read_key(args)
        plan = plan_edit(
            config_path, establishment, establishment, store=store, key=key,
            target=args.secret_store,
        )  # fmt: skip
    return _run_plan(plan, store, args)


def cmd_list(args: argparse.Namespace) -> int:
    from tdba_wizard import erps
    from tdba_wizard.config import load_config

    config_path = config_file(args)
    config = load_config(config_path)
    store = secret_store(config_path)
    rows: list[dict[str, object]] = []
    with store.reading_many([(e.uai, e.siret) for e in config.establishments]):  # one read
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
            copies = store.copies(establishment.uai, establishment.siret)
            key_state["copies"] = copies.places
            key_state["copies_differ"] = copies.differ
            rows.append({**establishment.model_dump(mode="json"), "erp_id":
                         config.erp_of(establishment), "key": key_state})  # fmt: skip
    if args.json:
        payload = {"config": str(config_path), "api_url": config.api.url, "establishments": rows}
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
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
        sentite = f" · SENTITE {row['sentite']}" if row.get("sentite") is not None else ""
        print(f"  UAI {row['uai']} · SIRET {row['siret']}{sentite}")
        erp = erps.get(str(row["erp_id"]))
        how = {"export": "tdba-wizard, depuis l'export", "erp": f"{erp.name} lui-même",
               "excel": "import du modèle Excel"}[str(row["transmission"])]  # fmt: skip
        print(f"  ERP : {erp.name} · envoi : {how}")
        if row.get("source"):
            print(f"  Export : {row['source']}")
        print(f"  {state}")
        if key["copies_differ"]:
            print(
                "  ✖ deux clés différentes, dans le trousseau et dans le fichier protégé : "
                "votre session et la tâche de nuit n'utilisent pas la même. Enregistrez la "
                f"bonne : « tdba-wizard key --uai {row['uai']} --api-key-stdin »."
            )
        elif len(key["copies"]) > 1:
            print(
                "  ⚠ la même clé est aussi dans le fichier protégé : « tdba-wizard key "
                f"--uai {row['uai']} --move-to file » (ou keyring) n'en garde qu'une."
            )
    return ExitCode.OK
