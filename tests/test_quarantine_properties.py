"""Property tests of the quarantine: whatever the rows, nothing is lost or counted twice.

For any mix of good and broken input rows (blank keys, bad dates, bad amounts,
negative quantities, duplicate lines and keys, implausible ages), rows in =
rows accepted + rows rejected, no row is both, and every rejected row is in the
quarantine with at least one problem.
"""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.cross_checks import duplicate_order_lines
from schemas.inputs import ROW_NUMBER, raw_schema
from schemas.quarantine import REJECTED, split_source
from schemas.validation import find_problems

ids = st.sampled_from(["C1", "C2", "C3", "", " ", None])
dates = st.sampled_from(["2024-01-01", "2024-02-30", "01/02/2024", "", None, "2024-03-05 10:00"])
amounts = st.sampled_from(["100", "-50", "abc", "1.23456", "", None, "1e15", "0"])
quantities = st.sampled_from(["1", "-2", "x", None, "3"])
ages = st.sampled_from(["30", "150", "-1", "x", None, ""])


def order_rows(rows: list[tuple]) -> pl.DataFrame:
    columns = ["customer_id", "order_date", "amount", "quantity"]
    # Extracted columns are always text, even when every value is empty.
    return pl.DataFrame(
        rows, schema=dict.fromkeys(columns, pl.String), orient="row"
    ).with_row_index(ROW_NUMBER, offset=1)


def assert_nothing_lost(source: str, rows: pl.DataFrame, problems: pl.DataFrame) -> None:
    split = split_source(source, rows, problems)
    accepted = set(split.accepted[ROW_NUMBER].to_list())
    rejected = set(split.quarantine.filter(pl.col("action") == REJECTED)["row_number"].to_list())
    assert split.rows_accepted + split.rows_rejected == rows.height
    assert len(rejected) == split.rows_rejected
    assert accepted.isdisjoint(rejected)
    assert accepted | rejected == set(rows[ROW_NUMBER].to_list())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(ids, dates, amounts, quantities), min_size=1, max_size=30))
def test_orders_rows_in_equal_accepted_plus_rejected(rows: list[tuple]) -> None:
    frame = order_rows(rows)
    problems = find_problems("orders", frame, raw_schema("orders", scale=4, date_format=None))
    key = ["customer_id", "order_date"]  # a declared line key, so some rows are duplicates
    problems = pl.concat([problems, duplicate_order_lines(frame, key=key)])
    assert_nothing_lost("orders", frame, problems)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(ids, ages), min_size=1, max_size=30))
def test_customers_rows_in_equal_accepted_plus_rejected(rows: list[tuple]) -> None:
    schema = {"customer_id": pl.String, "age": pl.String}
    frame = pl.DataFrame(rows, schema=schema, orient="row").with_row_index(ROW_NUMBER, offset=1)
    problems = find_problems("customers", frame, raw_schema("customers", scale=4, date_format=None))
    split = split_source("customers", frame, problems)
    assert_nothing_lost("customers", frame, problems)
    # a duplicated key keeps exactly its first row, and the quarantine names that row
    kept = split.accepted["customer_id"].drop_nulls().to_list()
    assert len(kept) == len(set(kept))
    first_rows = frame.group_by("customer_id").agg(pl.col(ROW_NUMBER).min())
    for key, problem in (
        split.quarantine.filter(pl.col("problem").str.starts_with("duplicate key"))
        .select("value", "problem")
        .iter_rows()
    ):
        (first,) = first_rows.filter(pl.col("customer_id") == key)[ROW_NUMBER].to_list()
        assert problem == f"duplicate key (the first, row {first}, is kept)"
