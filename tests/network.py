"""A network of CFAs for the tests: a sandbox that knows its organismes, and its configuration."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tdba_wizard.config import Config, Establishment, save_config
from tdba_wizard.paths import credentials_path
from tdba_wizard.sandbox import Sandbox
from tdba_wizard.sandbox.network import network_organismes
from tdba_wizard.secrets import SecretStore

TOWNS = ("Amiens", "Paris 11e", "Lyon", "Évry", "Saint-Étienne", "Lille", "Besançon", "Nîmes")


def excel(index: int) -> bool:
    return index % 50 == 7


def erp_sends(index: int) -> bool:
    return index % 10 == 3 and not excel(index)


def keyless(index: int) -> bool:
    """No key stored (an Excel establishment has none either)."""
    return index % 37 == 5


@contextmanager
def network_sandbox(root: Path, count: int, port: int = 0) -> Iterator[Sandbox]:
    """The sandbox, knowing ``count`` organismes of a network (their demo keys accepted)."""
    seed = root / "network-seed.json"
    seed.write_text(json.dumps({"organismes": network_organismes(count)}), encoding="utf-8")
    with Sandbox(seed=seed, port=port) as server:
        yield server


def save_network(config_path: Path, sandbox: Sandbox) -> list[Establishment]:
    """Write the configuration of every organisme of the sandbox: Ammon sent from an export,
    one in ten sent by its ERP (Ymag), one in fifty by the Excel template; store each key
    (in the keyring of the test) but for one in 37."""
    establishments = []
    store = SecretStore(credentials_path(config_path))
    for index, organisme in enumerate(sandbox.organismes):
        transmission = "excel" if excel(index) else "erp" if erp_sends(index) else "export"
        establishments.append(
            Establishment(
                name=f"CFA {TOWNS[index % len(TOWNS)]} n°{index}",
                uai=organisme.uai,
                siret=organisme.siret,
                sentite=1000 + index,
                transmission=transmission,
                erp="ymag" if transmission == "erp" else None,
            )
        )
        if transmission != "excel" and not keyless(index):
            store.store(organisme.uai, organisme.siret, organisme.demo_key)
    data = {"api": {"url": sandbox.url}, "establishments": [e.model_dump() for e in establishments]}
    save_config(config_path, Config.model_validate(data))
    return establishments
