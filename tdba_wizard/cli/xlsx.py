"""``tdba-wizard xlsx``: the export, as TDBA's Excel import template."""

from __future__ import annotations

import argparse

from tdba_wizard.cli.common import config_file
from tdba_wizard.errors import InputError

CRITICAL = 2


def cmd_xlsx(args: argparse.Namespace) -> int:
    from tdba_wizard.config import load_config
    from tdba_wizard.identifiers import parse_siret, parse_uai
    from tdba_wizard.nightly.excel import write_template
    from tdba_wizard.nightly.exports import Findings, SourceError
    from tdba_wizard.nightly.later import Later
    from tdba_wizard.nightly.reading import Tally, read_and_validate
    from tdba_wizard.nightly.report import _reason_lines
    from tdba_wizard.operations import select
    from tdba_wizard.text import clean

    config = load_config(config_file(args))
    establishment = select(
        config, parse_uai(args.uai), parse_siret(args.siret) if args.siret else None
    )
    source = args.source or establishment.source_path()
    if source is None:
        raise InputError(
            f"« {establishment.name} » n'a pas d'export (« source ») : indiquez le fichier de "
            "l'ERP avec --source, ou dans la configuration."
        )
    tally, findings = Tally(), Findings()
    records = []
    later = Later((establishment.uai, establishment.siret))
    try:
        for block, _ in read_and_validate(source, tally, findings, later):
            records += block
    except SourceError as error:
        print(f"✖ {clean(error.message, 500)}")
        return CRITICAL
    for line, reason, erp_id in findings.rejected:
        tally.refuse(line, reason, erp_id)
    findings.finish()
    try:
        written = write_template(records, args.out)
    except OSError as error:
        raise InputError(f"Écriture impossible de {args.out} : {error.strerror}.") from None
    print(f"Export : {clean(source, 500)}")
    for problem in findings.header:
        print(f"⚠ {clean(problem, 500)}")
    print(f"Lignes lues : {tally.rows_read} ; écartées (refusées par les règles de TDBA) : "
          f"{tally.rejected} ; écrites : {written.rows}")  # fmt: skip
    for reason in _reason_lines(tally.reasons):
        print(reason)
    if written.not_carried:
        names = ", ".join(sorted(written.not_carried))
        print(
            f"⚠ Sans colonne dans le modèle Excel de TDBA, donc non repris : {names} (TDBA "
            "déduit le statut des dates de contrat, de rupture, de formation et d'exclusion)."
        )
    for path in written.files:
        print(f"✔ {path} (feuille « Modèle », 2 000 lignes au plus, lisible par vous seul)")
    print(
        "À téléverser dans TDBA, connecté avec le compte de l'établissement : Mes effectifs > "
        "« Ajouter via fichier Excel » (un fichier à la fois)."
    )
    if not written.rows:
        return CRITICAL
    return 1 if tally.rejected or findings.header else 0
