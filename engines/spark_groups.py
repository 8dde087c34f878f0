"""The plans of a refresh's groups run on Spark's executors.

Produces `OnExecutors(session, folder)`, a `transforms.purchases.GroupRunner`:
each plan of one group (a bucket of order lines, a group of whole customers) is
pickled with its polars plan, sent to an executor as one row of a Spark
DataFrame, and run there (`mapInArrow`); what a plan makes is written by the
executor to the run's spill area (`folder`), whole, and read back here. So the
work that reads order lines or purchases (summing lines into purchases,
regrouping them by customer, measuring each customer, totalling each tier) is
done by the executors, and this process reads only what they return: one row per
customer, or a few totals.

Regrouping rows summed a bucket at a time by customer (`sources.buckets.by_customer`)
goes through Spark's shuffle (`OnExecutors.regroup`): each bucket's rows are cut by
group into Arrow chunks, and one task per group writes its chunks, in bucket order,
to one file: a file per group, where each bucket writing its own share would make
buckets × groups files (10^8 at 10^4 buckets).

The plans read and write files of the spill area: it must be a folder the
executors reach (any folder on `local[N]`, a shared mount on a cluster).
"""

from __future__ import annotations

import io
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from engines.spark_lines import (
    SparkStepError,
    cause,
    executor_task_started,
    is_connect,
    no_pandas_warning,
    written_whole,
)
from sources.buckets import SPILL_COMPRESSION
from transforms.purchases import InThisProcess

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

TASK = "task"


class OnExecutors(InThisProcess):
    """A `GroupRunner` whose plans and tasks run on the session's executors (one alone
    runs here: a Spark job would only add its start-up)."""

    def __init__(self, session: SparkSession, folder: Path) -> None:
        self.session, self.folder = session, folder

    def run(self, tasks: Sequence[Callable[[], object]]) -> None:
        """Each task run once, on an executor (one Spark job for all of them)."""
        if len(tasks) <= 1:
            return super().run(tasks)
        run_on_executors(self.session, tasks)

    def collect(self, plans: Sequence[pl.LazyFrame]) -> list[pl.DataFrame]:
        """Each plan's rows, collected on an executor and read back here."""
        if len(plans) <= 1:
            return super().collect(plans)
        target = self.folder / "collected" / uuid.uuid4().hex
        target.mkdir(parents=True)
        paths = [target / f"{number:05d}.ipc" for number in range(len(plans))]
        try:
            run_on_executors(
                self.session,
                [partial(_collected, plan, path) for plan, path in zip(plans, paths, strict=True)],
            )
            return [pl.read_ipc(path) for path in paths]
        finally:
            shutil.rmtree(target, ignore_errors=True)

    def regroup(self, frames: Sequence[pl.LazyFrame], *, key: pl.Expr, target: Path) -> None:
        """Each frame run on an executor and its rows cut by `key` into chunks (Arrow IPC
        bytes, one per frame and key value), Spark's shuffle bringing each key's chunks
        together, and an executor writing them, in the frames' order, to
        `target/<key name>=<key>/0.ipc`: a file per key, where writing each frame's
        share itself would make a file per frame and key."""
        regroup_on_executors(self.session, frames, key=key, target=target)


def regroup_on_executors(
    session: SparkSession, frames: Sequence[pl.LazyFrame], *, key: pl.Expr, target: Path
) -> None:
    """See `OnExecutors.regroup`.

    Raises:
        SparkStepError: a frame or a write failed (its own error, in one line), or Spark did.
    """
    from pyspark import cloudpickle

    name = key.meta.output_name()
    tasks = _pickled(session, frames)

    def chunks(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        executor_task_started()
        for batch in batches:
            for number, payload in zip(
                batch.column(TASK).to_pylist(), batch.column("payload").to_pylist(), strict=True
            ):
                frame = cloudpickle.loads(payload).with_columns(key).collect()
                found = frame.partition_by(name, as_dict=True, include_key=False)
                keys = [int(value) for (value,) in found]
                yield pa.RecordBatch.from_pydict(
                    {
                        "_key": pa.array(keys, pa.int64()),
                        TASK: pa.array([number] * len(keys), pa.int32()),
                        "payload": pa.array([_ipc(part) for part in found.values()], pa.binary()),
                    }
                )

    def written(table: pa.Table) -> pa.Table:
        import pyarrow as pa

        executor_task_started()
        ordered = table.sort_by(TASK)  # the frames' order
        parts = [pl.read_ipc(io.BytesIO(chunk)) for chunk in ordered.column("payload").to_pylist()]
        value = ordered.column("_key")[0].as_py()
        path = target / f"{name}={value}" / "0.ipc"
        path.parent.mkdir(parents=True, exist_ok=True)
        written_whole(pl.concat(parts, how="vertical"), path, compression=SPILL_COMPRESSION)
        return pa.table({"_key": pa.array([value], pa.int64())})

    try:
        with no_pandas_warning():
            done = (
                tasks.mapInArrow(chunks, f"_key long, {TASK} int, payload binary")
                .groupBy("_key")
                .applyInArrow(written, "_key long")
                .toArrow()
            )
    except Exception as exc:  # the executor's own error, however Spark wraps it
        raise SparkStepError(f"regrouping by customer failed on Spark: {cause(exc)}") from exc
    assert done.num_rows == len(set(done.column("_key").to_pylist()))


def _pickled(session: SparkSession, items: Sequence[object]) -> DataFrame:
    """One row per item (its number, and the item pickled with its plans), a partition
    each: the items run side by side."""
    from pyspark import cloudpickle

    rows = [(number, cloudpickle.dumps(item)) for number, item in enumerate(items)]
    schema = f"{TASK} int, payload binary"
    if is_connect(session):  # no SparkContext: the rows are sent whole, then spread
        return session.createDataFrame(rows, schema).repartition(len(rows))
    # Made in their partitions: a shuffle would add a Spark job to every step.
    return session.createDataFrame(session.sparkContext.parallelize(rows, len(rows)), schema)


def _ipc(frame: pl.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.write_ipc(out, compression="uncompressed")
    return out.getvalue()


def run_on_executors(session: SparkSession, tasks: Sequence[Callable[[], object]]) -> None:
    """Each of `tasks` (picklable, with the plans they hold) run once on an executor.

    Raises:
        SparkStepError: a task failed (its own error, in one line), or Spark did.
    """
    from pyspark import cloudpickle

    frame = _pickled(session, tasks)

    def each(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        executor_task_started()
        for batch in batches:
            numbers = batch.column(TASK).to_pylist()
            for payload in batch.column("payload").to_pylist():
                cloudpickle.loads(payload)()
            yield pa.RecordBatch.from_pydict({TASK: pa.array(numbers, pa.int32())})

    try:
        with no_pandas_warning():
            done = frame.mapInArrow(each, f"{TASK} int").toArrow()
    except Exception as exc:  # the executor's own error, however Spark wraps it
        raise SparkStepError(f"a step of a group failed on Spark: {cause(exc)}") from exc
    # Every task ran (a task Spark retried ran again: each writes whole files).
    assert sorted(set(done.column(TASK).to_pylist())) == list(range(len(tasks)))


def _collected(plan: pl.LazyFrame, path: Path) -> None:
    written_whole(plan.collect(), path, compression="uncompressed")
