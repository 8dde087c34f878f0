"""A sample of N × 10M order lines for the scale benchmark, written in one streaming pass.

Produces `OUT/orders.parquet` (`OUT/orders.csv` with `--format csv`): `--parts`
samples of 10,000,000 lines each (`sampledata.generate_sample`, seeds 1..parts,
500,000 customers each, so the customers stay 500,000 however many lines), their
order ids made distinct per sample (`S3-SO0000001`), concatenated by polars'
streaming engine (no sample is held whole), plus a `personas.toml` for it (orders
only, DuckDB warehouse). Each sample is generated in a process of its own and kept
under `OUT/part<seed>` (as Parquet), so a second run reuses them.

Usage:
    python bench/big_sample.py /tmp/p100m --parts 10     # 100M lines, about 4 minutes
    python bench/big_sample.py /tmp/c100m --parts 10 --format csv   # the same as CSV
    personas refresh --config /tmp/p100m/personas.toml --as-of 2026-06-30
    python bench/duckdb_baseline.py /tmp/p100m/orders.parquet /tmp/b.duckdb --as-of 2026-06-30
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
LINES_PER_PART = 10_000_000
CUSTOMERS = 500_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--parts", type=int, default=10)
    parser.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    args = parser.parse_args()
    script = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
        "from sampledata import generate_sample; generate_sample(Path(sys.argv[2]), "
        "customers=int(sys.argv[3]), order_lines=int(sys.argv[4]), seed=int(sys.argv[5]), "
        "file_format='parquet')"
    )
    parts = []
    for seed in range(1, args.parts + 1):
        folder = args.out / f"part{seed}"
        if not (folder / "orders.parquet").exists():
            arguments = [str(ROOT), str(folder), str(CUSTOMERS), str(LINES_PER_PART), str(seed)]
            subprocess.run([sys.executable, "-c", script, *arguments], check=True)
        parts.append(
            pl.scan_parquet(folder / "orders.parquet").with_columns(
                order_id=pl.lit(f"S{seed}-") + pl.col("order_id")
            )
        )
    orders = args.out / f"orders.{args.format}"
    if args.format == "csv":
        pl.concat(parts).sink_csv(orders)
    else:
        pl.concat(parts).sink_parquet(orders, row_group_size=200_000)
    (args.out / "personas.toml").write_text(
        '[warehouse]\nurl = "duckdb:///warehouse/bench.duckdb"\n\n'
        f'[sources.orders]\npath = "{orders.name}"\n',
        encoding="utf-8",
    )
    scan = pl.scan_csv(orders) if args.format == "csv" else pl.scan_parquet(orders)
    print(f"{scan.select(pl.len()).collect().item():,} order lines in {orders}")


if __name__ == "__main__":
    main()
