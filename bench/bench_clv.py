"""Benchmark and literature check of the predicted customer value ([clv]).

Produces three tables:

1. literature: `personas refresh` of the CDNOW cohort sample (2,357 customers,
   weeks, as_of 1997-09-30: the 39-week calibration period) and the BG/NBD and
   Gamma-Gamma parameters it publishes in `clv_model`, beside the published ones
   (Fader, Hardie & Lee 2005; Fader & Hardie 2013) and their difference;
2. the whole CDNOW log (23,570 customers, 69,659 lines, as_of 1998-06-30):
   the wall time of a whole `personas refresh` process with [clv] off and on
   (with the 273-day holdout check), alternated, and the holdout figures;
3. a million customers: the fit and predictions alone (`predict_customer_value`
   on generated purchases), wall time and peak memory of the process.

The CDNOW logs come from the `lifetimes` package (a test dependency):
`pip install -e '.[test]'` first.

Usage:
    python bench/bench_clv.py --repeat 3 --customers 1000000
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
from rich.console import Console
from rich.markup import escape
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_vs_duckdb import measure, without_prefect_api  # noqa: E402
from sampledata.cdnow import cdnow_config, write_cdnow_csv, write_cdnow_sample_csv  # noqa: E402

PUBLISHED = {
    ("bg_nbd", "r"): 0.243,
    ("bg_nbd", "alpha"): 4.414,
    ("bg_nbd", "a"): 0.793,
    ("bg_nbd", "b"): 2.426,
    ("bg_nbd", "log_likelihood"): -9582.4,
    ("gamma_gamma", "p"): 6.25,
    ("gamma_gamma", "q"): 3.74,
    ("gamma_gamma", "v"): 15.44,
}
WAREHOUSE = '[warehouse]\nurl = "duckdb:///warehouse/clv.duckdb"\n\n'
CLV = """
[clv]
enabled = {enabled}
time_unit = "weeks"
holdout_days = {holdout}
"""


def refresh(folder: Path, log: Path, *, as_of: str, enabled: bool, holdout: int) -> float:
    """One whole `personas refresh` process; its wall seconds."""
    config = folder / "personas.toml"
    config.write_text(
        WAREHOUSE
        + cdnow_config(log.as_posix(), CLV.format(enabled=str(enabled).lower(), holdout=holdout)),
        encoding="utf-8",
    )
    command = [sys.executable, "-m", "flows.cli", "refresh", "--config", str(config)]
    run = measure([*command, "--as-of", as_of], env=without_prefect_api(folder), cwd=folder)
    return run.seconds


def clv_model(folder: Path) -> dict[tuple[str, str], float]:
    database = folder / "warehouse" / "clv.duckdb"
    with duckdb.connect(str(database), read_only=True) as connection:
        rows = connection.sql("select model, measure, value from personas.clv_model").fetchall()
    return {(model, measure): value for model, measure, value in rows}


def literature(work: Path, console: Console) -> None:
    folder = work / "literature"
    folder.mkdir()
    log = write_cdnow_sample_csv(folder)
    refresh(folder, log, as_of="1997-09-30", enabled=True, holdout=0)
    fitted = clv_model(folder)
    table = Table(title="CDNOW cohort sample, 39 weeks: personas refresh vs the literature")
    for column in ("model", "parameter", "published", "personas", "difference"):
        table.add_column(column, justify="right" if column not in ("model", "parameter") else None)
    for (model, name), published in PUBLISHED.items():
        ours = fitted[model, name]
        table.add_row(
            model, name, f"{published:g}", f"{ours:.4f}", f"{(ours / published - 1):+.2%}"
        )
    console.print(table)


def whole_log(work: Path, console: Console, repeat: int) -> None:
    folder = work / "whole"
    folder.mkdir()
    log = write_cdnow_csv(folder)
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(repeat):
        for enabled in (False, True):
            times[enabled].append(
                refresh(folder, log, as_of="1998-06-30", enabled=enabled, holdout=273)
            )
    fitted = clv_model(folder)
    off, on = statistics.median(times[False]), statistics.median(times[True])
    table = Table(title=f"CDNOW whole log (69,659 lines), median of {repeat}")
    for column in ("refresh", "seconds"):
        table.add_column(column)
    table.add_row(escape("[clv] off"), f"{off:.2f}")
    table.add_row(escape("[clv] on, with the 273-day holdout"), f"{on:.2f}")
    table.add_row("difference", f"{on - off:+.2f}")
    console.print(table)
    holdout = Table(title="holdout: fitted up to 1997-09-30, compared over the next 273 days")
    for column in ("measure", "value"):
        holdout.add_column(column)
    for name in ("customers", "actual_purchases", "predicted_purchases"):
        holdout.add_row(name, f"{fitted['holdout', name]:,.1f}")
    holdout.add_row("aggregate_error", f"{fitted['holdout', 'aggregate_error']:+.2%}")
    holdout.add_row("mae_per_customer", f"{fitted['holdout', 'mae_per_customer']:.3f}")
    console.print(holdout)


MILLION = """
import resource, sys, time
from datetime import date, timedelta
import numpy as np, polars as pl
sys.path.insert(0, {root!r})
from config.settings import ClvSettings
from transforms.customer_value import predict_customer_value

rng = np.random.default_rng(7)
n = {customers}
rates = rng.gamma(0.5, 1 / 20, n)                    # purchases per day
first = rng.integers(0, 365, n)                       # first purchase day in year one
life = rng.geometric(0.3, n) * 40                     # days until dropout
counts = rng.poisson(rates * np.minimum(life, 730 - first)) + 1
customer = np.repeat(np.arange(n), counts)
offset = (rng.random(customer.size) * np.minimum(life, 730 - first)[customer]).astype(int)
offset[np.r_[0, np.cumsum(counts)[:-1]]] = 0           # each customer's first purchase
start = date(2024, 1, 1)
epoch_days = (start - date(1970, 1, 1)).days + first[customer] + offset
purchases = pl.LazyFrame({{
    "customer_id": pl.Series(customer).cast(pl.String),
    "order_day": pl.Series(epoch_days).cast(pl.Int32).cast(pl.Date),
    "amount": pl.Series(np.round(rng.gamma(4, 12, customer.size), 2)).cast(pl.Decimal(38, 2)),
}})
started = time.perf_counter()
value = predict_customer_value(purchases, as_of=start + timedelta(days=730),
                               settings=ClvSettings(enabled=True))
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(value.predictions.height, customer.size, round(seconds, 2), round(peak))
"""


def million(console: Console, customers: int) -> None:
    script = MILLION.format(root=str(ROOT), customers=customers)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the million-customer fit failed:\n{done.stderr[-3000:]}")
    wall = time.perf_counter() - started
    predicted, lines, seconds, peak = done.stdout.split()
    table = Table(title=f"{customers:,} customers: fit and predictions")
    for column in ("customers predicted", "purchases", "fit + predict s", "process s", "peak MiB"):
        table.add_column(column, justify="right")
    table.add_row(f"{int(predicted):,}", f"{int(lines):,}", seconds, f"{wall:.1f}", peak)
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--customers", type=int, default=1_000_000)
    arguments = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory(prefix="personas-clv-") as temporary:
        work = Path(temporary)
        literature(work, console)
        whole_log(work, console, arguments.repeat)
    million(console, arguments.customers)


if __name__ == "__main__":
    main()
