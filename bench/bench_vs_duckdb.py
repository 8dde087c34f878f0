"""Benchmark: `personas refresh` against hand-written DuckDB SQL of the core work, in one run.

Produces, per size and file format, the median wall time of a whole `personas
refresh` process (orders only, DuckDB warehouse, no Prefect API configured) and
of a whole process running `bench/duckdb_baseline.py` on the same file, run
alternately so that both see the same machine; their ratio; and the peak
resident memory of each process (per process, from wait4), also in bytes per
input line. The sample data is generated first (customers = lines / 20) and
not timed.

Usage:
    python bench/bench_vs_duckdb.py --lines 1000000 10000000 --format parquet csv --repeat 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2026-06-30"  # the sample's last day


@dataclass(frozen=True)
class Measured:
    """One whole process: wall seconds and peak resident memory."""

    seconds: float
    peak_bytes: int


def measure(command: list[str], *, env: dict[str, str], cwd: Path) -> Measured:
    """Run `command` to the end; its wall time and its own peak RSS (not its parent's)."""
    started = time.perf_counter()
    child = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    errors = child.stderr.read().decode(errors="replace") if child.stderr else ""
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{errors[-3000:]}")
    return Measured(seconds, usage.ru_maxrss * 1024)  # ru_maxrss is KiB on Linux


def without_prefect_api(home: Path) -> dict[str, str]:
    """The environment of a user with no Prefect server configured."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    environment["PREFECT_HOME"] = str(home)
    return environment


def prepare(directory: Path, lines: int, file_format: str) -> Path:
    """Generate `lines` order lines (orders only) and a config; return the config.

    The data is generated in a process of its own: Linux hands a child the peak memory
    of its parent at fork time, so generating it here would inflate every peak measured
    after it."""
    data = directory / "data"
    if not (data / f"orders.{file_format}").exists():
        script = (
            "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
            "from sampledata import generate_sample; "
            "generate_sample(Path(sys.argv[2]), customers=int(sys.argv[3]), "
            "order_lines=int(sys.argv[4]), seed=7, file_format=sys.argv[5])"
        )
        arguments = [str(ROOT), str(data), str(max(lines // 20, 10)), str(lines), file_format]
        subprocess.run([sys.executable, "-c", script, *arguments], check=True)
    config = directory / "personas.toml"
    config.write_text(
        '[warehouse]\nurl = "duckdb:///warehouse/bench.duckdb"\n\n'
        f'[sources.orders]\npath = "data/orders.{file_format}"\n',
        encoding="utf-8",
    )
    return config


def compare(directory: Path, config: Path, file_format: str, repeat: int) -> dict[str, object]:
    """Alternate a personas refresh and the DuckDB baseline `repeat` times each."""
    env = without_prefect_api(directory / "prefect-home")
    personas = [
        sys.executable, "-m", "flows.cli", "refresh", "--config", str(config), "--as-of", AS_OF,
    ]  # fmt: skip
    baseline = [
        sys.executable,
        str(ROOT / "bench" / "duckdb_baseline.py"),
        str(directory / "data" / f"orders.{file_format}"),
        str(directory / "baseline.duckdb"),
        "--as-of",
        AS_OF,
    ]
    ours: list[Measured] = []
    theirs: list[Measured] = []
    for _ in range(repeat):
        shutil.rmtree(directory / "warehouse", ignore_errors=True)
        shutil.rmtree(directory / "reports", ignore_errors=True)
        (directory / "baseline.duckdb").unlink(missing_ok=True)
        ours.append(measure(personas, env={**env, "PYTHONPATH": str(ROOT)}, cwd=directory))
        theirs.append(measure(baseline, env=env, cwd=directory))
    return {
        "personas_s": statistics.median(m.seconds for m in ours),
        "duckdb_s": statistics.median(m.seconds for m in theirs),
        "personas_peak": max(m.peak_bytes for m in ours),
        "duckdb_peak": max(m.peak_bytes for m in theirs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--format", nargs="+", choices=["csv", "parquet"], default=["parquet"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the data here")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # run from a checkout without installing

    console = Console(width=150)
    table = Table(title=f"personas refresh vs hand-written DuckDB SQL (median of {args.repeat})")
    for column in (
        "format", "order lines", "personas s", "DuckDB SQL s", "ratio",
        "personas peak MiB", "bytes/line", "DuckDB peak MiB",
    ):  # fmt: skip
        table.add_column(column, justify="right")
    scratch = Path(args.workdir or tempfile.mkdtemp(prefix="personas-bench-"))
    try:
        for file_format in args.format:
            for lines in args.lines:
                directory = scratch / f"{file_format}-{lines}"
                console.print(f"{file_format}, {lines:,} order lines: generating …")
                config = prepare(directory, lines, file_format)
                console.print("timing, alternately …")
                result = compare(directory, config, file_format, args.repeat)
                ours, theirs = float(result["personas_s"]), float(result["duckdb_s"])  # type: ignore[arg-type]
                peak = int(result["personas_peak"])  # type: ignore[call-overload]
                table.add_row(
                    file_format,
                    f"{lines:,}",
                    f"{ours:.2f}",
                    f"{theirs:.2f}",
                    f"{ours / theirs:.2f}×",
                    f"{peak / 2**20:,.0f}",
                    f"{peak / lines:,.0f}",
                    f"{int(result['duckdb_peak']) / 2**20:,.0f}",  # type: ignore[call-overload]
                )
    finally:
        if args.workdir is None:
            shutil.rmtree(scratch, ignore_errors=True)
    console.print(table)


if __name__ == "__main__":
    main()
