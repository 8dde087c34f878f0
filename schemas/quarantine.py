"""Split each source into accepted rows and the quarantine: nothing is dropped silently.

Produces, from a source's rows and the problems its contract found, the rows
that go on (`accepted`) and one quarantine row per problem (`source`,
`row_number`, `key`, `column`, `problem`, `value`, `action`, and `sheet` for a
row of an Excel sheet, whose row number is then the one Excel shows). A problem either
rejects its row (`row rejected`: every problem in an order line, a missing or
duplicate key anywhere, a row-level check) or, in a descriptive source
(customers, contacts, products, leads, feedback), clears just the bad value
(`value cleared`) so a customer is not lost over a malformed age. Rows in =
rows accepted + rows rejected, per source, always.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from schemas.inputs import ROW_NUMBER, SOURCE_COLUMNS
from schemas.vocabulary import CLEARED, REJECTED

QUARANTINE_SCHEMA = {
    "source": pl.String,
    "row_number": pl.Int64,
    "key": pl.String,
    "column": pl.String,
    "problem": pl.String,
    "value": pl.String,
    "action": pl.String,
    "sheet": pl.String,
}
# What identifies a row in the quarantine, besides its row number.
KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "orders": ("customer_id", "order_id"),
    "customers": ("customer_id",),
    "contacts": ("contact_id",),
    "products": ("product_id",),
    "leads": ("lead_id",),
    "feedback": ("customer_id",),
}


@dataclass(frozen=True)
class SourceSplit:
    """One source after quarantine."""

    accepted: pl.DataFrame
    quarantine: pl.DataFrame  # QUARANTINE_SCHEMA
    rows_in: int
    rows_rejected: int

    @property
    def rows_accepted(self) -> int:
        """Rows that go on."""
        return self.rows_in - self.rows_rejected


def split_source(
    source: str,
    rows: pl.DataFrame,
    problems: pl.DataFrame,
    staged: pl.DataFrame | None = None,
    *,
    sheet: str | None = None,
) -> SourceSplit:
    """Apply `problems` (PROBLEM_SCHEMA, row-level only) to `rows`.

    Args:
        source: the source's name.
        rows: its rows as extracted, with `_row_number` (the quarantine quotes their keys).
        problems: what its contract and the cross-source checks found.
        staged: the same rows typed, when the accepted rows are to come from them (the
            default: `rows` themselves).
        sheet: the Excel sheet the rows were read from (their row numbers are Excel's).
    """
    if problems["row_number"].null_count():
        raise ValueError(f"{source}: file-level problems stop the run; they are not quarantined")
    problems = _keep_first_of_duplicates(problems).with_columns(action=_action(source))
    rejected = problems.filter(pl.col("action") == REJECTED).select(
        pl.col("row_number").alias(ROW_NUMBER)
    )
    # A rejected row's other problems are rejected with it, not "cleared".
    problems = problems.with_columns(
        action=pl.when(pl.col("row_number").is_in(rejected[ROW_NUMBER].implode()))
        .then(pl.lit(REJECTED))
        .otherwise(pl.col("action"))
    )
    kept = rows if staged is None else staged
    # A filter, not an anti-join: the rejected rows are few, the kept ones millions.
    numbers = rejected[ROW_NUMBER].unique().cast(kept.schema[ROW_NUMBER])
    accepted = (
        kept if numbers.is_empty() else kept.filter(~pl.col(ROW_NUMBER).is_in(numbers.implode()))
    )
    accepted = _clear_values(accepted, problems.filter(pl.col("action") == CLEARED))
    quarantine = _with_keys(source, rows, problems.with_columns(sheet=pl.lit(sheet, pl.String)))
    rows_rejected = rejected.n_unique()
    if accepted.height + rows_rejected != rows.height:  # the invariant users rely on
        raise AssertionError(
            f"{source}: {rows.height} rows in but {accepted.height} accepted + "
            f"{rows_rejected} rejected"
        )
    return SourceSplit(accepted, quarantine, rows.height, rows_rejected)


def _action(source: str) -> pl.Expr:
    keys = [c.name for c in SOURCE_COLUMNS[source] if c.required]
    rejects_row = (
        pl.col("column").is_null()  # a row-level check (e.g. no amount to compute)
        | pl.col("column").is_in(keys)
        | pl.lit(source == "orders")  # every field of a sale matters to its revenue
        | pl.col("problem").str.starts_with("duplicate")
    )
    return pl.when(rejects_row).then(pl.lit(REJECTED)).otherwise(pl.lit(CLEARED))


def _keep_first_of_duplicates(problems: pl.DataFrame) -> pl.DataFrame:
    """pandera flags every copy of a duplicated key: the first copy is kept, not rejected."""
    duplicate = pl.col("problem") == "duplicate key"
    return (
        problems.with_columns(
            first_row=pl.col("row_number").filter(duplicate).min().over("column", "value")
        )
        # The first copy is kept; missing keys are reported as missing, not as duplicates.
        .filter(
            ~(
                duplicate
                & ((pl.col("row_number") == pl.col("first_row")) | pl.col("value").is_null())
            )
        )
        .with_columns(
            problem=pl.when(duplicate)
            .then(pl.format("duplicate key (the first, row {}, is kept)", pl.col("first_row")))
            .otherwise(pl.col("problem"))
        )
        .drop("first_row")
    )


def _clear_values(rows: pl.DataFrame, cleared: pl.DataFrame) -> pl.DataFrame:
    if cleared.is_empty():
        return rows
    clearing = []
    for column, numbers in cleared.group_by("column").agg("row_number").iter_rows():
        # One expression per column that has problems (a handful), not a loop over rows.
        clearing.append(
            pl.when(pl.col(ROW_NUMBER).is_in(numbers))
            .then(None)
            .otherwise(pl.col(column))
            .alias(column)
        )
    return rows.with_columns(clearing)


def _with_keys(source: str, rows: pl.DataFrame, problems: pl.DataFrame) -> pl.DataFrame:
    present = [c for c in KEY_COLUMNS[source] if c in rows.columns]
    # The keys of the rows with problems only, not of every row read.
    with_problems = pl.col(ROW_NUMBER).cast(pl.Int64).is_in(problems["row_number"].implode())
    keys = rows.filter(with_problems).select(
        pl.col(ROW_NUMBER).cast(pl.Int64).alias("row_number"),
        pl.concat_str(
            [pl.col(c).cast(pl.String) for c in present], separator=" / ", ignore_nulls=True
        ).alias("key")
        if present
        else pl.lit(None, pl.String).alias("key"),
    )
    return (
        problems.join(keys, on="row_number", how="left")
        .select(list(QUARANTINE_SCHEMA))
        .cast(QUARANTINE_SCHEMA)  # type: ignore[arg-type]
        .with_columns(storable(pl.col("key")), storable(pl.col("value")))
    )


def storable(text: pl.Expr) -> pl.Expr:
    """Text as any warehouse stores it: a NUL character (which PostgreSQL cannot hold)
    written as the four characters \\x00, so the quarantine shows what was there."""
    return text.str.replace_all("\x00", "\\x00", literal=True)


def empty_quarantine() -> pl.DataFrame:
    """A quarantine with no rows."""
    return pl.DataFrame(schema=QUARANTINE_SCHEMA)
