"""Only a line key makes a duplicate: identical order lines are separate purchases.

A customer who buys the same thing twice on one day makes two identical lines
in a point-of-sale log without order ids; both count. Duplicates are lines whose
declared line key repeats (order_id with line_number or product_id, or the
source's `line_key`); `reject_identical_lines` is the explicit opt-in for a source
known to be exported twice.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from flows.cli import app
from schemas.cross_checks import duplicate_order_lines, identical_order_lines, order_line_key
from tests.conftest import read_view, write
from tests.test_transforms import staged_orders
from transforms.customer_metrics import customer_metrics, gross_profit, valid_order_lines


def lines(rows: dict[str, list[str | None]]) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema=dict.fromkeys(rows, pl.String))
    return frame.with_row_index("_row_number", offset=1)


def problems_of(frame: pl.DataFrame, **options: object) -> list[tuple[int, str]]:
    key = order_line_key(frame.columns, options.pop("configured", None))  # type: ignore[arg-type]
    found = duplicate_order_lines(frame, key=key, **options)  # type: ignore[arg-type]
    return list(found.select("row_number", "problem").iter_rows())


POS_LOG = {  # no order ids: a CD bought twice on one day is two identical lines
    "customer_id": ["7", "7", "7", "8"],
    "order_date": ["1997-01-01", "1997-01-01", "1997-01-01", "1997-01-02"],
    "quantity": ["1", "1", "2", "1"],
    "amount": ["11.77", "11.77", "23.54", "11.77"],
}


def test_identical_lines_without_a_key_are_not_duplicates() -> None:
    frame = lines(POS_LOG)
    assert order_line_key(frame.columns, None) is None
    assert problems_of(frame) == []
    assert identical_order_lines(frame.drop("_row_number")) == 1


def test_identical_lines_count_in_revenue_quantity_and_one_order_per_day() -> None:
    metrics = customer_metrics(staged_orders(POS_LOG), as_of=date(1997, 6, 30)).collect()
    seven = metrics.filter(pl.col("customer_id") == "7").row(0, named=True)
    assert seven["revenue"] == Decimal("47.08")  # 11.77 + 11.77 + 23.54
    assert seven["quantity"] == 4
    assert seven["order_count"] == 1  # no order id: the customer's day is one order


def test_the_default_key_is_order_id_with_line_number_then_with_product() -> None:
    assert order_line_key(["order_id", "line_number", "product_id"], None) == [
        "order_id",
        "line_number",
    ]
    assert order_line_key(["order_id", "product_id"], None) == ["order_id", "product_id"]
    assert order_line_key(["order_id", "amount"], None) is None  # an order has many lines
    assert order_line_key(["order_id"], ["order_id", "StockCode"]) == ["order_id", "StockCode"]


def test_a_repeated_key_is_a_duplicate_even_when_the_lines_differ() -> None:
    frame = lines(
        {
            "customer_id": ["C1", "C1", "C1", "C2"],
            "order_id": ["O1", "O1", "O1", "O2"],
            "line_number": ["1", "2", "1", "1"],
            "amount": ["10", "10", "12", "10"],
        }
    )
    assert problems_of(frame) == [(3, "duplicate line key (order_id, line_number) of row 1")]


def test_a_key_with_a_missing_part_identifies_nothing() -> None:
    frame = lines(
        {
            "customer_id": ["C1", "C1", "C1"],
            "order_id": ["O1", "O1", None],
            "product_id": [None, None, "P1"],
            "amount": ["10", "10", "10"],
        }
    )
    assert problems_of(frame) == []


def test_only_lines_without_a_whole_key_can_be_kept_identical_repeats() -> None:
    frame = lines(
        {
            "customer_id": ["C1", "C1", "C1", "C1"],
            "order_id": ["O1", "O1", None, None],
            "line_number": ["1", "1", None, None],
            "amount": ["5", "5", "5", "5"],
        }
    ).drop("_row_number")
    # rows 1-2 share a whole key (a duplicate, rejected); rows 3-4 have none: one repeat
    assert identical_order_lines(frame, key=["order_id", "line_number"]) == 1
    assert identical_order_lines(frame) == 2


def test_identical_lines_rejected_only_when_asked() -> None:
    frame = lines(POS_LOG)
    assert problems_of(frame, reject_identical=True) == [
        (2, "identical to order line row 1 (sources.orders.reject_identical_lines)")
    ]


def test_a_line_both_keyed_twice_and_identical_is_one_problem() -> None:
    frame = lines({"customer_id": ["C1", "C1"], "order_id": ["O1", "O1"], "amount": ["5", "5"]})
    found = problems_of(frame, configured=["order_id"], reject_identical=True)
    assert found == [(2, "duplicate line key (order_id) of row 1")]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["A", "B"]), st.sampled_from(["1", "2"]), st.sampled_from("xy")),
        min_size=1,
        max_size=12,
    )
)
def test_without_a_key_nothing_is_a_duplicate_and_with_one_each_key_keeps_its_first(
    rows: list[tuple[str, str, str]],
) -> None:
    customers, days, amounts = (list(column) for column in zip(*rows, strict=True))
    keyless = lines({"customer_id": customers, "order_date": days, "amount": amounts})
    assert problems_of(keyless) == []
    keyed = lines({"order_id": customers, "line_number": days, "amount": amounts})
    rejected = {row for row, _ in problems_of(keyed)}
    kept = keyed.filter(~pl.col("_row_number").is_in(sorted(rejected)))
    # every key survives exactly once, and it is its first row
    assert kept.height == keyed.select(pl.struct("order_id", "line_number").n_unique()).item()
    firsts = keyed.group_by("order_id", "line_number").agg(pl.col("_row_number").min())
    assert sorted(kept["_row_number"]) == sorted(firsts["_row_number"])


def test_a_refund_subtracts_its_amount_and_gives_its_cost_back() -> None:
    orders = staged_orders(
        {
            "customer_id": ["C1", "C1", "C1", "C2", "C2"],
            "order_id": ["O1", "O2", "O3", "O4", "O5"],
            "order_date": ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"],
            "amount": ["100", "40", "40", "70", "-70"],
            "cost": ["60", "25", "25", "50", "50"],
            "status": ["completed", "completed", "refunded", "completed", "completed"],
        }
    )
    profit = gross_profit(valid_order_lines(orders, as_of=date(2024, 6, 1))).sort("customer_id")
    # C1: (100 − 60) + (40 − 25) + (−40 + 25) = 40; C2: (70 − 50) + (−70 + 50) = 0
    assert profit.collect().rows() == [("C1", Decimal("40")), ("C2", Decimal("0"))]


IDENTICAL_LOG = """CustomerID,InvoiceDate,Qty,LineTotal
7,1997-01-01,1,11.77
7,1997-01-01,1,11.77
8,1997-01-02,2,23.54
8,1997-03-02,1,11.77
"""


@pytest.fixture
def identical_log(tmp_path: Path) -> Path:
    write(tmp_path / "data" / "tx.csv", IDENTICAL_LOG)
    return write(
        tmp_path / "personas.toml",
        '[sources.orders]\npath = "data/tx.csv"\nmax_rejected_share = 0\n'
        '[sources.orders.columns]\ncustomer_id = "CustomerID"\norder_date = "InvoiceDate"\n'
        'quantity = "Qty"\namount = "LineTotal"\n',
    )


def test_a_refresh_keeps_identical_lines_and_says_so(
    identical_log: Path, runner: CliRunner
) -> None:
    checked = runner.invoke(app, ["validate", "--config", str(identical_log)])
    assert checked.exit_code == 0, checked.output
    assert "1 order line(s) identical to an earlier line are kept" in checked.output
    # max_rejected_share = 0: rejecting a single line would stop the refresh
    result = runner.invoke(
        app, ["refresh", "--config", str(identical_log), "--as-of", "1997-06-30"]
    )
    assert result.exit_code == 0, result.output
    here = identical_log.parent
    revenue = read_view(
        here,
        "select customer_id, revenue, quantity, order_count from personas.customer_segments "
        "order by customer_id",
    )
    assert revenue == [("7", Decimal("23.5400"), 2, 1), ("8", Decimal("35.3100"), 3, 2)]
    (notes,) = read_view(here, "select notes from personas.refresh_runs")[0]
    assert "identical order lines kept as separate purchases: 1" in notes
    assert read_view(here, "select count(*) from personas.quarantine") == [(0,)]
