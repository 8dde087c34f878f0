"""Order lines spilled to disk by bucket, so that no stage holds every line at once.

Produces `SpilledRows`: one source's extracted rows written, in one streaming
pass, to Arrow IPC files on local disk, one folder per bucket, and read back a
bucket at a time; and `keeper`, where a spilled refresh keeps its frames of one
row per purchase (files beside the lines, read back as scans). A line's bucket
is a fixed hash of its order id (or, without one, of its customer; or of its
whole line key when a configured key leaves the order id out), so every
comparison validation makes between lines stays inside one bucket (two lines
with one key, two identical lines) and an order's lines are summed in one
bucket. The validated lines are written back to the same folder and scanned
lazily by the later stages, so peak memory is one bucket's lines plus what the
stages keep per customer.

The folders are removed when the refresh ends (`release`), and, whatever stops
the process short of a kill, when it exits.
"""

from __future__ import annotations

import atexit
import itertools
import math
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import polars as pl

from sources.parquet_files import ParquetSourceError, parquet_files
from transforms.purchases import (
    Keep,
    Regroup,
    Shuffles,
    as_one_group,
    group_runner,
    kept_in_memory,
)

BUCKET = "_bucket"
CUSTOMER_BUCKET = "_customer_bucket"
SPILL_PREFIX = "personas-spill-"
# A CSV's lines are counted from its size before it is read: a typical order line
# takes 80-150 bytes, so this errs towards more, smaller buckets.
CSV_BYTES_PER_LINE = 80
# Spilled files are compressed: typed order lines take ~10x their Parquet size
# uncompressed, and LZ4 costs little time to write or read.
SPILL_COMPRESSION = "lz4"
# Rows held in memory while they are written to their buckets, over all buckets.
SPILL_BUFFER_ROWS = 1_000_000
MIN_ROWS_PER_FILE = 10_000
# The bucket hash: fixed, so a line falls in the same bucket in every run and process.
BUCKET_SEED = 0x5EED
# Purchases are regrouped by another hash of the customer, so that a bucket of lines cut
# by customer does not put all its customers in one group.
CUSTOMER_SEED = 0xC057

_areas: set[Path] = set()


@dataclass(frozen=True)
class SpilledRows:
    """A source's extracted rows on disk, by bucket (each bucket one or more files)."""

    folder: Path  # the run's spill area: the validated lines are written here too
    buckets: tuple[tuple[Path, ...], ...]
    schema: pl.Schema
    whole_purchases: bool  # every purchase's lines are in one bucket (`cuts_whole_purchases`)

    def frames(self) -> Iterator[pl.DataFrame]:
        """Each bucket's rows in turn (in source order within the bucket); a bucket's
        files are deleted once read: the disk holds at most the source once."""
        for files in self.buckets:
            # One scan of the bucket's files reads them in parallel (about twice as fast
            # as one file after another), a chunk per file, in the order of `files`.
            frame = (
                pl.scan_ipc(list(files)).collect(engine="in-memory")
                if files
                else pl.DataFrame(schema=self.schema)
            )
            for path in files:
                path.unlink(missing_ok=True)
            yield frame


def bucket_count(path: Path | None, file_format: str | None, *, lines_per_bucket: int) -> int:
    """How many buckets a file source's lines go into (1: read whole, not spilled).

    Parquet files (one, or a folder's) say how many rows they hold; a CSV's lines are
    estimated from its size. Workbooks and databases are read whole.
    """
    if path is None or file_format not in ("csv", "parquet"):
        return 1
    if file_format == "parquet":
        try:
            lines = parquet_files("orders", path).scan().select(pl.len()).collect().item()
        except (ParquetSourceError, pl.exceptions.PolarsError):
            return 1  # not readable as Parquet: the extract names the problem
    elif path.is_file():
        lines = path.stat().st_size // CSV_BYTES_PER_LINE
    else:
        return 1
    return max(1, math.ceil(lines / lines_per_bucket))


def bucket_of(line_key: Sequence[str] | None, count: int, *, columns: Sequence[str]) -> pl.Expr:
    """Each line's bucket in 0..count-1.

    Lines compared with each other share a bucket: two lines with one whole line key
    (a duplicate), two identical lines. Where the key includes the order id (the
    default keys do) a line goes by its order id, so an order's lines are summed in
    one bucket; else by its whole line key. A line without one goes by its customer.
    """
    by_customer = pl.col("customer_id").hash(BUCKET_SEED)
    if not cuts_whole_purchases(line_key, columns):
        pass  # a line key without the order id: by the key, below
    elif "order_id" not in columns:  # a till's log: orders are a customer's days
        return (by_customer % count).alias(BUCKET)
    else:
        order = pl.col("order_id")
        return (
            pl.when(order.is_not_null()).then(order.hash(BUCKET_SEED)).otherwise(by_customer)
            % count
        ).alias(BUCKET)
    assert line_key  # a key without the order id
    # One expression per part: a partition key takes no multi-column selector.
    whole = pl.all_horizontal(*(pl.col(part).is_not_null() for part in line_key))
    keyed = pl.struct(*(pl.col(part) for part in line_key)).hash(BUCKET_SEED)
    return (pl.when(whole).then(keyed).otherwise(by_customer) % count).alias(BUCKET)


def cuts_whole_purchases(line_key: Sequence[str] | None, columns: Sequence[str]) -> bool:
    """Whether `bucket_of` keeps each purchase's lines in one bucket: the buckets go by
    order id (or, without one, by customer), unless a line key without the order id
    decides them."""
    return not line_key or "order_id" in line_key or "order_id" not in columns


def keeper(folder: Path | None) -> Keep:
    """Where a refresh keeps its frames of one row per purchase: in memory, or, when its
    lines were spilled, in files beside them (read back as scans, never all held)."""
    if folder is None:
        return kept_in_memory
    numbers = itertools.count()
    # A folder of this keeper's own: two keepers of one run (the transform's, the
    # profile's) never write one file.
    kept = folder / "kept" / uuid.uuid4().hex

    def on_disk(frames: Sequence[pl.LazyFrame]) -> tuple[pl.LazyFrame, ...]:
        paths = [kept / f"{next(numbers):05d}.ipc" for _ in frames]
        kept.mkdir(parents=True, exist_ok=True)
        group_runner().run(
            [partial(_sink_ipc, frame, path) for frame, path in zip(frames, paths, strict=True)]
        )
        return tuple(pl.scan_ipc(path) for path in paths)

    return on_disk


def by_customer(folder: Path | None, count: int) -> Regroup:
    """How a refresh regroups rows summed a bucket of lines at a time (its purchases,
    the products each customer bought) by customer: in memory as one group, or, when
    its lines were spilled, into `count` groups on disk (a fixed hash of the customer),
    each written a part at a time and read back as a scan."""
    if folder is None:
        return as_one_group

    def on_disk(frames: Sequence[pl.LazyFrame]) -> tuple[pl.LazyFrame, ...]:
        target = Path(tempfile.mkdtemp(prefix="by-customer-", dir=folder))
        group = (pl.col("customer_id").hash(CUSTOMER_SEED) % count).alias(CUSTOMER_BUCKET)
        runner = group_runner()
        if isinstance(runner, Shuffles):  # Spark's shuffle: a file per group, not per part too
            runner.regroup(frames, key=group, target=target / "part00000")
        else:
            runner.run(
                [
                    partial(
                        _sink_partitioned,
                        frame,
                        target / f"part{number:05d}",
                        key=group,
                        count=count,
                    )
                    for number, frame in enumerate(frames)
                ]
            )
        groups = []
        for number in range(count):
            # Sorted: a group's rows are read in the same order in every run.
            files = sorted(target.glob(f"part{'[0-9]' * 5}/{CUSTOMER_BUCKET}={number}/*.ipc"))
            if files:
                groups.append(pl.scan_ipc(files))
        if not groups:  # no purchase at all: one empty group of the purchases' columns
            return (pl.LazyFrame(schema=frames[0].collect_schema()) if frames else pl.LazyFrame(),)
        return tuple(groups)

    return on_disk


def spill(
    rows: pl.LazyFrame, *, folder: Path, line_key: Sequence[str] | None, count: int
) -> SpilledRows:
    """Write `rows` into `count` buckets under `folder` in one streaming pass.

    Raises:
        polars.exceptions.PolarsError: the source could not be read past its header
            (the caller names the place, as for a source read whole).
    """
    target = folder / "extracted"
    schema = rows.collect_schema()
    _sink_partitioned(
        rows, target, key=bucket_of(line_key, count, columns=schema.names()), count=count
    )
    buckets = []
    for number in range(count):
        # Files in name order: a bucket's rows come back in the order they were written.
        buckets.append(tuple(sorted((target / f"{BUCKET}={number}").glob("*.ipc"))))
    return SpilledRows(
        folder=folder,
        buckets=tuple(buckets),
        schema=schema,
        whole_purchases=cuts_whole_purchases(line_key, schema.names()),
    )


@contextmanager
def written_aside(path: Path) -> Iterator[Path]:
    """A name beside `path` to write a file or folder to, renamed to `path` once whole:
    a task run twice (a retry, a speculative copy on Spark) leaves one whole file, or
    one whole folder (the first to finish)."""
    aside = path.with_name(f"{path.name}.{uuid.uuid4().hex}.partial")
    yield aside
    if not aside.exists():  # nothing written (a partitioned sink of no rows)
        return
    if not aside.is_dir():
        aside.replace(path)
        return
    try:
        aside.rename(path)
    except OSError:  # another run of the same task finished first: its folder stands
        shutil.rmtree(aside, ignore_errors=True)


def _sink_ipc(frame: pl.LazyFrame, path: Path) -> None:
    with written_aside(path) as aside:
        frame.sink_ipc(aside, compression=SPILL_COMPRESSION)


def _sink_partitioned(frame: pl.LazyFrame, target: Path, *, key: pl.Expr, count: int) -> None:
    with written_aside(target) as aside:
        _sink_into(frame, aside, key=key, count=count)


def _sink_into(frame: pl.LazyFrame, target: Path, *, key: pl.Expr, count: int) -> None:
    """`frame` written in one streaming pass to `target/<key name>=<key>/*.ipc`."""
    frame.sink_ipc(
        pl.PartitionBy(
            target,
            key=key,
            include_key=False,
            # Each partition's rows are held until its file is written: files of a bounded
            # number of rows keep that to about SPILL_BUFFER_ROWS over all partitions.
            max_rows_per_file=max(MIN_ROWS_PER_FILE, SPILL_BUFFER_ROWS // count),
            approximate_bytes_per_file=None,
        ),
        mkdir=True,
        compression=SPILL_COMPRESSION,
    )


@contextmanager
def streamed(spilled: Path | None) -> Iterator[None]:
    """Plans run on polars' streaming engine while a stage reads spilled lines (the
    in-memory engine would load every line a plan scans); unchanged otherwise."""
    if spilled is None:
        yield
        return
    with pl.Config(engine_affinity="streaming"):
        yield


def spill_area(parent: Path | None) -> Path:
    """A new folder for one run's spilled lines (under `parent`, else the system's
    temporary folder), removed by `release` or when the process exits."""
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=SPILL_PREFIX, dir=parent))
    _areas.add(folder)
    return folder


def validated_lines_path(folder: Path, bucket: int) -> Path:
    """Where one bucket's validated, typed lines are written."""
    path = folder / "validated" / f"{bucket:05d}.ipc"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def release(folder: Path | None) -> None:
    """Remove a run's spill area (nothing when the run spilled nothing)."""
    if folder is None:
        return
    shutil.rmtree(folder, ignore_errors=True)
    _areas.discard(folder)


@atexit.register
def _release_all() -> None:
    for folder in sorted(_areas):
        shutil.rmtree(folder, ignore_errors=True)
    _areas.clear()
