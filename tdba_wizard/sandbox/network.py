"""Organismes of a made-up network of CFAs, for the sandbox's seed files (tests, benchmarks)."""

from __future__ import annotations

import uuid

from tdba_wizard.identifiers import luhn_valid, uai_check_letter


def network_organismes(count: int) -> list[dict[str, object]]:
    """Return ``count`` open organismes with valid, distinct UAI and SIRET and a demo key
    each, as a seed file lists them (``{"organismes": [...]}``)."""
    result = []
    for index in range(count):
        prefix = f"{100000000 + index * 7919:09d}0001"
        siret = next(prefix + d for d in "0123456789" if luhn_valid(prefix + d))
        digits = f"{590000 + index:07d}"
        result.append({
            "siret": siret, "uai": digits + uai_check_letter(digits), "enseigne": f"CFA {index}",
            "raison_sociale": f"CFA {index}", "ferme": False, "nature": "responsable_formateur",
            "adresse": {}, "demo_key": str(uuid.UUID(int=index + 1, version=4)),
        })  # fmt: skip
    return result
