"""Benchmark: time a full refresh (extract → validate → transform → publish) on N order lines.

Produces a table with, per size: seconds per stage, total seconds, order lines
per second and the peak resident memory of the refresh. Each size runs in its
own child process, so peak memory belongs to that refresh alone; the sample
data is generated first and not timed. Prefect's orchestration (a constant
few seconds to reach its API) is left out: the stages run as plain functions.

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
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing


def _config_text(file_format: str) -> str:
    sources = "\n".join(
        f'[sources.{name}]\npath = "data/{name}.{file_format}"\n'
        for name in ("orders", "customers", "products", "contacts", "leads", "feedback")
    )
    return f'[warehouse]\nurl = "duckdb:///warehouse/bench.duckdb"\n\n{sources}'


def run_one(directory: Path, as_of: date) -> dict[str, float]:
    """Run the refresh stages once on the data in `directory`; return seconds per stage."""
    from config.loader import load_config
    from pipeline.profile import profile, transitions
    from pipeline.refresh import _notes, _now, refresh_id_for
    from pipeline.stages import check_tables, extract, publish, transform, validate
    from warehouse.publish import RunRecord, new_run_id

    config = load_config(directory / "personas.toml")
    settings = config.settings
    timings: dict[str, float] = {}
    started = time.perf_counter()
    raw = extract(settings)
    timings["extract"] = time.perf_counter() - started
    mark = time.perf_counter()
    inputs = validate(raw, settings)
    timings["validate"] = time.perf_counter() - mark
    mark = time.perf_counter()
    computed = transform(inputs, settings, as_of, config.config_hash)
    timings["transform"] = time.perf_counter() - mark
    mark = time.perf_counter()
    refresh_id = refresh_id_for(as_of, config.config_hash)
    profiles = profile(computed, inputs, settings, as_of)
    moves = transitions(computed, None)
    tables = {
        **computed.tables,
        **profiles.tables,
        "segment_transitions": moves,
        "quarantine": inputs.quarantine,
    }
    timings["profile"] = time.perf_counter() - mark
    mark = time.perf_counter()
    check_tables(settings, tables, refresh_id, None)  # output contracts + expectations
    timings["check"] = time.perf_counter() - mark
    mark = time.perf_counter()
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
    publish(settings, tables, run, False)
    timings["publish"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started
    timings["order_lines"] = float(raw["orders"].height)
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
    table = Table(title=f"Full refresh, {args.format} sources, DuckDB warehouse")
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
                    f"{result[stage]:.2f}"
                    for stage in ("extract", "validate", "transform", "profile", "check")
                ),
                f"{result['publish']:.2f}",
                f"{result['total']:.2f}",
                f"{result['order_lines'] / result['total']:,.0f}",
                f"{result['peak_rss_mib']:,.0f}",
            )
    console.print(table)


if __name__ == "__main__":
    main()
