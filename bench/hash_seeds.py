"""Determinism check: the same refresh under many Python hash seeds publishes the same tables.

Produces, per seed, a digest of every published data table (rows in a canonical
order, the refresh_id left out), and a verdict: every seed must publish exactly
the same tables and none may fail. Each seed runs the real refresh
(`pipeline.refresh.run_refresh`, no Prefect server) in its own process with
`PYTHONHASHSEED` set, into a warehouse of its own; polars' own hashing is seeded
per process as well, so thread scheduling and hash order both vary. The Great
Expectations checks are skipped (they only read the tables) to keep each run short.

Usage:
    python bench/hash_seeds.py --seeds 200 [--customers 5000 --order-lines 100000] [--jobs 2]

Exit status 0 when every seed agrees, 1 otherwise (the differing tables are listed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

CONFIG = """[warehouse]
url = "duckdb:///{warehouse}"

[sources.orders]
path = "{data}/orders.csv"
[sources.customers]
path = "{data}/customers.csv"
extra_columns = ["attitude_to_technology", "core_values"]
[sources.contacts]
path = "{data}/contacts.csv"
[sources.products]
path = "{data}/products.csv"
[sources.leads]
path = "{data}/leads.csv"
[sources.feedback]
path = "{data}/feedback.csv"

[quality]
expectations = false
data_docs = false
reports_dir = "{reports}"

[privacy]
hash_key = "determinism"
"""


CONFIG_HASH = r"config [0-9a-f]{12}"


def digest_tables(config_path: Path) -> dict[str, str]:
    """Refresh once (no Prefect) and digest each published data table."""
    import polars as pl

    from config.loader import load_config
    from pipeline.refresh import run_refresh
    from pipeline.runner import Stages
    from sampledata import SAMPLE_END_DATE
    from warehouse.publish import open_warehouse
    from warehouse.tables import DATA_TABLES

    config = load_config(config_path)
    stages = Stages.for_settings(config.settings, with_prefect=False)
    run_refresh(config, as_of=SAMPLE_END_DATE, reason="hash seeds", trigger="ad-hoc", stages=stages)
    digests = {}
    with open_warehouse(config.settings) as warehouse:
        for spec in DATA_TABLES:
            frame = warehouse.read_current(spec.name).drop("refresh_id")
            text = frame.select(pl.all().cast(pl.String)).sort(pl.all(), nulls_last=True)
            if "reason" in text.columns:  # names the config's hash, which names its folder
                text = text.with_columns(pl.col("reason").str.replace(CONFIG_HASH, "config …"))
            digests[spec.name] = hashlib.sha256(text.write_csv().encode()).hexdigest()[:16]
    return digests


def run_seed(seed: int, data: Path, scratch: Path) -> dict[str, str] | str:
    """One seed in its own process: its table digests, or its error."""
    folder = scratch / f"seed-{seed}"
    folder.mkdir()
    config = folder / "personas.toml"
    config.write_text(
        CONFIG.format(
            warehouse=folder / "warehouse.duckdb",
            data=data,
            reports=folder / "reports",
        ),
        encoding="utf-8",
    )
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
        "PYTHONHASHSEED": str(seed),
        "PREFECT_HOME": str(folder / "prefect-home"),
    }
    child = subprocess.run(
        [sys.executable, __file__, "--worker", str(config)],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode != 0:
        return (child.stderr.strip().splitlines() or ["no output"])[-1]
    return json.loads(child.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200, help="how many hash seeds (0, 1, …)")
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--order-lines", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=2, help="seeds run at once")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(digest_tables(args.worker)))
        return 0

    from sampledata import generate_sample

    with tempfile.TemporaryDirectory(prefix="personas-seeds-") as scratch_name:
        scratch = Path(scratch_name)
        generate_sample(
            scratch / "data", customers=args.customers, order_lines=args.order_lines, seed=42
        )
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            results = dict(
                zip(
                    range(args.seeds),
                    pool.map(lambda s: run_seed(s, scratch / "data", scratch), range(args.seeds)),
                    strict=True,
                )
            )
    failed = {seed: r for seed, r in results.items() if isinstance(r, str)}
    digests = {seed: r for seed, r in results.items() if isinstance(r, dict)}
    variants: dict[str, set[str]] = {}
    for tables in digests.values():
        for name, digest in tables.items():
            variants.setdefault(name, set()).add(digest)
    differing = sorted(name for name, seen in variants.items() if len(seen) > 1)
    print(
        json.dumps(
            {
                "seeds": args.seeds,
                "failed": {str(seed): error for seed, error in sorted(failed.items())},
                "differing_tables": differing,
                "digests": {name: sorted(seen) for name, seen in sorted(variants.items())},
            },
            indent=2,
        )
    )
    return 1 if failed or differing else 0


if __name__ == "__main__":
    sys.exit(main())
