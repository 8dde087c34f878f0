"""Hand-computed expectations for every metric and tier rule, on tiny literal frames."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from transforms.customer_metrics import customer_metrics, valid_order_lines
from transforms.pareto import pareto_curve, pareto_ranks, pareto_summary
from transforms.revenue_tiers import (
    TierRule,
    quantile_tiers,
    revenue_threshold_tiers,
    tier_revenue,
)
from transforms.staging import stage_orders, stage_source

SCALE = 4
MONEY = pl.Decimal(38, SCALE)


def raw(rows: dict[str, list[str | None]]) -> pl.LazyFrame:
    """Text rows as the extract step produces them."""
    frame = pl.DataFrame(rows, schema=dict.fromkeys(rows, pl.String))
    return frame.lazy().with_row_index("_row_number", offset=1)


def staged_orders(rows: dict[str, list[str | None]]) -> pl.LazyFrame:
    return stage_orders(raw(rows), scale=SCALE)


def money(*values: str) -> pl.Series:
    return pl.Series([Decimal(v) for v in values], dtype=MONEY)


def metrics_of(rows: dict[str, list[str | None]], as_of: date) -> pl.DataFrame:
    return customer_metrics(staged_orders(rows), as_of=as_of).collect()


AS_OF = date(2024, 6, 1)


def test_refunds_reduce_revenue_and_cancelled_lines_count_for_nothing() -> None:
    rows = {
        "customer_id": ["00017", "00017", "00017", "00017", "00017"],
        "order_id": ["A", "A", "B", "C", "D"],
        "order_date": [
            "2024-01-01",
            "2024-01-01 09:30:00",
            "2024-02-01",
            "2024-03-01",
            "2024-06-15",
        ],
        "amount": ["100", "50", "30", "999", "20"],
        "status": ["completed", "completed", "Refunded", "cancelled", "completed"],
    }
    metrics = metrics_of(rows, AS_OF)
    assert metrics["customer_id"].to_list() == ["00017"]
    row = metrics.row(0, named=True)
    # 100 + 50 − 30; the cancelled line and the line after as_of count for nothing.
    assert row["revenue"] == Decimal("120")
    assert row["order_count"] == 2  # orders A and B
    assert row["first_order_at"] == datetime(2024, 1, 1)
    assert row["last_order_at"] == datetime(2024, 2, 1)
    assert row["recency_days"] == 121  # 2024-02-01 → 2024-06-01
    assert row["tenure_days"] == 152  # 2024-01-01 → 2024-06-01, leap year
    assert row["avg_order_value"] == Decimal("60")
    assert row["quantity"] is None  # the source has no quantities


def test_amount_is_computed_from_quantity_price_and_discount_when_absent() -> None:
    rows = {
        "customer_id": ["7", "7", "7"],
        "order_date": ["2024-05-01", "2024-05-01", "2024-05-02"],
        "quantity": ["2", "1", "-1"],
        "unit_price": ["10.5", "5", "5"],
        "discount": ["1", None, None],
    }
    row = metrics_of(rows, AS_OF).row(0, named=True)
    assert row["revenue"] == Decimal("20")  # (2 × 10.5 − 1) + 5 − 5
    assert row["quantity"] == 2
    # no order_id: one customer's lines on one calendar day are one order
    assert row["order_count"] == 2
    assert row["recency_days"] == 30
    assert row["tenure_days"] == 31
    assert row["avg_order_value"] == Decimal("10")


def test_order_id_fallback_applies_per_line_where_the_id_is_blank() -> None:
    rows = {
        "customer_id": ["a", "a", "a", "b"],
        "order_id": ["X", "", "", "X"],
        "order_date": ["2024-05-01", "2024-05-01", "2024-05-01", "2024-05-01"],
        "amount": ["1", "2", "3", "4"],
    }
    metrics = metrics_of(rows, AS_OF)
    assert metrics["order_count"].to_list() == [2, 1]  # a: X and its blank-id day; b: X


def test_ids_stay_text_with_leading_zeros() -> None:
    rows = {
        "customer_id": [" 00017 ", "17"],
        "order_date": ["2024-01-01"] * 2,
        "amount": ["1", "2"],
    }
    assert metrics_of(rows, AS_OF)["customer_id"].to_list() == ["00017", "17"]


def test_money_stays_exact_at_vnd_scale() -> None:
    big = "999999999999999"  # 10^15 − 1 VND: floats would lose the last units
    rows = {"customer_id": ["a"] * 3, "order_date": ["2024-01-01"] * 3, "amount": [big, big, "1"]}
    revenue = metrics_of(rows, AS_OF)["revenue"].item()
    assert revenue == Decimal("1999999999999999")


def test_refund_status_with_a_negative_amount_is_counted_once_as_negative() -> None:
    rows = {
        "customer_id": ["a", "a"],
        "order_date": ["2024-01-01", "2024-01-02"],
        "amount": ["100", "-40"],
        "quantity": ["2", "-1"],
        "status": ["completed", "refunded"],
    }
    lines = valid_order_lines(staged_orders(rows), as_of=AS_OF).collect()
    assert lines["amount"].to_list() == [Decimal("100"), Decimal("-40")]
    assert lines["quantity"].to_list() == [2, -1]


def pareto_input(revenues: dict[str, str]) -> pl.LazyFrame:
    return pl.LazyFrame({"customer_id": list(revenues), "revenue": money(*revenues.values())})


def ranked_of(revenues: dict[str, str]) -> pl.LazyFrame:
    return pareto_ranks(
        pareto_input(revenues), class_a_share=Decimal("0.80"), class_b_share=Decimal("0.95")
    )


FIVE = {"e": "5", "a": "50", "d": "5", "b": "30", "c": "10"}


def test_pareto_rank_breaks_ties_by_customer_id_and_classes_follow_the_cut_points() -> None:
    ranked = ranked_of(FIVE).collect()
    assert ranked["customer_id"].to_list() == ["a", "b", "c", "d", "e"]
    assert ranked["pareto_rank"].to_list() == [1, 2, 3, 4, 5]
    assert ranked["cumulative_share"].to_list() == pytest.approx([0.5, 0.8, 0.9, 0.95, 1.0])
    # A: shortest prefix reaching 80% (a, b); B: up to 95% (c, d); C: the rest.
    assert ranked["pareto_class"].to_list() == ["A", "A", "B", "B", "C"]


def test_pareto_summary_by_hand() -> None:
    summary = pareto_summary(ranked_of(FIVE), top_share=Decimal("0.20")).collect()
    row = summary.row(0, named=True)
    assert row["customers"] == 5
    assert row["revenue"] == Decimal("100")
    assert row["top_customers"] == 1
    assert row["top_share_revenue"] == pytest.approx(0.5)
    assert row["customers_for_80pct"] == 2
    # ascending 5, 5, 10, 30, 50: Σ i·x = 415; G = 2·415/(5·100) − 6/5 = 0.46
    assert row["gini"] == pytest.approx(0.46)


def test_top_share_count_uses_exact_ceil_not_float() -> None:
    # 0.2 × 15 is 3.0000000000000004 in floats; the exact ceil is 3.
    revenues = {f"c{i:02d}": str(100 - i) for i in range(15)}
    summary = pareto_summary(ranked_of(revenues), top_share=Decimal("0.2")).collect()
    assert summary["top_customers"].item() == 3


def test_pareto_curve_steps_by_whole_percent() -> None:
    curve = pareto_curve(ranked_of(FIVE)).collect()
    assert curve.height == 101
    share = dict(zip(curve["customer_pct"], curve["cumulative_revenue_share"], strict=True))
    assert share[0] == 0.0
    assert share[20] == pytest.approx(0.5)  # ceil(5 × 0.20) = 1 customer
    assert share[21] == pytest.approx(0.8)  # ceil(1.05) = 2 customers
    assert share[50] == pytest.approx(0.9)  # ceil(2.5) = 3 customers
    assert share[100] == pytest.approx(1.0)


def tiers_of(revenues: dict[str, str], **rule: object) -> dict[str, str]:
    ranked = ranked_of(revenues)
    if rule.pop("rule") == "quantile":
        tiered = quantile_tiers(ranked, **rule).collect()  # type: ignore[arg-type]
    else:
        tiered = revenue_threshold_tiers(ranked, **rule).collect()  # type: ignore[arg-type]
    return dict(zip(tiered["customer_id"], tiered["tier"], strict=True))


def test_quantile_rule_top_20_percent_large_next_30_percent_medium() -> None:
    revenues = {f"c{i:02d}": str(100 - i) for i in range(15)}
    tiers = tiers_of(
        revenues, rule="quantile", large_share=Decimal("0.2"), medium_share=Decimal("0.3")
    )
    # ceil(0.2 × 15) = 3 Large; ceil(0.5 × 15) = 8 → ranks 4..8 Medium; 7 Small
    ordered = [tiers[f"c{i:02d}"] for i in range(15)]
    assert ordered == ["Large"] * 3 + ["Medium"] * 5 + ["Small"] * 7


def test_revenue_rule_uses_thresholds_inclusively() -> None:
    revenues = {"a": "100", "b": "99.9999", "c": "20", "d": "19"}
    tiers = tiers_of(
        revenues,
        rule="revenue",
        large_min_revenue=Decimal("100"),
        medium_min_revenue=Decimal("20"),
    )
    assert tiers == {"a": "Large", "b": "Medium", "c": "Medium", "d": "Small"}


PRODUCTS = pl.LazyFrame({"product_id": ["G", "S", "B"], "package": ["Gold", "Silver", "Bronze"]})
PACKAGES = {"Gold": "Large", "Silver": "Medium", "Bronze": "Small"}


def domain_example_orders() -> pl.LazyFrame:
    """The domain's example: 20 Bronze + 3 Silver + 1 Gold sales, one customer each."""
    products = ["B"] * 20 + ["S"] * 3 + ["G"]
    prices = {"B": "5000000", "S": "10000000", "G": "20000000"}
    return staged_orders(
        {
            "customer_id": [f"{i:03d}" for i in range(24)],
            "order_date": ["2024-03-01"] * 24,
            "product_id": products,
            "quantity": ["1"] * 24,
            "unit_price": [prices[p] for p in products],
        }
    )


def tier_summary_for(
    orders: pl.LazyFrame, products: pl.LazyFrame | None = None, **rule: object
) -> tuple[pl.DataFrame, pl.LazyFrame]:
    metrics = customer_metrics(orders, as_of=AS_OF)
    ranked = pareto_ranks(metrics, class_a_share=Decimal("0.8"), class_b_share=Decimal("0.95"))
    lines = valid_order_lines(orders, as_of=AS_OF).collect().lazy()
    tiering = tier_revenue(ranked, lines, TierRule(**rule), as_of=AS_OF, products=products)  # type: ignore[arg-type]
    return tiering.summary, tiering.customers


def test_domain_example_small_is_the_key_tier_with_100m_of_150m() -> None:
    summary, _ = tier_summary_for(
        domain_example_orders(), rule="package", products=PRODUCTS, packages=PACKAGES
    )
    expected = pl.DataFrame(
        {
            "tier": ["Large", "Medium", "Small"],
            "purchases": [1, 3, 20],
            "sales_revenue": money("20000000", "30000000", "100000000"),
            "sales_share": [20 / 150, 30 / 150, 100 / 150],
            "buying_customers": [1, 3, 20],
            "customers": [1, 3, 20],
            "is_key_tier": [False, False, True],
            "is_majority": [False, False, True],
            "decided_by": ["majority"] * 3,
        }
    )
    assert_frame_equal(summary.select(expected.columns), expected)


def test_quantity_rule_tiers_each_purchase_and_the_customer_takes_the_dominant_one() -> None:
    orders = staged_orders(
        {
            "customer_id": ["x", "x", "x", "y", "y", "z"],
            "order_id": ["1", "2", "2", "3", "4", "5"],
            "order_date": ["2024-01-01"] * 6,
            "quantity": ["25", "2", "1", "21", "6", "5"],
            "amount": ["100", "100", "50", "100", "100", "7"],
        }
    )
    _, tiered = tier_summary_for(
        orders, rule="quantity", medium_min_quantity=6, large_min_quantity=21
    )
    tiers = dict(tiered.select("customer_id", "tier").collect().iter_rows())
    # x: Large purchase 100 vs Small purchase (2 + 1 = 3 sets) 150 → Small.
    # y: Large 100 vs Medium 100, a tie → the larger tier. z: 5 sets → Small.
    assert tiers == {"x": "Small", "y": "Large", "z": "Small"}


def test_key_tier_tie_is_settled_by_the_fixed_order() -> None:
    orders = staged_orders(
        {
            "customer_id": ["a", "b"],
            "order_date": ["2024-01-01"] * 2,
            "quantity": ["25", "1"],
            "amount": ["50", "50"],
        }
    )
    default, _ = tier_summary_for(orders, rule="quantity", preference="fixed")
    assert default.filter("is_key_tier")["tier"].to_list() == ["Large"]
    preferred, _ = tier_summary_for(
        orders, rule="quantity", preference="fixed", fixed_order=("Small", "Medium", "Large")
    )
    assert preferred.filter("is_key_tier")["tier"].to_list() == ["Small"]
    assert preferred["is_majority"].to_list() == [False, False, False]
    assert preferred["customers"].to_list() == [1, 0, 1]
    assert preferred["decided_by"][0] == "fixed order"


def test_staging_types_customers_and_keeps_only_canonical_columns() -> None:
    customers = raw(
        {
            "customer_id": ["001"],
            "employee_count": ["120"],
            "annual_revenue": ["5000000000"],
            "created_at": ["2023-02-03"],
            "city": [" Hà Nội "],
            "favourite_colour": ["blue"],
        }
    )
    staged = stage_source("customers", customers, scale=SCALE).collect()
    assert staged.columns == [
        "_row_number",
        "customer_id",
        "employee_count",
        "annual_revenue",
        "city",
        "created_at",
    ]
    assert staged.row(0) == (1, "001", 120, Decimal("5000000000"), "Hà Nội", datetime(2023, 2, 3))


def test_configured_day_first_date_format_is_used() -> None:
    orders = stage_orders(
        raw({"customer_id": ["a"], "order_date": ["03/02/2024"], "amount": ["1"]}),
        scale=SCALE,
        date_format="%d/%m/%Y",
    ).collect()
    assert orders["order_date"].item() == datetime(2024, 2, 3)
