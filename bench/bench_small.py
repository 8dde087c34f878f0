"""Benchmark: the wall time of small refreshes, each a whole `personas` process.

Produces the median wall time and peak memory of (1) `personas refresh` of a real
70,000-line transaction log (CDNOW's 69,659 lines, shipped by the `lifetimes`
test dependency, exported as the CSV a user would have) and (2) `personas demo`
(generating 100,000 sample lines and refreshing them), both with no Prefect API
configured, as a user runs them.

Usage:
    python bench/bench_small.py --repeat 5
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from bench_vs_duckdb import Measured, measure, without_prefect_api

from sampledata.cdnow import cdnow_config, write_cdnow_csv


def cdnow_csv(folder: Path) -> Path:
    """The CDNOW log as a CSV export, and its config, in `folder`."""
    (folder / "personas.toml").write_text(cdnow_config("cdnow.csv"), encoding="utf-8")
    return write_cdnow_csv(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    personas = [sys.executable, "-m", "flows.cli"]
    scratch = Path(tempfile.mkdtemp(prefix="personas-small-"))
    try:
        log_dir = scratch / "cdnow"
        log_dir.mkdir()
        cdnow_csv(log_dir)
        env = without_prefect_api(scratch / "prefect-home")
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
        runs: dict[str, list[Measured]] = {"CDNOW log, 69,659 lines": [], "personas demo": []}
        for _ in range(args.repeat):
            shutil.rmtree(log_dir / "warehouse", ignore_errors=True)
            shutil.rmtree(log_dir / "reports", ignore_errors=True)
            refresh = [*personas, "refresh", "--config", "personas.toml", "--as-of", "1998-06-30"]
            runs["CDNOW log, 69,659 lines"].append(measure(refresh, env=env, cwd=log_dir))
            demo_dir = scratch / "demo"
            shutil.rmtree(demo_dir, ignore_errors=True)
            demo_dir.mkdir()
            runs["personas demo"].append(measure([*personas, "demo"], env=env, cwd=demo_dir))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    table = Table(title=f"Small refreshes, whole processes, no Prefect API (of {args.repeat})")
    for column in ("run", "median s", "min s", "max s", "peak MiB"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for name, measured in runs.items():
        seconds = [m.seconds for m in measured]
        table.add_row(
            name,
            f"{statistics.median(seconds):.2f}",
            f"{min(seconds):.2f}",
            f"{max(seconds):.2f}",
            f"{max(m.peak_bytes for m in measured) / 2**20:,.0f}",
        )
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
