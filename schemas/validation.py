"""Run an input contract over extracted rows and list every problem found, in one pass.

Produces a problems frame with one row per (row, column, problem): `source`,
`row_number` (1-based position in the source), `column`, `problem`, `value`.
Validation is lazy in pandera's sense: all failures are collected before
anything is reported, and it runs on collected data so that value checks run
(LazyFrame validation checks only the schema). `screened_problems` finds the
same problems faster: one polars pass of the contract's rules marks the rows
that may fail, and pandera names the problems of those rows only.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.config import ValidationDepth, config_context
from pandera.errors import SchemaError, SchemaErrors

from schemas.inputs import ROW_NUMBER, TYPED, RawContract

PROBLEM_SCHEMA = {
    "source": pl.String,
    "row_number": pl.Int64,
    "column": pl.String,
    "problem": pl.String,
    "value": pl.String,
}


def find_problems(source: str, rows: pl.DataFrame, schema: pa.DataFrameSchema) -> pl.DataFrame:
    """Every problem `schema` finds in `rows`, as a frame with `PROBLEM_SCHEMA`.

    Args:
        source: the source's name, copied into each problem.
        rows: the extracted rows, with the `_row_number` column.
        schema: the source's raw contract (see `schemas.inputs.raw_schema`).
    """
    try:
        # The depth is fixed: PANDERA_VALIDATION_DEPTH=SCHEMA_ONLY in the environment must
        # not switch off the value checks that decide what is quarantined.
        with config_context(validation_depth=ValidationDepth.SCHEMA_AND_DATA):
            schema.validate(rows, lazy=True)
    except SchemaErrors as exc:
        return _problems_from_failure_cases(source, rows, exc.failure_cases)
    except SchemaError as exc:  # raised alone for some schema-level failures
        return _problem_frame(source, [(None, None, str(exc), None)])
    return pl.DataFrame(schema=PROBLEM_SCHEMA)


def screened_problems(
    source: str, rows: pl.DataFrame, contract: RawContract, staged: pl.DataFrame
) -> pl.DataFrame:
    """Every problem `contract` finds in `rows`, named as `find_problems` names them, with
    the schema run only on the rows the screen marks as suspect.

    Args:
        source: the source's name.
        rows: the extracted text rows, with `_row_number`.
        contract: the source's raw contract.
        staged: the same rows staged (typed), in the same order: the screen reads the
            values staging parsed instead of parsing the text again.

    Most rows of a real export pass: one polars pass over the staged values marks the
    few that may fail, and pandera, which costs seconds per million rows per check,
    runs on those. A missing column or a non-text one is a file-level problem: the
    whole schema runs, as it names those.
    """
    names = frozenset(rows.columns)
    # Columns the source stores typed (whole numbers, dates) are checked as the text they
    # stand for: the schema is written for text, as every source is exported.
    typed = frozenset(
        name for name in contract.schema.columns if name in names and rows.schema[name] != pl.String
    )
    as_text = [pl.col(name).cast(pl.String) for name in sorted(typed)]
    if any(column not in names for column in contract.required):
        return find_problems(source, rows.with_columns(as_text), contract.schema)
    # Renamed, not selected: a rename shares the columns, a select may copy them all.
    values = staged.drop(ROW_NUMBER).rename(lambda name: TYPED + name)
    # Lazily: the engine evaluates the many rules in parallel, several times faster than
    # the same filter on the eager frame.
    suspects = (
        rows.hstack(values)
        .lazy()
        .filter(contract.suspects(names, typed))
        .select(rows.columns)
        .collect()
    )
    if suspects.is_empty():
        return pl.DataFrame(schema=PROBLEM_SCHEMA)
    return find_problems(source, suspects.with_columns(as_text), contract.schema)


def _problems_from_failure_cases(
    source: str, rows: pl.DataFrame, cases: pl.DataFrame
) -> pl.DataFrame:
    row_numbers = rows.select(pl.col(ROW_NUMBER).cast(pl.Int64)).with_row_index("index")
    frame_level = (pl.col("schema_context") == "DataFrameSchema") & (
        pl.col("check") != "column_in_dataframe"
    )
    cases = cases.with_columns(
        pl.col("index").cast(pl.UInt32),
        problem=(
            pl.when(pl.col("check") == "column_in_dataframe")
            .then(pl.lit("missing required column"))
            .when(pl.col("check") == "not_nullable")
            .then(pl.lit("missing value in a required column"))
            .when(pl.col("check") == "field_uniqueness")
            .then(pl.lit("duplicate key"))
            .otherwise(pl.col("check"))
        ),
        column=pl.when(pl.col("check") == "column_in_dataframe")
        .then(pl.col("failure_case"))
        .when(frame_level)
        .then(pl.lit(None, pl.String))
        .otherwise(pl.col("column")),
        # A frame-level check reports the whole row as its value: too long to be useful.
        value=pl.when((pl.col("check") == "column_in_dataframe") | frame_level)
        .then(pl.lit(None, pl.String))
        .otherwise(pl.col("failure_case")),
    )
    return (
        cases.join(row_numbers, on="index", how="left")
        .select(
            pl.lit(source).alias("source"),
            pl.col(ROW_NUMBER).alias("row_number"),
            "column",
            "problem",
            "value",
        )
        .cast(PROBLEM_SCHEMA)  # type: ignore[arg-type]
        .unique(maintain_order=True)
        .sort("row_number", "column", nulls_last=False)
    )


def _problem_frame(
    source: str, problems: list[tuple[int | None, str | None, str, str | None]]
) -> pl.DataFrame:
    return pl.DataFrame(
        [(source, *problem) for problem in problems], schema=PROBLEM_SCHEMA, orient="row"
    )


def summarise_problems(problems: pl.DataFrame, *, limit: int = 3) -> str:
    """One line describing the problems, most frequent first, e.g. for an error message."""
    if problems.is_empty():
        return "no problems"
    counts = (
        problems.group_by("source", "column", "problem", maintain_order=True)
        .agg(
            count=pl.len(),
            first_row=pl.col("row_number").min(),
            first_value=pl.col("value").first(),
        )
        .sort("count", descending=True, maintain_order=True)
    )
    parts = []
    for row in counts.head(limit).iter_rows(named=True):
        where = f"row {row['first_row']}" if row["first_row"] is not None else "file"
        value = f" {row['first_value']!r}" if row["first_value"] is not None else ""
        column = f"{row['column']}: " if row["column"] else ""
        more = f" ({row['count']} rows)" if row["count"] > 1 else ""
        parts.append(f"{row['source']} {where}: {column}{row['problem']}{value}{more}")
    rest = counts.height - limit
    tail = f"; and {rest} more kinds of problem" if rest > 0 else ""
    return "; ".join(parts) + tail
