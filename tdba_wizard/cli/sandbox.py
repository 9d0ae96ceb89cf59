"""Serving the sandbox API on loopback."""

from __future__ import annotations

import argparse
import signal
import sys

from tdba_wizard.errors import ExitCode, TdbaError


def cmd_sandbox(args: argparse.Namespace) -> int:
    from tdba_wizard.sandbox import RateLimit, Sandbox

    try:
        sandbox = Sandbox(seed=args.seed, host=args.host, port=args.port, verbose=args.verbose)
    except OSError as error:
        raise TdbaError(
            f"Impossible d'écouter sur {args.host}:{args.port} ({error.strerror}) : le port est "
            "peut-être déjà pris ; essayez --port 0 pour un port libre.",
            title="Bac à sable",
        ) from None
    except (ValueError, KeyError, TypeError) as error:
        raise TdbaError(f"Fichier de données invalide : {error}", title="Bac à sable") from None
    sandbox.latency = max(0.0, args.latency) / 1000
    if args.rate_limit:
        sandbox.rate_limit = RateLimit()
    print(f"Bac à sable TDBA à l'écoute : {sandbox.url}", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print("⚠ Écoute au-delà de ce poste : les clés de démonstration sont publiques.")
    print("Établissements de démonstration (clés fictives, valables ici seulement) :")
    for organisme in sandbox.organismes:
        closed = " — FERMÉ" if organisme.ferme else ""
        print(f"  • {organisme.enseigne}{closed}")
        print(f"    UAI {organisme.uai} · SIRET {organisme.siret} · nature {organisme.nature}")
        print(f"    clé de démonstration : {organisme.demo_key}")
    first = sandbox.organismes[0]
    print(
        f"Essai, dans un autre terminal (la clé est demandée sans s'afficher) :\n"
        f'  tdba-wizard add --name "{first.enseigne}" --uai {first.uai} --siret {first.siret} '
        f"--sentite 1 --api-url {sandbox.url}"
    )
    print("Ctrl+C (ou SIGTERM) pour arrêter.", flush=True)

    def stop_on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # the same way out as Ctrl+C: --dump is written

    previous = signal.signal(signal.SIGTERM, stop_on_term)
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sandbox.stop()
        if args.dump is not None:
            try:
                sandbox.dump(args.dump)
                print(f"Dossiers reçus écrits dans {args.dump} (lisible par vous seul).")
            except OSError as error:
                print(f"✖ Dossiers reçus non écrits dans {args.dump} : {error.strerror}.",
                      file=sys.stderr)  # fmt: skip
    print("Bac à sable arrêté.", flush=True)
    return ExitCode.OK
