"""Benchmark of identity resolution on customer records with planted duplicates.

Produces, for each size, the wall time and peak memory of resolving the records
as a refresh does (`pipeline.stages.resolve_customers`: exact keys, then the
Splink model trained on the records and scored over its blocks, then the
clusters), and the precision and recall of the merged pairs against the planted
truth (`sampledata.duplicates`: 10% of the customers have a second record, made
the ways a second CRM account is). Each size runs in a process of its own; the
records are generated there first and not timed.

Usage:
    python bench/bench_identity.py --customers 100000 1000000 [--engine spark]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
RUN = """
import resource, sys, time
sys.path.insert(0, {root!r})
import polars as pl
from config.settings import Settings
from pipeline.stages import ValidatedInputs, resolve_customers
from sampledata.duplicates import pair_scores, planted_duplicates
from transforms.privacy import contact_key

records = planted_duplicates({customers}, duplicate_share=0.1, seed=7)
# contacts as a refresh reads them: one form (E.164, lower case); the hash is one-to-one
records = records.with_columns(
    pl.col(c).map_elements(lambda v: contact_key(v, contact_column=True), return_dtype=pl.String)
    for c in ("email", "phone")
)
settings = Settings(
    sources={{"orders": {{"path": "o.csv"}}, "customers": {{"path": "c.csv"}}}},
    identity={{"enabled": True, "probabilistic": True}},
    engine={{"kind": {engine!r}, "buckets": 4}},
)
inputs = ValidatedInputs(
    orders=pl.LazyFrame({{"customer_id": records["customer_id"]}}),
    customers=records.drop("true_customer").lazy(), products=None, contacts=None, leads=None,
    feedback=None, rows_in=0, rows_rejected=0, quarantine=pl.DataFrame(), counts={{}},
)
started = time.perf_counter()
resolved = resolve_customers(inputs, settings)
seconds = time.perf_counter() - started
precision, recall = pair_scores(resolved.identity.select("source_id", "customer_id"), records)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(records.height, resolved.identity["customer_id"].n_unique(), resolved.review.height,
      round(seconds, 1), peak, round(precision, 4), round(recall, 4))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--engine",
        choices=["polars", "spark"],
        default="polars",
        help="spark: Splink on a local Spark (local[2], 4 partitions), timed with its start",
    )
    arguments = parser.parse_args()
    table = Table(
        title=f"identity resolution (exact keys, then Splink), planted duplicates, "
        f"engine {arguments.engine}"
    )
    for column in ("records", "customers", "review pairs", "seconds", "peak MiB", "precision",
                   "recall"):  # fmt: skip
        table.add_column(column, justify="right")
    for customers in arguments.customers:
        script = RUN.format(root=str(ROOT), customers=customers, engine=arguments.engine)
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{customers:,} customers failed:\n{done.stderr[-3000:]}")
        last = done.stdout.strip().splitlines()[-1]  # the stage logs its own lines first
        records, resolved, review, seconds, peak, precision, recall = last.split()
        table.add_row(f"{int(records):,}", f"{int(resolved):,}", f"{int(review):,}", seconds,
                      f"{int(peak):,}", precision, recall)  # fmt: skip
    Console().print(table)


if __name__ == "__main__":
    main()
