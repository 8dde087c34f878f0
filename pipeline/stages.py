"""The stages of a refresh as plain functions: extract, validate, transform, check, publish.

Produces each stage's result for the next (raw text frames, `ValidatedInputs`,
`Computed`, the checked tables, whether the refresh became current). Each
stage logs its row counts and time; the stages that touch other systems do the
I/O, the computing is delegated to the pure functions in `transforms/`. No
Prefect here: `flows.tasks` wraps these as Prefect tasks for a flow run, and
`pipeline.runner.Stages` calls them directly when no Prefect API is configured.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from functools import partial
from pathlib import Path
from typing import TypeVar

import polars as pl

from config.loader import pii_hash_key
from config.settings import Settings
from engines import group_runner_for, lines_on_spark, spark_for
from flows.progress import show_stage
from pipeline.lines_on_spark import LinesOnSpark, lines_for_spark, validated_on_spark
from quality.reports import report_dir
from schemas.cross_checks import (
    duplicate_order_lines,
    identical_order_lines,
    lines_without_package_tier,
    mixed_currencies,
    order_line_key,
    unknown_customers,
)
from schemas.inputs import ROW_NUMBER, SOURCE_COLUMNS, raw_contract
from schemas.outputs import check_outputs
from schemas.quarantine import REJECTED, SourceSplit, empty_quarantine, split_source
from schemas.reasons import REASON, part_columns, reason_parts, without_reason
from schemas.validation import PROBLEM_SCHEMA, screened_problems, summarise_problems
from sources.buckets import (
    SPILL_COMPRESSION,
    SpilledRows,
    bucket_count,
    by_customer,
    keeper,
    release,
    spill,
    spill_area,
    streamed,
    validated_lines_path,
)
from sources.excel import sheet_name
from sources.extract import extract_source, line_key_columns, read_failure, read_source
from transforms.customer_metrics import (
    LineKinds,
    kinds_of_part,
    kinds_of_parts,
    line_kinds,
    metrics_of_purchases,
    valid_order_lines,
)
from transforms.customer_value import CustomerValue, no_customer_value, predict_customer_value
from transforms.identity import (
    CHECKED_KEYS,
    CUSTOMER_COLUMNS,
    IDENTITY_SCHEMA,
    MATCHED_ON,
    REVIEW_SCHEMA,
    merged_customers,
    resolve_identities,
    review_pairs,
    with_resolved_ids,
    without_shared_keys,
)
from transforms.pareto import pareto_curve, pareto_ranks, pareto_summary
from transforms.privacy import Frame, mask_contact_data, protect_pii
from transforms.profiles import attribute_mix, best_customers, with_bands
from transforms.purchases import (
    PROFIT_OF_PURCHASES,
    Regroup,
    group_runner,
    groups_run_by,
    per_customer,
    purchases_in_parts,
    purchases_of_lines,
)
from transforms.revenue_tiers import Tiering, TierRule, tier_revenue
from transforms.rfm import (
    DEFAULT_SEGMENT_MAP,
    PYMC_OTHER,
    PYMC_SEGMENTS,
    RfmRule,
    pymc_rfm_segments,
    rfm_scores,
)
from transforms.segmentation import (
    BASES,
    Condition,
    SegmentRule,
    assign_segments,
    customer_attributes,
    largest_places,
    segment_summary,
)
from transforms.staging import order_values, stage_source, with_line_amounts
from transforms.transitions import TRANSITION_BASES
from warehouse.publish import RunRecord, Warehouse, WarehouseError, open_warehouse
from warehouse.retention import prune
from warehouse.tables import CUSTOMER_SEGMENTS, DATA_TABLES

# Sources the outputs use; all but orders are optional.
USED_SOURCES = ("orders", "customers", "products", "contacts", "leads", "feedback")


PERSONA_ID = "P1"  # the persona of the key tier's best customers


class DataValidationError(Exception):
    """The input cannot be used as it is; nothing was published. The CLI exits 1."""

    def __init__(
        self,
        problems: pl.DataFrame,
        *,
        quarantine: pl.DataFrame | None = None,
        splits: dict[str, SourceSplit] | None = None,
        reasons: list[str] | None = None,
    ) -> None:
        self.problems = problems
        self.report: Path | None = None  # the quarantine CSV, once written
        self.quarantine = quarantine if quarantine is not None else empty_quarantine()
        self.splits = splits or {}
        why = f" ({'; '.join(reasons)})" if reasons else ""
        super().__init__(
            f"{problems.height} problem(s) in the input, nothing published{why}: "
            f"{summarise_problems(problems)}"
        )


def stage_logger() -> logging.Logger | logging.LoggerAdapter:
    """The Prefect run logger inside a flow or task run; a plain logger outside one."""
    if "prefect" not in sys.modules:  # no flow run without Prefect: never import it here
        return logging.getLogger("personas")
    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("personas")


class EmptyRefreshError(Exception):
    """No order line counts up to as_of: publishing would replace good data with nothing."""


class DecimalOverflowError(Exception):
    """A sum of exact money left the range of Decimal(38, scale)."""


class NonPositiveRevenueError(Exception):
    """Total revenue is zero or negative: shares of it, and what they decide, are undefined."""


@contextmanager
def timed(stage: str) -> Iterator[dict[str, object]]:
    """Log how long a stage took, with whatever counts it adds to the dict it yields."""
    facts: dict[str, object] = {}
    show_stage(stage)
    started = time.perf_counter()
    yield facts
    elapsed = time.perf_counter() - started
    counts = ", ".join(f"{key} {value:,}" for key, value in facts.items() if isinstance(value, int))
    stage_logger().info("%s: %s in %.2f s", stage, counts or "done", elapsed)


# A source read whole, its lines spilled by bucket, or its lines for Spark to read.
Extracted = pl.DataFrame | SpilledRows | LinesOnSpark
Aside = TypeVar("Aside", SpilledRows, LinesOnSpark)


def extract(settings: Settings) -> dict[str, Extracted]:
    """Read every configured source that this version uses, as text rows.

    An orders file of more than `[engine] lines_per_bucket` lines is not held: its rows
    are written to local disk in buckets in one streaming pass, and validated a bucket
    at a time. On the Spark engine the orders are read by Spark (`pipeline.
    lines_on_spark`), and validated there a bucket at a time.
    """
    frames: dict[str, Extracted] = {}
    key = pii_hash_key(settings)  # read (or created) once per run, not per source
    for name in USED_SOURCES:
        source = settings.sources.get(name)
        if source is None:
            continue
        with timed(f"extract {name}") as facts:
            if name == "orders" and lines_on_spark(settings.engine):
                frames[name] = _aside(name, settings, partial(_for_spark, name, settings, key))
                facts["buckets"] = settings.engine.buckets
                continue
            buckets = (
                bucket_count(
                    source.path,
                    source.file_format,
                    lines_per_bucket=settings.engine.lines_per_bucket,
                )
                if name == "orders" and source.path is not None
                else 1  # other sources are one row per customer or fewer; tables read whole
            )
            if buckets == 1:
                frames[name] = _prepared(
                    name, read_source(name, source), settings=settings, key=key
                )
                facts["rows"] = frames[name].height
            else:
                frames[name] = _aside(
                    name, settings, partial(_spilled, name, settings, key, buckets)
                )
                facts["buckets"] = buckets
    return frames


def _aside(name: str, settings: Settings, write: Callable[[Path], Aside]) -> Aside:
    """What `write` puts in a new spill area for source `name`; the area removed if it
    fails (a read failure named as for a source read whole)."""
    source = settings.sources[name]
    folder = spill_area(settings.engine.spill_dir)
    try:
        return write(folder)
    except pl.exceptions.PolarsError as exc:
        release(folder)
        raise read_failure(name, source, exc) from None
    except BaseException:
        release(folder)
        raise


def _spilled(name: str, settings: Settings, key: bytes, buckets: int, folder: Path) -> SpilledRows:
    """A large source's rows, as `extract` reads them, written to disk by bucket."""
    source = settings.sources[name]
    rows = _prepared(name, extract_source(name, source), settings=settings, key=key)
    line_key = order_line_key(rows.collect_schema().names(), line_key_columns(source))
    return spill(rows, folder=folder, line_key=line_key, count=buckets)


def _for_spark(name: str, settings: Settings, key: bytes, folder: Path) -> LinesOnSpark:
    """The orders source as Spark reads it; its rows made ready as `_prepared` does, on
    the executors."""
    return lines_for_spark(
        name,
        settings.sources[name],
        folder=folder,
        prepare=partial(_prepared, name, settings=settings, key=key),
        session=spark_for(settings.engine),
        engine=settings.engine,
    )


def _prepared(name: str, rows: Frame, *, settings: Settings, key: bytes) -> Frame:
    """A source's extracted rows with ids mapped and contact data hashed (row by row)."""
    return _without_contact_data(name, _with_mapped_ids(name, rows, settings), settings, key)


def _with_mapped_ids(name: str, rows: Frame, settings: Settings) -> Frame:
    """Another system's customer ids written as the customers source's (`[identity]
    id_map`), in the columns that name a customer, before anything checks them."""
    column = CUSTOMER_COLUMNS.get(name)
    id_map = settings.identity.id_map
    if not settings.identity.enabled or not id_map or column not in rows.collect_schema():
        return rows
    return rows.with_columns(pl.col(column).replace(id_map))


def _without_contact_data(name: str, rows: Frame, settings: Settings, key: bytes) -> Frame:
    """Hash or mask e-mails and phone numbers before anything else sees the rows."""
    columns = SOURCE_COLUMNS[name]
    # Orders' own text columns are short codes (status, currency): no free text to mask.
    free_text = [] if name == "orders" else [c.name for c in columns if c.kind == "text"]
    return protect_pii(
        rows,
        key=key,
        # A tax code is a key, not a contact: a 10-digit code starting with 0 only looks
        # like a phone number.
        id_columns=[c.name for c in columns if c.kind == "id" and c.name != "tax_code"],
        text_columns=[*free_text, *settings.sources[name].extra_columns],
        pii_columns=settings.privacy.pii_columns,
        hash_contact_ids=settings.privacy.hash_contact_ids,
        country_code=settings.privacy.phone_country_code,
    )


@dataclass(frozen=True)
class ValidatedInputs:
    """Staged, typed inputs: the rows that passed their contracts, and the quarantine."""

    orders: pl.LazyFrame
    customers: pl.LazyFrame | None
    products: pl.LazyFrame | None
    contacts: pl.LazyFrame | None
    leads: pl.LazyFrame | None
    feedback: pl.LazyFrame | None
    rows_in: int
    rows_rejected: int
    quarantine: pl.DataFrame  # QUARANTINE_SCHEMA: one row per problem found
    counts: dict[str, tuple[int, int]]  # source -> (rows in, rows rejected)
    # Accepted order lines identical to an earlier one: separate purchases, kept and counted.
    identical_lines: int = 0
    # Which customers records are one customer (IDENTITY_SCHEMA; empty: not resolved).
    identity: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=IDENTITY_SCHEMA))
    # Pairs the probabilistic model was unsure of (REVIEW_SCHEMA), for a person to decide.
    review: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=REVIEW_SCHEMA))
    notes: tuple[str, ...] = ()  # for the run record: the identity resolution
    # Where the order lines were spilled (`sources.buckets`); released after the run.
    spilled: Path | None = None
    # The same lines as `orders`, a bucket each, when spilled; whether each purchase's
    # lines are in one part (else the parts' sums are merged).
    order_parts: tuple[pl.LazyFrame, ...] = ()
    whole_purchases: bool = True
    # What the order lines say of how they are read, found as spilled lines are validated
    # (None: found when the lines are first read).
    order_kinds: LineKinds | None = None

    @property
    def rows_accepted(self) -> int:
        """Input rows that go on (rows_in − rows_rejected)."""
        return self.rows_in - self.rows_rejected


# Rows of a source that name a customer: checked against customers when it is given.
CUSTOMER_REFERENCES = (
    ("orders", "customer_id"),
    ("contacts", "customer_id"),
    ("feedback", "customer_id"),
    ("leads", "converted_customer_id"),
)


def validate(raw: dict[str, Extracted], settings: Settings) -> ValidatedInputs:
    """Check every source against its contract and across sources; quarantine bad rows.

    Rejected rows go to the quarantine with their problem; the rest are staged and go
    on. Rows in = rows accepted + rows rejected, per source. Spilled order lines are
    checked a bucket at a time, and their accepted lines written back to disk, where
    the later stages scan them.

    Raises:
        DataValidationError: a source cannot be used (a required column is missing,
            currencies are mixed) or rejects more than its `max_rejected_share`.
    """
    spilled = next(
        (rows.folder for rows in raw.values() if isinstance(rows, SpilledRows | LinesOnSpark)),
        None,
    )
    try:
        return _validated(raw, settings, spilled)
    except BaseException:
        release(spilled)  # nothing goes on: the spilled lines are not needed
        raise


def _validated(
    raw: dict[str, Extracted], settings: Settings, spilled: Path | None
) -> ValidatedInputs:
    splits: dict[str, SourceSplit] = {}
    fatal: list[pl.DataFrame] = []
    # An Excel source's problems name its sheet (their row numbers are the sheet's).
    sheets = {
        name: sheet_name(source.path, source.sheet or 1)
        for name, source in settings.sources.items()
        if name in raw and source.path is not None and source.file_format == "excel"
    }
    staged: dict[str, pl.LazyFrame] = {}
    identical_lines = 0
    order_parts: tuple[pl.LazyFrame, ...] = ()
    order_kinds: LineKinds | None = None
    whole_purchases = True
    # Lines in buckets last: each bucket is checked against the customers as it is read.
    for name in sorted(raw, key=lambda name: not isinstance(raw[name], pl.DataFrame)):
        rows = raw[name]
        with timed(f"validate {name}") as facts:
            if not isinstance(rows, pl.DataFrame):
                checked = (
                    _validate_spilled(name, rows, settings, staged.get("customers"))
                    if isinstance(rows, SpilledRows)
                    else _validate_on_spark(name, rows, settings, staged.get("customers"))
                )
                identical_lines, order_parts = checked.identical_lines, checked.parts
                order_kinds = checked.kinds
                whole_purchases = rows.whole_purchases
            else:
                checked = _validate_rows(name, rows, settings, sheets.get(name))
            splits[name], staged[name] = checked.split, checked.staged
            fatal.append(checked.fatal)
            facts["rows"], facts["rejected"] = checked.split.rows_in, checked.split.rows_rejected
    unusable = pl.concat([pl.DataFrame(schema=PROBLEM_SCHEMA), *fatal])
    if not unusable.is_empty():  # e.g. a required column is missing: nothing to stage
        raise DataValidationError(unusable, splits=splits)
    done = {name for name, rows in raw.items() if not isinstance(rows, pl.DataFrame)}
    for name, problems in _cross_source_problems(staged, skip=done).items():
        splits[name], staged[name] = _split_again(
            name, splits[name], staged[name], problems, sheets.get(name)
        )
    if "orders" in staged:
        fatal.append(mixed_currencies(staged["orders"], currency=settings.money.currency))
        if settings.tiers.rule == "package" and "products" in staged:
            fatal.append(
                lines_without_package_tier(
                    staged["orders"], staged["products"], packages=settings.tiers.packages
                )
            )
        if "orders" not in done:
            identical_lines = _identical_lines(raw["orders"], staged["orders"], settings)  # type: ignore[arg-type]
    # In source order, each source's problems by row: the same quarantine however the
    # lines were read (whole, or bucket by bucket).
    splits = {name: _in_row_order(split) for name, split in splits.items()}
    quarantine = pl.concat(
        [empty_quarantine(), *(splits[name].quarantine for name in raw if name in splits)]
    )
    reasons, over_threshold = _past_threshold(splits, settings)
    blocking = pl.concat([pl.DataFrame(schema=PROBLEM_SCHEMA), *fatal, *over_threshold])
    if not blocking.is_empty():
        raise DataValidationError(blocking, quarantine=quarantine, splits=splits, reasons=reasons)
    return ValidatedInputs(
        orders=staged["orders"],
        customers=staged.get("customers"),
        products=staged.get("products"),
        contacts=staged.get("contacts"),
        leads=staged.get("leads"),
        feedback=staged.get("feedback"),
        rows_in=sum(split.rows_in for split in splits.values()),
        rows_rejected=sum(split.rows_rejected for split in splits.values()),
        quarantine=quarantine,
        counts={name: (splits[name].rows_in, splits[name].rows_rejected) for name in raw},
        identical_lines=identical_lines,
        spilled=spilled,
        order_parts=order_parts,
        whole_purchases=whole_purchases,
        order_kinds=order_kinds,
    )


@dataclass(frozen=True)
class _Checked:
    """One source after its own contract (and, when spilled, the cross-source checks)."""

    split: SourceSplit  # its quarantine in row order
    staged: pl.LazyFrame  # the accepted rows as later stages read them
    fatal: pl.DataFrame  # problems of the whole source (PROBLEM_SCHEMA, no row number)
    identical_lines: int = 0
    parts: tuple[pl.LazyFrame, ...] = ()  # the accepted rows, a bucket each (spilled)
    kinds: LineKinds | None = None  # of the accepted rows, when found as they were written


def _validate_rows(
    name: str, rows: pl.DataFrame, settings: Settings, sheet: str | None
) -> _Checked:
    """One source read whole (or one bucket of spilled lines) against its contract."""
    # Each row is parsed once: the screen reads these values, and the accepted rows go
    # on as they are.
    values = _stage(name, rows, settings)
    problems = _contract_problems(name, rows, settings, values)
    split = split_source(
        name, rows, problems.filter(pl.col("row_number").is_not_null()), values, sheet=sheet
    )
    return _Checked(
        split=split,
        staged=_completed(name, split.accepted),
        fatal=problems.filter(pl.col("row_number").is_null()),
    )


def check_bucket(
    name: str, bucket: pl.DataFrame, settings: Settings, customers: pl.LazyFrame | None
) -> _Checked:
    """One bucket of a source's lines against the contract, its accepted lines against
    the customers, its identical lines counted (in whichever process holds the bucket:
    this one, or a Spark executor)."""
    checked = _validate_rows(name, bucket, settings, None)
    if not checked.fatal.is_empty():  # the run stops: nothing else is worth finding
        return checked
    split, staged = checked.split, checked.staged
    problems = _unknown_customer_rows(name, staged, customers)
    if not problems.is_empty():
        split, staged = _split_again(name, split, staged, problems, None)
    return _Checked(
        split=split,
        staged=staged,
        fatal=checked.fatal,
        identical_lines=_identical_lines(bucket, staged, settings),
    )


def _validate_spilled(
    name: str, rows: SpilledRows, settings: Settings, customers: pl.LazyFrame | None
) -> _Checked:
    """Spilled lines a bucket at a time: each bucket checked (`check_bucket`), its
    accepted lines written to disk. Every comparison between lines is within a bucket
    (see `sources.buckets`)."""
    quarantines, fatal, written, kinds = [], [], [], []
    rows_in = rows_rejected = identical = 0
    for number, bucket in enumerate(rows.frames()):
        checked = check_bucket(name, bucket, settings, customers)
        split, staged = checked.split, checked.staged
        fatal.append(checked.fatal)
        if checked.fatal.is_empty():  # else the run stops once every bucket is counted
            identical += checked.identical_lines
            path = validated_lines_path(rows.folder, number)
            accepted = staged.collect()
            accepted.write_ipc(path, compression=SPILL_COMPRESSION)
            written.append(path)
            # Read off the bucket in memory: the transform needs no pass of its own for it.
            kinds.append(kinds_of_part(accepted))
        quarantines.append(split.quarantine)
        rows_in, rows_rejected = rows_in + split.rows_in, rows_rejected + split.rows_rejected
    split = SourceSplit(
        accepted=pl.DataFrame(),  # on disk: `staged` scans it
        quarantine=pl.concat([empty_quarantine(), *quarantines]),
        rows_in=rows_in,
        rows_rejected=rows_rejected,
    )
    return _Checked(
        split=split,
        staged=pl.scan_ipc(written) if written else pl.LazyFrame(),
        parts=tuple(pl.scan_ipc(path) for path in written),
        kinds=kinds_of_parts(kinds) if kinds else None,
        # Each bucket has the file's columns: a file-level problem is found in each.
        fatal=pl.concat([pl.DataFrame(schema=PROBLEM_SCHEMA), *fatal]).unique(maintain_order=True),
        identical_lines=identical,
    )


def _validate_on_spark(
    name: str, lines: LinesOnSpark, settings: Settings, customers: pl.LazyFrame | None
) -> _Checked:
    """The lines read and checked on Spark a bucket at a time, by `check_bucket`; their
    accepted lines left on disk by bucket, as spilled lines are."""
    session = spark_for(settings.engine)
    assert session is not None  # the lines were extracted for Spark
    found = validated_on_spark(
        session,
        lines,
        buckets=settings.engine.buckets,
        check=partial(_check_against, name, settings=settings),
        customers=None if customers is None else customers.select("customer_id").collect(),
    )
    return _Checked(
        split=found.split,
        staged=pl.concat(found.parts, how="vertical"),
        parts=found.parts,
        fatal=found.fatal,
        identical_lines=found.identical_lines,
    )


def _check_against(
    name: str, bucket: pl.DataFrame, customers: pl.DataFrame | None, *, settings: Settings
) -> _Checked:
    """`check_bucket` with the known customers' ids as Spark hands them over."""
    return check_bucket(name, bucket, settings, None if customers is None else customers.lazy())


def _split_again(
    name: str,
    split: SourceSplit,
    staged: pl.LazyFrame,
    problems: pl.DataFrame,
    sheet: str | None,
) -> tuple[SourceSplit, pl.LazyFrame]:
    """A source's accepted rows split again by the cross-source `problems`."""
    again = split_source(name, staged.collect(), problems, sheet=sheet)
    merged = SourceSplit(
        accepted=again.accepted,
        quarantine=pl.concat([split.quarantine, again.quarantine]),
        rows_in=split.rows_in,
        rows_rejected=split.rows_rejected + again.rows_rejected,
    )
    return merged, again.accepted.lazy()


def _in_row_order(split: SourceSplit) -> SourceSplit:
    """The split with its quarantine by row number (a row's problems in the order found)."""
    return replace(split, quarantine=split.quarantine.sort("row_number", maintain_order=True))


def resolve_customers(inputs: ValidatedInputs, settings: Settings) -> ValidatedInputs:
    """The inputs with one customer per resolved identity (`[identity]`): the customers
    records merged, and every source's customer ids rewritten to the resolved ones."""
    identity = settings.identity
    if not identity.enabled or inputs.customers is None:
        return inputs
    with timed("resolve identities") as facts:
        present = inputs.customers.collect_schema().names()
        wanted = [*identity.match_on, *(MATCHED_ON if identity.probabilistic else ())]
        records, crowded = without_shared_keys(
            inputs.customers.select(
                "customer_id", *[c for c in dict.fromkeys(wanted) if c in present]
            ).collect(),
            identity.match_on,
            identity.max_records_per_key,
        )
        resolve = partial(
            resolve_identities,
            keys=identity.match_on,
            force_merge=identity.force_merge,
            never_merge=identity.never_merge,
        )
        found = resolve(records)
        pairs = None
        if identity.probabilistic:
            from transforms.identity_matching import scored_pairs

            # the records the exact rules joined teach the model what one customer looks like
            pairs = scored_pairs(
                records.join(found.labels, on="customer_id", how="left"),
                min_probability=identity.review_threshold,
                blocking=identity.blocking,
                spark=spark_for(settings.engine),
                every_pair_sharing=[k for k in identity.match_on if k in CHECKED_KEYS]
                if identity.check_keys
                else (),
            )
            probable = pairs.filter(pl.col("probability") >= identity.match_threshold)
            # only pairs sharing a key come back below the review threshold
            ruled_out = pairs.filter(pl.col("probability") < identity.review_threshold)
            found = resolve(records, probable=probable, ruled_out=ruled_out)
        review = review_pairs(pairs, found, below=identity.match_threshold)
        facts["records"], facts["customers"] = (
            records.height,
            found.identity["customer_id"].n_unique(),
        )
    for note in (*crowded, *found.notes):
        stage_logger().info("%s", note)
    sources = {
        name: getattr(inputs, name)
        for name in CUSTOMER_COLUMNS
        if getattr(inputs, name) is not None
    }
    return replace(
        inputs,
        customers=merged_customers(inputs.customers, found).collect().lazy(),
        **{
            name: with_resolved_ids(frame, CUSTOMER_COLUMNS[name], found)
            for name, frame in sources.items()
        },
        order_parts=tuple(
            with_resolved_ids(part, CUSTOMER_COLUMNS["orders"], found)
            for part in inputs.order_parts
        ),
        # A customer merged from records in two buckets may have one day's lines in both.
        whole_purchases=inputs.whole_purchases and found.mapping.is_empty(),
        identity=found.identity,
        review=review,
        notes=(
            *crowded,
            *found.notes,
            *([f"identity review: {review.height:,} uncertain pairs"] if pairs is not None else []),
        ),
    )


def _order_line_key(rows: pl.DataFrame, settings: Settings) -> list[str] | None:
    return order_line_key(rows.columns, line_key_columns(settings.sources["orders"]))


def _identical_lines(raw: pl.DataFrame, accepted: pl.LazyFrame, settings: Settings) -> int:
    """Accepted order lines identical, as read, to an earlier accepted line."""
    return identical_order_lines(raw, key=_order_line_key(raw, settings), kept=accepted)


def _contract_problems(
    name: str, rows: pl.DataFrame, settings: Settings, values: pl.DataFrame
) -> pl.DataFrame:
    contract = raw_contract(
        name,
        scale=settings.money.scale,
        date_format=settings.sources[name].date_format,
        max_line_amount=settings.money.max_line_amount,
        extra_columns=settings.sources[name].extra_columns,
        statuses=settings.statuses.as_mapping(),
    )
    # A value in the wrong column can be contact data (an e-mail in a shifted row): masked
    # here, before it reaches the quarantine, a report or an error message.
    problems = screened_problems(name, rows, contract, values).with_columns(
        mask_contact_data(pl.col("value"))
    )
    if name == "orders" and problems.filter(pl.col("row_number").is_null()).is_empty():
        duplicates = duplicate_order_lines(
            rows,
            key=_order_line_key(rows, settings),
            reject_identical=settings.sources[name].reject_identical_lines,
        )
        problems = pl.concat([problems, duplicates])
    return problems


def _stage(name: str, rows: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    """Every row of a source typed (null where a value does not parse); orders' amounts
    are completed only once their lines are accepted (`_completed`)."""
    stage = (
        partial(order_values, statuses=settings.statuses.as_mapping())
        if name == "orders"
        else partial(stage_source, name)
    )
    source = settings.sources[name]
    return stage(
        rows.lazy(),
        scale=settings.money.scale,
        date_format=source.date_format,
        extra_columns=source.extra_columns,
        # The in-memory engine keeps the columns chunked alike: the streaming engine's
        # unevenly chunked output is copied whole by the next drop or select.
    ).collect(engine="in-memory")


def _completed(name: str, accepted: pl.DataFrame) -> pl.LazyFrame:
    """The accepted rows as later stages read them (orders: every line with its amount)."""
    if name == "orders":
        # Computed once and kept: every later plan starts from the finished lines.
        return with_line_amounts(accepted.lazy()).collect().lazy()
    return accepted.lazy()


def _cross_source_problems(
    staged: dict[str, pl.LazyFrame], *, skip: set[str]
) -> dict[str, pl.DataFrame]:
    """Rows naming a customer the customers source lacks (only when customers is given);
    the sources in `skip` were checked bucket by bucket."""
    found = {
        name: _unknown_customer_rows(name, staged[name], staged.get("customers"))
        for name in staged
        if name not in skip
    }
    return {name: problems for name, problems in found.items() if not problems.is_empty()}


def _unknown_customer_rows(
    name: str, rows: pl.LazyFrame, customers: pl.LazyFrame | None
) -> pl.DataFrame:
    """Rows of source `name` naming a customer that `customers` lacks (none when the
    source names no customer or no customers source is given)."""
    column = dict(CUSTOMER_REFERENCES).get(name)
    if customers is None or column is None:
        return pl.DataFrame(schema=PROBLEM_SCHEMA)
    return unknown_customers(rows, name, column, customers)


def _past_threshold(
    splits: dict[str, SourceSplit], settings: Settings
) -> tuple[list[str], list[pl.DataFrame]]:
    """Each source that rejected more than its max_rejected_share: why, and its problems."""
    reasons, problems = [], []
    for name, split in splits.items():
        limit = settings.sources[name].max_rejected_share
        if split.rows_in and split.rows_rejected > limit * split.rows_in:
            reasons.append(
                f"{name}: {split.rows_rejected:,} of {split.rows_in:,} rows rejected "
                f"({split.rows_rejected / split.rows_in:.1%}), above "
                f"sources.{name}.max_rejected_share {float(limit):.1%}"
            )
            rejected = split.quarantine.filter(pl.col("action") == REJECTED)
            problems.append(rejected.select(list(PROBLEM_SCHEMA)))
    return reasons, problems


@dataclass(frozen=True)
class Computed:
    """What transform hands to the profile stage, besides the tables."""

    tables: dict[str, pl.DataFrame]
    customers: pl.DataFrame  # one row per customer: attributes, segments, is_best_customer
    tiering: Tiering
    best_basis: str
    lead_days: pl.LazyFrame | None  # customer_id, lead_to_order_days where leads say
    notes: tuple[str, ...] = ()  # for the run record: the customer-value fit
    # The valid lines, a bucket each, when they were spilled (else `tiering.lines`)
    line_parts: tuple[pl.LazyFrame, ...] = ()
    lines_after: int = 0  # staged order lines dated after as_of (ignored, not problems)

    @property
    def key_tier(self) -> str:
        return self.tiering.key_tier


def transform(
    inputs: ValidatedInputs, settings: Settings, as_of: date, config_hash: str = ""
) -> Computed:
    """Customer metrics, Pareto, tiers, RFM, segments and best customers, in lazy plans."""
    with (
        timed("transform") as facts,
        _overflow_named(inputs.orders, settings),
        in_groups(inputs, settings),
    ):
        # The valid lines stay a plan over the staged lines (kept, they would be a second
        # copy of every line); they are summed once per order, and the metrics, tiers and
        # best customers read those orders.
        kinds = inputs.order_kinds or line_kinds(inputs.order_parts or inputs.orders)
        lines = valid_order_lines(inputs.orders, as_of=as_of, kinds=kinds)
        # Spilled lines are summed a bucket at a time and their purchases regrouped by
        # customer on disk: what is measured per customer is measured a group at a time,
        # and what is kept of one row per purchase is kept beside them.
        keep = keeper(inputs.spilled)
        regroup = by_customer(inputs.spilled, len(inputs.order_parts))
        line_parts = tuple(
            valid_order_lines(part, as_of=as_of, kinds=kinds) for part in inputs.order_parts
        )
        order_groups = (
            purchases_in_parts(
                line_parts,
                whole=inputs.whole_purchases,
                regroup=regroup,
            )
            if inputs.order_parts
            else (purchases_of_lines(lines).collect().lazy(),)
        )
        orders = pl.concat(order_groups, how="vertical")
        metrics = (
            per_customer(order_groups, partial(metrics_of_purchases, as_of=as_of))
            .collect()
            .sort("customer_id")
            .lazy()
        )
        ranked = pareto_ranks(
            metrics,
            class_a_share=settings.pareto.class_a_share,
            class_b_share=settings.pareto.class_b_share,
        )
        lead_days = days_from_lead_to_order(inputs.leads, metrics)
        tiering = tier_revenue(
            ranked,
            lines,
            tier_rule(settings),
            as_of=as_of,
            products=inputs.products,
            lead_days=lead_days,
            orders=order_groups,
            keep=keep,
            line_parts=line_parts,
            regroup=regroup,
        )
        tiered, summary, key_tier = tiering.customers, tiering.summary, tiering.key_tier
        value = predicted_value(order_groups, settings, as_of)
        scored = _with_rfm(tiered, line_parts or lines, settings, as_of, regroup).join(
            value.predictions.lazy().with_columns(
                pl.col("predicted_clv")
                .round(settings.money.scale)
                .cast(orders.collect_schema()["amount"])
            ),
            on="customer_id",
            how="left",
        )
        attributes = customer_attributes(scored, inputs.customers, as_of=as_of)
        segmented = assign_segments(attributes, bases=segment_bases(settings, attributes)).cache()
        base_reasons = [f"{base}_reason" for base in BASES]
        chosen = (
            choose_best_customers(
                segmented, tiering.purchase_groups, lead_days, settings, key_tier=key_tier
            )
            .with_columns(
                persona_id=pl.when("is_best_customer").then(pl.lit(PERSONA_ID)),
                # The reason is kept as its parts (categoricals) and joined as it is
                # checked and published (`schemas.reasons`): the text is a customer's
                # longest, hundreds of bytes, most of it repeated.
                **reason_parts(
                    [
                        pl.col("tier_reason"),
                        pl.format("Pareto class {}", pl.col("pareto_class")),
                        pl.col("rfm_reason"),
                        *(pl.col(column) for column in base_reasons),
                        pl.format(
                            "best customer: {} ({})",
                            pl.when("is_best_customer").then(pl.lit("yes")).otherwise(pl.lit("no")),
                            pl.col("best_basis"),
                        ),
                        pl.lit(f"config {config_hash[:12]}"),
                    ]
                ),
            )
            .drop("tier_reason", "rfm_reason", *base_reasons)
        )
        mix = attribute_mix(
            banded(segmented, settings),
            attributes=company_attributes(settings, inputs),
            min_people=settings.personas.min_people,
        )
        customers, pareto_row, curve, by_segment, mix_frame = pl.collect_all(
            [
                chosen.sort("customer_id"),
                pareto_summary(tiered, top_share=settings.pareto.top_share),
                pareto_curve(tiered),
                segment_summary(segmented),
                mix,
            ]
        )
        facts["customers"] = customers.height
        facts["best customers"] = int(customers["is_best_customer"].sum())
        lines_after = _lines_after(inputs.order_parts or (inputs.orders,), as_of)
    total = pareto_row["revenue"].item() if pareto_row.height else None
    if not customers.is_empty() and total is not None and total <= 0:
        raise NonPositiveRevenueError(
            f"total revenue as of {as_of} is {total:,} {settings.money.currency} (refunds "
            "exceed sales): revenue shares, the key tier, the Pareto curve and the persona "
            "have no meaning, nothing published; check --as-of, the refund statuses in "
            "[statuses] and the sign of refund lines"
        )
    if customers.is_empty():
        raise EmptyRefreshError(
            f"no valid order line dated on or before as_of {as_of} (all later, or cancelled); "
            "nothing published: check --as-of and sources.orders.date_format"
        )
    published = CUSTOMER_SEGMENTS.column_names
    at = published.index(REASON)
    tables = {
        # The reason in parts, where it stands in the contract (joined as it is published).
        "customer_segments": customers.select(
            *published[:at], *part_columns(customers.columns), *published[at + 1 :]
        ),
        "tier_summary": summary,
        "pareto_summary": pareto_row,
        "pareto_curve": curve,
        "segment_summary": by_segment,
        "attribute_mix": mix_frame,
        "clv_model": value.model,
    }
    return Computed(
        tables,
        customers,
        tiering,
        customers["best_basis"][0],
        lead_days,
        tuple(value.notes),
        line_parts,
        lines_after,
    )


@contextmanager
def in_groups(inputs: ValidatedInputs, settings: Settings) -> Iterator[None]:
    """A stage's plans of spilled lines on polars' streaming engine, and the plans of
    many groups (buckets of lines, groups of customers) where the engine runs them."""
    with (
        streamed(inputs.spilled),
        groups_run_by(group_runner_for(settings.engine, inputs.spilled)),
    ):
        yield


def _lines_after(parts: Sequence[pl.LazyFrame], as_of: date) -> int:
    """How many staged order lines are dated after `as_of`, counted a part at a time."""
    later = pl.col("order_date").dt.date() > as_of
    counts = group_runner().collect([part.filter(later).select(pl.len()) for part in parts])
    return sum(int(count.item()) for count in counts)


def predicted_value(
    orders: Sequence[pl.LazyFrame], settings: Settings, as_of: date
) -> CustomerValue:
    """P(alive), expected purchases and CLV per customer when `[clv]` is enabled (the
    models are fitted on the `orders`, the valid lines summed per order, in groups of
    whole customers)."""
    if not settings.clv.enabled:
        return no_customer_value()
    with timed("customer value") as facts:
        value = predict_customer_value(orders, as_of=as_of, settings=settings.clv)
        facts["customers"] = value.predictions.height
    for note in value.notes:
        stage_logger().info("%s", note)
    return value


@contextmanager
def _overflow_named(orders: pl.LazyFrame, settings: Settings) -> Iterator[None]:
    """A sum of money too large for Decimal(38, scale) stops the run with the source, the
    column and the largest lines that make it, not a bare "overflow in decimal addition"."""
    try:
        yield
    except pl.exceptions.ComputeError as exc:
        if "overflow" not in str(exc):
            raise
        largest = (
            orders.select(ROW_NUMBER, "customer_id", "amount")
            .sort(pl.col("amount").abs(), descending=True, nulls_last=True)
            .head(3)
            .collect()
        )
        rows = "; ".join(
            f"row {row} (customer {customer}, amount {amount:,})"
            for row, customer, amount in largest.iter_rows()
        )
        scale = settings.money.scale
        raise DecimalOverflowError(
            f"sources.orders: the sum of amount overflows Decimal(38, {scale}) (at most "
            f"{38 - scale} digits before the point); the largest lines: {rows}; lower "
            "money.max_line_amount to reject such lines, or money.scale to make room"
        ) from None


def tier_rule(settings: Settings) -> TierRule:
    """The configured tier rule as the transform takes it."""
    tiers = settings.tiers
    return TierRule(
        rule=tiers.rule,
        medium_min_order_value=tiers.medium_min_order_value,
        large_min_order_value=tiers.large_min_order_value,
        large_share=tiers.large_share,
        medium_share=tiers.medium_share,
        large_min_revenue=tiers.large_min_revenue,
        medium_min_revenue=tiers.medium_min_revenue,
        packages=tiers.packages,
        medium_min_quantity=tiers.medium_min_quantity,
        large_min_quantity=tiers.large_min_quantity,
        near_equal_margin=float(tiers.near_equal_margin),
        preference=tiers.preference,
        fixed_order=tiers.key_tier_preference,
        recut=tiers.recut,
        recut_steps=tiers.recut_steps,
        recut_max_share=float(tiers.recut_max_share),
    )


def days_from_lead_to_order(
    leads: pl.LazyFrame | None, customers: pl.LazyFrame
) -> pl.LazyFrame | None:
    """customer_id, lead_to_order_days: from the earliest lead that names the customer it
    became to the customer's first order; None without such leads."""
    if leads is None or not {"converted_customer_id", "created_at"} <= set(
        leads.collect_schema().names()
    ):
        return None
    return (
        leads.filter(pl.col("converted_customer_id").is_not_null())
        .group_by(customer_id="converted_customer_id")
        .agg(lead_created=pl.col("created_at").min())
        .join(customers.select("customer_id", "first_order_at"), on="customer_id")
        .filter(pl.col("lead_created").is_not_null())
        .select(
            "customer_id",
            lead_to_order_days=(
                pl.col("first_order_at").dt.date() - pl.col("lead_created").dt.date()
            ).dt.total_days(),
        )
        .collect()
        .lazy()
    )


# What `[personas] best_by` ranks on, in the words of best_basis ({} the horizon's months).
BEST_BY_WORDS = {
    "predicted_clv": "predicted customer value over {} months (BG/NBD × Gamma-Gamma)",
    "p_alive": "probability still active (BG/NBD P(alive))",
}


def choose_best_customers(
    customers: pl.LazyFrame,
    purchases: Sequence[pl.LazyFrame],
    lead_days: pl.LazyFrame | None,
    settings: Settings,
    *,
    key_tier: str,
    goal: str | None = None,
) -> pl.LazyFrame:
    """Best customers among those who bought in `key_tier`, ranked on those purchases.

    Adds key_tier_revenue (each customer's sales in the tier, from the tiered
    `purchases`, `Tiering.purchases`) and, where the orders carry costs, the gross profit
    of those sales; the growth goal reads `lead_days`. `purchases` come in groups of
    whole customers (`Tiering.purchase_groups`): each is summed per customer in turn.
    """
    personas = settings.personas
    goal = goal or personas.goal
    # best_by ranks the configured goal's best customers; compared goals keep their own
    by = None
    if personas.best_by != "goal" and goal == personas.goal:
        by = (personas.best_by, BEST_BY_WORDS[personas.best_by].format(settings.clv.horizon_months))
    in_tier = [group.filter(pl.col("sale_tier") == key_tier) for group in purchases]
    money = in_tier[0].collect_schema()["amount"]
    # One pass per group: each customer's sales in the tier, and the gross profit of
    # those that carry a cost, with whether any does.
    sales = per_customer(
        in_tier,
        lambda group: group.group_by("customer_id").agg(
            key_tier_revenue=pl.col("amount").sum(), **PROFIT_OF_PURCHASES
        ),
    ).collect()
    key_sales = sales.lazy().select("customer_id", "key_tier_revenue")
    profit = (
        sales.lazy().filter("costed").select("customer_id", "gross_profit")
        if sales["costed"].any()
        else None
    )
    return best_customers(
        customers.join(key_sales, on="customer_id", how="left").with_columns(
            pl.col("key_tier_revenue").fill_null(pl.lit(0).cast(money)).cast(money)
        ),
        goal=goal,
        by=by,
        share=personas.best_share,
        profit=profit,
        lead_days=lead_days,
        active_days=personas.active_days,
        min_customers=personas.min_best_customers if personas.small_best_set == "widen" else 0,
    )


def banded(frame: pl.LazyFrame, settings: Settings) -> pl.LazyFrame:
    """`frame` with the configured employee, annual revenue and age bands added."""
    personas = settings.personas
    return with_bands(
        frame,
        employee_bands=personas.employee_bands,
        annual_revenue_bands=personas.annual_revenue_bands,
        age_bands=personas.age_bands,
    )


def company_attributes(settings: Settings, inputs: ValidatedInputs) -> tuple[str, ...]:
    """The company attributes profiled: the configured ones plus the customers' extras."""
    extras = settings.sources["customers"].extra_columns if inputs.customers is not None else ()
    return (*settings.personas.company_attributes, *extras)


def segment_bases(
    settings: Settings, customers: pl.LazyFrame | None = None
) -> dict[str, tuple[list[SegmentRule], str]]:
    """The configured rules of each segmentation base, as the transform takes them; a
    geographic base without rules takes the largest places in `customers`."""
    bases = {}
    for base in BASES:
        configured = getattr(settings.segments, base)
        rules = [
            SegmentRule(
                rule.name,
                {
                    column: Condition(values=condition)
                    if isinstance(condition, tuple)
                    else Condition(
                        values=condition.values,
                        not_in=condition.not_in,
                        minimum=condition.min,
                        maximum=condition.max,
                    )
                    for column, condition in rule.when.items()
                },
            )
            for rule in configured.rules
        ]
        if base == "geographic" and not rules and customers is not None:
            rules = largest_places(customers)
        bases[base] = (rules, configured.default)
    return bases


def _with_rfm(
    customers: pl.LazyFrame,
    lines: pl.LazyFrame | Sequence[pl.LazyFrame],
    settings: Settings,
    as_of: date,
    regroup: Regroup,
) -> pl.LazyFrame:
    """Add r/f/m scores, rfm_segment and rfm_reason by the configured preset (`lines`: the
    valid order lines, or their parts regrouped by customer with `regroup`, which the
    pymc preset reads)."""
    rfm = settings.rfm
    if rfm.preset == "pymc":
        scores = pymc_rfm_segments(
            lines,
            as_of=as_of,
            segments=rfm.pymc_segments or PYMC_SEGMENTS,
            regroup=regroup,
        )
        return customers.join(scores, on="customer_id", how="left")
    segment_map = (
        [RfmRule(rule.name, rule.r, rule.fm) for rule in rfm.segments]
        if rfm.segments
        else DEFAULT_SEGMENT_MAP
    )
    return rfm_scores(customers, segment_map=segment_map)


@dataclass(frozen=True)
class WarehouseState:
    """What a refresh needs to know of the warehouse before it computes anything."""

    current: dict[str, object] | None  # the current refresh's run record
    previous: dict[str, object] | None  # the refresh this one is compared with (earlier as_of)
    previous_segments: pl.DataFrame | None  # its customer_segments, for segment movement


MOVEMENT_COLUMNS = ["customer_id", "revenue", *(column for _, column in TRANSITION_BASES)]


def open_warehouse_for_run(settings: Settings, as_of: date) -> WarehouseState:
    """Reach the warehouse and bring its layout up to date before any computing, so an
    unreachable or refused warehouse fails in seconds; read what the run compares with."""
    with open_warehouse(settings) as warehouse, timed(f"open warehouse {warehouse.display_url}"):
        change = warehouse.ensure_schema()
        if change:
            stage_logger().info("warehouse schema %s: %s", warehouse.schema, change)
        current = warehouse.current_run()
        previous = warehouse.previous_run(as_of)
        segments = None
        if previous is not None:
            segments = warehouse.previous_refresh("customer_segments", MOVEMENT_COLUMNS, as_of)
    return WarehouseState(current, previous, segments)


def publish(
    settings: Settings, tables: dict[str, pl.DataFrame], run: RunRecord, make_current: bool
) -> bool:
    """Write the refresh, all tables at once, and make it current unless it is a backfill
    (see `Warehouse.publish`); then apply retention. True when it became current."""
    with open_warehouse(settings) as warehouse:
        with timed(f"publish to {warehouse.display_url}") as facts:
            change = warehouse.ensure_schema()
            if change:
                stage_logger().info("warehouse schema %s: %s", warehouse.schema, change)
            became_current = warehouse.publish(tables, run, make_current=make_current)
            facts["rows"] = sum(frame.height for frame in tables.values())
        keep = settings.warehouse.keep_refreshes
        if keep is not None:
            _apply_retention(warehouse, keep)
    return became_current


def _apply_retention(warehouse: Warehouse, keep: int) -> None:
    """Prune refreshes beyond the newest `keep`. The refresh is already published, so a
    failure here is a warning, not a failed refresh: `personas prune` can finish it."""
    try:
        result = prune(warehouse, keep)
    except WarehouseError as exc:
        stage_logger().warning("retention: %s; run `personas prune` to retry", exc)
        return
    if result.pruned:
        stage_logger().info(
            "retention: kept %d refreshes, pruned %d (%s rows)",
            len(result.kept),
            len(result.pruned),
            f"{result.rows_pruned:,}",
        )


class PublishedCheckError(Exception):
    """The refresh's tables failed a Great Expectations check; nothing was published."""


def allowed_segment_values(settings: Settings) -> dict[str, list[str]]:
    """The labels each customer_segments segment column may hold under this config."""
    rfm = settings.rfm
    if rfm.preset == "pymc":
        rfm_names = [*(rfm.pymc_segments or PYMC_SEGMENTS), PYMC_OTHER]
    else:
        rfm_names = [rule.name for rule in (rfm.segments or DEFAULT_SEGMENT_MAP)]
    allowed = {"rfm_segment": rfm_names}
    for base, (rules, default) in segment_bases(settings).items():
        if base == "geographic" and not rules:
            continue  # its segments come from the data: no fixed set to check against
        allowed[f"{base}_segment"] = [rule.name for rule in rules] + [default]
    return allowed


def check_tables(
    settings: Settings,
    tables: dict[str, pl.DataFrame],
    refresh_id: str,
    previous_customers: int | None,
    folder: Path | None = None,
) -> tuple[str, ...]:
    """The output contracts (pandera), then the expectations across tables, before the
    tables go live; returns every expectation checked (for the report).

    The expectations run in polars; with `quality.data_docs` they run through Great
    Expectations instead, which writes its Data Docs next to the run's other reports.
    `previous_customers` is the customer count of the refresh this one is compared
    with (None for the first): the count may move at most `quality.max_customer_change`.

    Raises:
        PublishedCheckError: an expectation failed; the previous refresh stays current.
    """
    from quality.published_checks import check_published

    broken = check_outputs(tables, scale=settings.money.scale)  # the pandera contracts
    if broken:
        raise PublishedCheckError(
            f"{len(broken)} output contract violation(s), nothing published: "
            + "; ".join(broken[:3])
            + (f"; and {len(broken) - 3} more" if len(broken) > 3 else "")
        )
    folder = folder or report_dir(settings.quality.reports_dir, refresh_id)
    if not settings.quality.expectations:
        stage_logger().info("check published tables: output contracts only (quality.expectations)")
        return ()
    with timed("check published tables") as facts:
        outcome = check_published(
            # The expectations never read the reason: left out (joined, or in parts).
            {spec.name: without_reason(tables[spec.name]) for spec in DATA_TABLES},
            segment_values=allowed_segment_values(settings),
            previous_customers=previous_customers,
            max_customer_change=float(settings.quality.max_customer_change),
            docs_dir=folder / "data_docs" if settings.quality.data_docs else None,
            run_name=refresh_id,
        )
        facts["expectations"], facts["failed"] = outcome.expectations, len(outcome.failures)
    if not outcome.success:
        shown = "; ".join(outcome.failures[:3])
        more = f"; and {len(outcome.failures) - 3} more" if len(outcome.failures) > 3 else ""
        docs = f" (Data Docs: {outcome.docs_index})" if outcome.docs_index else ""
        raise PublishedCheckError(
            f"{len(outcome.failures)} check(s) of the published tables failed, nothing "
            f"published: {shown}{more}{docs}"
        )
    return outcome.checked
