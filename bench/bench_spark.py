"""Benchmark: one orders file refreshed on the polars engine and on the Spark engine.

Produces, per engine, the wall time of a whole `personas refresh` process (orders
only, DuckDB warehouse, no Prefect API configured), the peak resident memory of
the refresh's own Python process (the Spark driver's Python side), of its whole
process tree (with Spark: the JVM, which in local mode is driver and executor,
and its Python workers) and of the largest Python worker, and the peak size of
the spill area, sampled from /proc every 0.2 s and from the disk every 2 s, the refresh's own
stage times, and whether the two engines published the same tables (every view of the
`personas` schema compared row for row with DuckDB's EXCEPT ALL, both ways; the
run note on where the work ran left out).

Usage:
    python bench/big_sample.py /tmp/p100m --parts 10
    python bench/bench_spark.py /tmp/p100m/orders.parquet --buckets 200 --workdir /tmp/sparkbench
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2026-06-30"  # the sample's last day
CONFIG = """
[warehouse]
url = "duckdb:///warehouse/warehouse.duckdb"

[sources.orders]
path = "{orders}"

[engine]
spill_dir = "spill"
{engine}
"""


def tree_rss(root: int) -> tuple[int, int, int]:
    """Resident bytes of process `root`, of it with all its descendants, and of the
    largest of Spark's Python workers among them."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    workers: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
        try:
            if b"pyspark" in (entry / "cmdline").read_bytes():
                workers.add(pid)
        except OSError:
            continue
        found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        rss[pid] = int(found[1]) * 1024 if found else 0
    family, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in family} - family
        family |= more
        grew = bool(more)
    largest = max((rss.get(pid, 0) for pid in family & workers), default=0)
    return rss.get(root, 0), sum(rss.get(pid, 0) for pid in family), largest


def refresh(folder: Path, orders: Path, engine: str) -> dict[str, object]:
    """One whole refresh process in `folder`: its time, peaks and stage lines."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "personas.toml"
    config.write_text(CONFIG.format(orders=orders, engine=engine), encoding="utf-8")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    environment["PREFECT_HOME"] = str(folder / "prefect")
    command = [sys.executable, "-m", "flows.cli", "refresh", "--config", str(config)]
    started = time.perf_counter()
    log = (folder / "refresh.log").open("w")
    child = subprocess.Popen(
        [*command, "--as-of", AS_OF], cwd=ROOT, env=environment, stdout=log, stderr=log
    )
    own = whole = worker = spill = 0
    samples = 0
    while child.poll() is None:
        mine, tree, python = tree_rss(child.pid)
        own, whole, worker = max(own, mine), max(whole, tree), max(worker, python)
        if samples % 10 == 0:  # the disk every 2 s: thousands of files to look at
            spill = max(spill, disk_used(folder / "spill"))
        samples += 1
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    log.close()
    text = (folder / "refresh.log").read_text()
    if child.returncode != 0:
        raise SystemExit(f"refresh in {folder} failed:\n{text[-3000:]}")
    stages = re.findall(r"personas - ([a-z ]+): .* in ([0-9.]+) s", text)
    return {
        "seconds": seconds,
        "own": own,
        "tree": whole,
        "worker": worker,
        "spill": spill,
        "stages": stages,
    }


def disk_used(folder: Path) -> int:
    """Bytes of the files under `folder` (0 when it is gone); the refresh renames and
    removes folders while this walks them, so what vanishes meanwhile is skipped."""
    total = 0
    for parent, _, names in os.walk(folder):  # os.walk skips a folder gone under it
        for name in names:
            try:
                total += os.stat(os.path.join(parent, name)).st_size
            except OSError:
                continue
    return total


def same_tables(one: Path, other: Path) -> list[str]:
    """The views whose rows differ between two warehouses (empty: the same tables)."""
    connection = duckdb.connect()
    connection.execute(f"attach '{one}' as a (read_only)")
    connection.execute(f"attach '{other}' as b (read_only)")
    views = connection.execute(
        "select table_name from information_schema.tables where table_catalog = 'a' "
        "and table_schema = 'personas' and table_type = 'VIEW' order by 1"
    ).fetchall()
    differ = []
    for (view,) in views:
        columns = connection.execute(
            "select column_name from information_schema.columns where table_catalog = 'a' "
            f"and table_schema = 'personas' and table_name = '{view}' order by ordinal_position"
        ).fetchall()
        # Each run's own identity and clock, and the config's hash: the two configs name
        # different warehouses.
        per_run = {"run_id", "started_at", "finished_at", "published_at", "next_due_at"}
        per_run |= {"refresh_id", "config_hash"}
        select = ", ".join(
            # the run note on where the work ran is the one difference the engines make
            "regexp_replace(notes, 'engine: [^;]*(; the measures per customer[^;]*)?', '')"
            if name == "notes"
            else "regexp_replace(reason, 'config [0-9a-f]+', '')"
            if name == "reason"
            else f'"{name}"'
            for (name,) in columns
            if name not in per_run
        )
        for left, right in (("a", "b"), ("b", "a")):
            extra = connection.execute(
                f"select count(*) from (select {select} from {left}.personas.{view} "
                f"except all select {select} from {right}.personas.{view})"
            ).fetchone()
            if extra and extra[0]:
                differ.append(view)
                break
    return differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("orders", type=Path, help="an orders Parquet file")
    parser.add_argument("--buckets", type=int, default=64, help="Spark buckets")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="4g", help="the local JVM's heap")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--conf", nargs="*", default=[], help="more Spark settings: key=value")
    parser.add_argument("--engines", nargs="+", default=["polars", "spark"])
    args = parser.parse_args()
    orders = args.orders.resolve()
    conf = {"spark.driver.memory": args.driver_memory, **dict(c.split("=", 1) for c in args.conf)}
    spark = (
        f'kind = "spark"\nmaster = "{args.master}"\nbuckets = {args.buckets}\n'
        f"conf = {{ {', '.join(f'{k!r} = {v!r}' for k, v in conf.items())} }}"
    ).replace("'", '"')
    engines = {"polars": "", "spark": spark}
    results = {name: refresh(args.workdir / name, orders, engines[name]) for name in args.engines}
    if len(results) < 2:
        args.engines = []
    differ = (
        same_tables(
            args.workdir / "polars" / "warehouse" / "warehouse.duckdb",
            args.workdir / "spark" / "warehouse" / "warehouse.duckdb",
        )
        if args.engines
        else ["(one engine only: not compared)"]
    )
    table = Table(title=f"{orders.name}: polars vs Spark {args.master}, {args.buckets} buckets")
    columns = (
        "engine",
        "wall s",
        "refresh process MiB",
        "process tree MiB",
        "largest Python worker MiB",
        "spill area peak MiB",
        "stages (s)",
    )
    for column in columns:
        table.add_column(column)
    for engine, found in results.items():
        table.add_row(
            engine,
            f"{found['seconds']:.1f}",
            f"{found['own'] / 2**20:,.0f}",
            f"{found['tree'] / 2**20:,.0f}",
            f"{found['worker'] / 2**20:,.0f}",
            f"{found['spill'] / 2**20:,.0f}",
            ", ".join(f"{stage} {seconds}" for stage, seconds in found["stages"]),  # type: ignore[attr-defined]
        )
    console = Console(width=200)
    console.print(table)
    console.print("same tables: yes" if not differ else f"tables differ: {', '.join(differ)}")


if __name__ == "__main__":
    main()
