"""Benchmark: time a full refresh (extract → validate → transform → publish) on N order lines.

Produces a table with, per size: seconds per stage (and the CPU seconds of every
core), total seconds, order lines per second and the peak resident memory of the
refresh. Each size runs in its own child process, so peak memory belongs to that
refresh alone; the sample data is generated first and not timed. Prefect's
orchestration (a constant few seconds to reach its API) is left out: the stages
run as plain functions.

Usage:
    python bench/bench_refresh.py --lines 1000000 10000000 [--format csv|parquet]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import polars as pl
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from config.settings import Settings
    from pipeline.stages import Extracted, ValidatedInputs

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing


def _config_text(file_format: str) -> str:
    sources = "\n".join(
        f'[sources.{name}]\npath = "data/{name}.{file_format}"\n'
        for name in ("orders", "customers", "products", "contacts", "leads", "feedback")
    )
    return f'[warehouse]\nurl = "duckdb:///warehouse/bench.duckdb"\n\n{sources}'


def _cpu_seconds() -> float:
    """CPU time of this process so far, every thread, user and system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _validated(raw: dict[str, Extracted], settings: Settings) -> ValidatedInputs:
    from pipeline.stages import resolve_customers, validate

    return resolve_customers(validate(raw, settings), settings)


def run_one(directory: Path, as_of: date) -> dict[str, float]:
    """Run the refresh stages once on the data in `directory`; return seconds per stage
    (wall, and CPU as `<stage>_cpu`)."""
    from config.loader import load_config
    from pipeline.profile import profile, transitions
    from pipeline.refresh import _notes, _now, refresh_id_for
    from pipeline.stages import check_tables, extract, publish, transform
    from warehouse.publish import RunRecord, new_run_id

    config = load_config(directory / "personas.toml")
    settings = config.settings
    timings: dict[str, float] = {}
    started, cpu_started = time.perf_counter(), _cpu_seconds()

    def timed(stage: str, work: Callable[[], T]) -> T:
        # Wall time and the CPU time of every thread: on 2 cores the wall time of one
        # run varies by 15% with the machine's load, the core-seconds much less.
        wall, cpu = time.perf_counter(), _cpu_seconds()
        result = work()
        timings[stage] = time.perf_counter() - wall
        timings[f"{stage}_cpu"] = _cpu_seconds() - cpu
        return result

    raw = timed("extract", lambda: extract(settings))
    # Validation, then the identity resolution (nothing to resolve unless [identity] is
    # on); as in a refresh, the text rows live only while they are validated.
    inputs = timed("validate", partial(_validated, raw, settings))
    del raw
    computed = timed("transform", lambda: transform(inputs, settings, as_of, config.config_hash))
    refresh_id = refresh_id_for(as_of, config.config_hash)

    def profiled() -> dict[str, pl.DataFrame]:
        profiles = profile(computed, inputs, settings, as_of)
        return {
            **computed.tables,
            **profiles.tables,
            "segment_transitions": transitions(computed, None),
            "quarantine": inputs.quarantine,
            "customer_identity": inputs.identity,
            "identity_review": inputs.review,
        }

    tables = timed("profile", profiled)
    # output contracts + expectations
    timed("check", lambda: check_tables(settings, tables, refresh_id, None))
    run = RunRecord(
        refresh_id=refresh_id,
        run_id=new_run_id(),
        as_of=as_of,
        started_at=_now(),
        finished_at=_now(),
        status="succeeded",
        trigger="ad-hoc",
        reason="benchmark",
        config_hash=config.config_hash,
        rows_in=inputs.rows_in,
        rows_accepted=inputs.rows_accepted,
        rows_quarantined=inputs.rows_rejected,
        customers=tables["customer_segments"].height,
        notes=_notes(config),
    )
    timed("publish", lambda: publish(settings, tables, run, False))
    timings["total"] = time.perf_counter() - started
    timings["total_cpu"] = _cpu_seconds() - cpu_started
    timings["order_lines"] = float(inputs.counts["orders"][0])  # read whole or spilled
    timings["customers"] = float(tables["customer_segments"].height)
    # ru_maxrss is in KiB on Linux
    timings["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the data here")
    parser.add_argument("--run-one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    from sampledata import SAMPLE_END_DATE, generate_sample

    if args.run_one:
        print(json.dumps(run_one(args.run_one, SAMPLE_END_DATE)))
        return

    console = Console(width=150)  # the table is the output: never squeeze it
    table = Table(
        title=f"Full refresh, {args.format} sources, DuckDB warehouse",
        caption="seconds (CPU seconds, every core)",
    )
    stages = ("extract s", "validate s", "transform s", "profile s", "check s")
    for column in ("order lines", "customers", *stages):
        table.add_column(column, justify="right")
    for column in ("publish s", "total s", "lines/s", "peak MiB"):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory(dir=args.workdir) as scratch:
        for lines in args.lines:
            directory = Path(scratch) / f"{lines}"
            customers = max(lines // 20, 10)
            console.print(f"generating {lines:,} order lines, {customers:,} customers …")
            generate_sample(
                directory / "data",
                customers=customers,
                order_lines=lines,
                seed=7,
                file_format=args.format,
            )
            (directory / "personas.toml").write_text(_config_text(args.format), encoding="utf-8")
            console.print("refreshing …")
            child = subprocess.run(
                [sys.executable, __file__, "--run-one", str(directory)],
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(child.stdout.strip().splitlines()[-1])
            table.add_row(
                f"{int(result['order_lines']):,}",
                f"{int(result['customers']):,}",
                *(
                    f"{result[stage]:.2f} ({result[f'{stage}_cpu']:.1f})"
                    for stage in ("extract", "validate", "transform", "profile", "check")
                ),
                f"{result['publish']:.2f} ({result['publish_cpu']:.1f})",
                f"{result['total']:.2f} ({result['total_cpu']:.1f})",
                f"{result['order_lines'] / result['total']:,.0f}",
                f"{result['peak_rss_mib']:,.0f}",
            )
    console.print(table)


if __name__ == "__main__":
    main()
