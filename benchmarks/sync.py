"""Benchmark of `tdba-wizard sync` end to end against the sandbox (run: python benchmarks/sync.py).

Generates N valid records (realistic field mix, one to three contracts) as a CSV export, serves
the sandbox in its own process on 127.0.0.1, runs `tdba-wizard sync` as a separate process and
prints records/s and the peak RSS of the sync process, for 10 000 and 100 000 records by
default, each size three times (these machines are noisy) with the median. Then a network of
CFAs: 50 establishments of 2 000 records each (each its own key and export), against the
largest size. Targets on 2-core machines: >= 20 000 records/s, peak RSS <= 150 MB at 100 000,
time per record not growing with N, and 50 x 2 000 <= 1.3x one establishment of 100 000.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import sandbox

from tdba_wizard.config import Config, Establishment, save_config
from tdba_wizard.sandbox.network import network_organismes
from tdba_wizard.secrets import SecretStore

FIRST = ["Léa", "Lucas", "Zoé", "Hugo", "Chloé", "Louis", "Inès", "Jules", "Manon", "Nathan"]
LAST = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand"]
COLUMNS = [
    "nom_apprenant *", "prenom_apprenant *", "date_de_naissance_apprenant *", "sexe_apprenant *",
    "email_contact *", "adresse_apprenant *", "code_postal_apprenant *", "tel_apprenant",
    "ine_apprenant", "rqth_apprenant", "etablissement_responsable_uai *",
    "etablissement_responsable_siret *", "etablissement_formateur_uai *",
    "etablissement_formateur_siret *", "annee_scolaire *", "annee_formation *",
    "formation_rncp *", "formation_cfd", "date_inscription_formation *",
    "date_entree_formation *", "date_fin_formation *", "duree_theorique_formation_mois *",
    "libelle_court_formation", "statut_apprenant", "id_erp_apprenant",
    "contrat_date_debut **", "contrat_date_fin **", "siret_employeur **",
    "contrat_date_rupture **", "cause_rupture_contrat", "contrat_date_debut_2",
    "contrat_date_fin_2", "siret_employeur_2", "contrat_date_debut_3", "contrat_date_fin_3",
]  # fmt: skip


def ascii_name(name: str) -> str:
    """Return a name as it goes into an e-mail address (TDBA refuses accented addresses)."""
    import unicodedata

    return unicodedata.normalize("NFKD", name.lower()).encode("ascii", "ignore").decode()


def generate(path: Path, count: int, uai: str, siret: str, seed: int = 2026) -> None:
    """Write ``count`` valid records of the establishment ``uai``/``siret`` as a `;` separated
    UTF-8 CSV."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(COLUMNS)
        for index in range(count):
            # Each learner once: the same (nom, prénom, naissance) twice would be a duplicate.
            first, family = rng.choice(FIRST), rng.choice(LAST)
            last = f"{family} {index}"
            contracts = rng.randint(1, 3)
            row = [
                last, first,
                f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(1998, 2008)}",
                rng.choice("MF"), f"{ascii_name(first)}.{ascii_name(family)}{index}@exemple.fr",
                f"{rng.randint(1, 120)} rue des Écoles", f"{rng.randint(1000, 95999):05d}",
                f"06{rng.choice('0124578')}{rng.randint(0, 9999999):07d}",
                f"{rng.randint(10**9, 10**10 - 1)}A",
                rng.choice(["OUI", "NON"]), uai, siret, uai, siret, "2025-2026",
                str(rng.randint(1, 3)), f"RNCP{rng.randint(10000, 39999)}", "32033422",
                "01/07/2025", "01/09/2025", "30/06/2027", "24", "BTS MCO", "3", f"E{index}",
                "01/09/2025", "31/08/2027", "77937827200016",
                "", "",
                "01/09/2024" if contracts > 1 else "", "31/08/2025" if contracts > 1 else "",
                "13002526500013" if contracts > 1 else "",
                "01/09/2023" if contracts > 2 else "", "31/08/2024" if contracts > 2 else "",
            ]  # fmt: skip
            writer.writerow(row)


def cpu_seconds(pid: int) -> float:
    """Return the CPU time a running process has used (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def profile(
    root: Path, url: str, chosen: list[dict[str, object]], exports: list[Path]
) -> dict[str, str]:
    """Write a config of the ``chosen`` organismes, each with its export, and their keys in the
    protected file; return the environment that uses it."""
    env = dict(os.environ, XDG_CONFIG_HOME=str(root / "config"), XDG_STATE_HOME=str(root / "state"))
    config_path = root / "config" / "tdba-wizard" / "config.toml"
    establishments = [
        Establishment(
            name=str(o["enseigne"]),
            uai=str(o["uai"]),
            siret=str(o["siret"]),
            sentite=i + 1,
            source=str(export),
        )
        for i, (o, export) in enumerate(zip(chosen, exports, strict=True))
    ]
    data = {"api": {"url": url}, "establishments": [e.model_dump() for e in establishments]}
    save_config(config_path, Config.model_validate(data))
    store = SecretStore(config_path.with_name("credentials.toml"))
    for o in chosen:
        store.store(str(o["uai"]), str(o["siret"]), str(o["demo_key"]), "file")
    return env


def run_once(
    seeded: list[dict[str, object]], establishments: int, count: int, workdir: Path
) -> tuple[float, int, str, float, float]:
    """Sync ``establishments`` establishments of ``count`` records each; return (seconds, peak
    RSS in bytes, report line, sync CPU s, sandbox CPU s)."""
    chosen = seeded[:establishments]
    exports = []
    for index, o in enumerate(chosen):
        export = workdir / f"export-{count}-{index}.csv"
        if not export.exists():
            generate(export, count, str(o["uai"]), str(o["siret"]), seed=2026 + index)
        exports.append(export)
    with sandbox(seeded, workdir) as (url, sandbox_pid):
        root = Path(tempfile.mkdtemp(prefix=f"profile-{establishments}x{count}-", dir=workdir))
        env = profile(root, url, chosen, exports)
        sandbox_cpu = cpu_seconds(sandbox_pid)
        started = time.perf_counter()
        job = subprocess.Popen(
            [sys.executable, "-m", "tdba_wizard", "sync"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        # wait4 gives the resource usage of this child alone (not of the sandbox).
        _, status, usage = os.wait4(job.pid, 0)
        elapsed = time.perf_counter() - started
        sandbox_cpu = cpu_seconds(sandbox_pid) - sandbox_cpu
        out = job.stdout.read().decode() if job.stdout else ""
        job.returncode = os.waitstatus_to_exitcode(status)
        if job.returncode != 0:
            raise SystemExit(f"sync failed ({job.returncode}):\n{out}")
        lines = [line.strip() for line in out.splitlines()]
        summary = next(
            (line for line in lines if line.startswith("Au total")),  # several establishments
            next((line for line in lines if line.startswith("Envoyées")), ""),
        )
        cpu = usage.ru_utime + usage.ru_stime
        return elapsed, usage.ru_maxrss * 1024, summary, cpu, sandbox_cpu


def measure(
    seeded: list[dict[str, object]], establishments: int, count: int, repeat: int, workdir: Path
) -> float:
    """Run a case ``repeat`` times, print each run and the median; return the median seconds."""
    total = establishments * count
    label = f"{count:>7}" if establishments == 1 else f"{establishments} x {count}"
    runs = []
    for _ in range(repeat):
        seconds, rss, summary, cpu, sandbox_cpu = run_once(seeded, establishments, count, workdir)
        runs.append((seconds, rss))
        print(
            f"{label} records: {seconds:6.2f} s, {total / seconds:8.0f} records/s, "
            f"{seconds / total * 1e6:6.1f} µs/record, peak RSS {rss / 2**20:6.1f} MB; "
            f"CPU: sync {cpu:5.2f} s, sandbox {sandbox_cpu:5.2f} s  [{summary}]"
        )
    seconds = statistics.median(s for s, _ in runs)
    rates = sorted(total / s for s, _ in runs)
    print(
        f"{label} records, median of {len(runs)}: {total / seconds:8.0f} records/s "
        f"(from {rates[0]:.0f} to {rates[-1]:.0f}), "
        f"peak RSS at most {max(r for _, r in runs) / 2**20:.1f} MB"
    )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per size (the machine is noisy): median kept"
    )
    parser.add_argument(
        "--network", type=int, nargs=2, default=[50, 2_000], metavar=("ETABLISSEMENTS", "N"),
        help="the network case: establishments x records each (0 0: skipped)",
    )  # fmt: skip
    args = parser.parse_args()
    establishments, each = args.network
    seeded = network_organismes(max(1, establishments))
    with tempfile.TemporaryDirectory(prefix="tdba-bench-") as tmp:
        medians = [
            (count, measure(seeded, 1, count, args.repeat, Path(tmp))) for count in args.sizes
        ]
        if len(medians) > 1:
            (first, first_s), (last, last_s) = medians[0], medians[-1]
            print(f"time per record, largest/smallest N: {(last_s / last) / (first_s / first):.2f}")
        if establishments and each:
            network = measure(seeded, establishments, each, args.repeat, Path(tmp))
            last, last_s = medians[-1]
            print(
                f"{establishments} x {each} records vs one establishment of {last}: "
                f"{network / last_s:.2f}"
                + ("" if establishments * each == last else " (not the same number of records)")
            )
        print(
            "targets: >= 20000 records/s; peak RSS <= 150 MB at 100000; ratio ~1.0; network <= 1.3"
        )


if __name__ == "__main__":
    main()
