"""check_published on tiny hand-made refreshes: a valid one passes, each broken property fails
with its exact line, and Data Docs land in the given directory only.

The expectations are declared once and run two ways: in polars (every refresh) and through
Great Expectations (when Data Docs are written). Both engines must find exactly the same
failures, worded the same: the tests run under each. A GX call costs about a second (the
first one also imports GX: seconds more), so the broken properties share one call.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from quality.published_checks import CheckOutcome, check_published
from warehouse.tables import TIER_SUMMARY

MONEY = pl.Decimal(38, 4)
TIERS = ("Large", "Medium", "Small")
BASES = ("demographic", "geographic", "psychographic", "behavioural")
SEGMENT_VALUES = {
    "rfm_segment": ["Champions", "Loyal", "At Risk", "Lost"],
    "demographic_segment": ["SME (10-199 staff)", "Micro (<10 staff)", "Unknown"],
    "geographic_segment": ["Hà Nội", "TP HCM", "Unknown"],
    "psychographic_segment": ["Mainstream", "Sceptics", "Unknown"],
    "behavioural_segment": ["Repeat buyers", "Lapsed", "Other"],
}
# Four customers in Pareto order (revenue descending); everything but revenue is fixed.
CUSTOMERS = {
    "customer_id": ["C1", "C2", "C3", "C4"],
    "order_count": [6, 3, 2, 1],
    "tier": ["Large", "Medium", "Small", "Small"],
    "pareto_class": ["A", "A", "B", "C"],
    "r_score": [5, 4, 2, 1],
    "f_score": [5, 4, 3, 1],
    "m_score": [5, 4, 2, 1],
    "rfm_segment": ["Champions", "Loyal", "At Risk", "Lost"],
    "demographic_segment": [
        "SME (10-199 staff)",
        "Micro (<10 staff)",
        "SME (10-199 staff)",
        "Unknown",
    ],
    "geographic_segment": ["Hà Nội", "Hà Nội", "TP HCM", "Unknown"],
    "psychographic_segment": ["Mainstream", "Mainstream", "Sceptics", "Unknown"],
    "behavioural_segment": ["Repeat buyers", "Repeat buyers", "Repeat buyers", "Lapsed"],
    "is_best_customer": [True, False, False, False],
    "persona_id": ["P1", None, None, None],
}
# 13 data tables: each table's declared contract (keys, value sets with not-null where the
# column is required, ranges and shares) and the checks across tables. customer_segments 29,
# tier_summary 13, pareto_summary 7, pareto_curve 7, segment_summary 16, personas 13,
# persona_cards 4, lead_scores 3, segment_transitions 9, attribute_mix 5, clv_model 5,
# customer_identity 8, identity_review 4.
EXPECTATIONS = 123

Mutation = Callable[[dict[str, pl.DataFrame]], None]


def _share(part: Decimal, total: Decimal) -> float | None:
    # as the transforms publish it: a float division, null when there is no revenue
    return float(part) / float(total) if total else None


def published(revenues: Sequence[str] = ("600", "300", "60", "40")) -> dict[str, pl.DataFrame]:
    """A consistent refresh of the four CUSTOMERS with these revenues, every table derived."""
    money = [Decimal(value) for value in revenues]
    assert money == sorted(money, reverse=True), "revenues in Pareto order"
    total = sum(money, Decimal(0))
    cumulative = [sum(money[: rank + 1], Decimal(0)) for rank in range(len(money))]
    n = len(money)
    customers = pl.DataFrame(
        {
            **CUSTOMERS,
            "revenue": pl.Series(money, dtype=MONEY),
            "pareto_rank": list(range(1, n + 1)),
            "cumulative_share": pl.Series([_share(c, total) for c in cumulative], dtype=pl.Float64),
            "reason": ["rule fired"] * n,
            "p_alive": [0.9, 1.0, 0.4, None],  # null: no purchase day to predict from
            "expected_purchases": [2.5, 1.0, 0.3, None],
            "predicted_clv": pl.Series(
                [Decimal("120.50"), Decimal("40"), Decimal("0"), None], dtype=MONEY
            ),
        }
    )

    def summary(column: str, groups: Sequence[str]) -> pl.DataFrame:
        rows = customers.group_by(column).agg(customers=pl.len(), revenue=pl.col("revenue").sum())
        by_group = {row[column]: row for row in rows.iter_rows(named=True)}
        counts = [by_group[g]["customers"] if g in by_group else 0 for g in groups]
        sums = [by_group[g]["revenue"] if g in by_group else Decimal(0) for g in groups]
        return pl.DataFrame(
            {
                column: list(groups),
                "customers": pl.Series(counts, dtype=pl.Int64),
                "revenue": pl.Series(sums, dtype=MONEY),
                "revenue_share": pl.Series([_share(s, total) for s in sums], dtype=pl.Float64),
            }
        )

    # always all three, as published; each customer bought in its own tier only
    tiers = summary("tier", TIERS).rename(
        {"revenue": "sales_revenue", "revenue_share": "sales_share"}
    )
    key = tiers["sales_revenue"].arg_max()
    tiers = tiers.with_columns(
        lower_bound=pl.lit(None, MONEY),
        upper_bound=pl.lit(None, MONEY),
        bounds_basis=pl.lit("hand-made"),
        purchases=pl.col("customers"),
        buying_customers=pl.col("customers"),
        deal_days=pl.lit(None, pl.Float64),
        deal_days_basis=pl.lit("first to second order"),
        paid_on_time_share=pl.lit(None, pl.Float64),
        repeat_rate=pl.lit(0.0),
        is_key_tier=pl.int_range(pl.len()) == key,
        is_majority=(pl.int_range(pl.len()) == key) & (pl.col("sales_share") > 0.5),
        decided_by=pl.lit("largest sales"),
        key_reason=pl.lit("hand-made"),
    ).select(TIER_SUMMARY.column_names)
    segments = pl.concat(
        summary(f"{base}_segment", sorted(set(CUSTOMERS[f"{base}_segment"])))
        .rename({f"{base}_segment": "segment"})
        .select(pl.lit(base).alias("base"), pl.all())
        for base in BASES
    )
    points = [math.ceil(p * n / 100) for p in range(101)]
    curve = pl.DataFrame(
        {
            "customer_pct": range(101),
            "cumulative_revenue_share": pl.Series(
                [0.0 if rank == 0 else _share(cumulative[rank - 1], total) for rank in points],
                dtype=pl.Float64,
            ),
        }
    )
    pareto = pl.DataFrame(
        {
            "customers": [n],
            "revenue": pl.Series([total], dtype=MONEY),
            "top_share_customers": [0.2],
            "top_customers": [1],
            "top_share_revenue": [_share(money[0], total)],
            "customers_for_80pct": [2],
            "gini": [0.5],
        }
    )
    personas = pl.DataFrame(
        {
            "persona_id": ["P1", "P1", "P1"],
            "kind": ["company", "company", "buyer"],
            "attribute": ["industry", "city", "title_level"],
            "value": ["Retail", "Hà Nội", "Director"],
            "support": [1.0, 0.5, 0.75],
            "lift": [2.0, 1.0, 1.5],
            "customers": [1, 1, 1],
            "population_share": [0.5, 0.5, 0.5],
            "ci_low": [0.2, 0.1, 0.3],
            "ci_high": [1.0, 0.9, 0.95],
            "is_distinguishing": [True, False, True],
        }
    )
    cards = pl.DataFrame(
        {"persona_id": ["P1"], "name": ["Retail directors"], "key_tier": ["Large"]}
    )
    leads = pl.DataFrame(
        {
            "lead_id": ["L1", "L2", "L3"],
            "fit_score": [1.0, 0.4, 0.0],
            "is_target": [True, False, False],
            "matched_persona_id": ["P1", None, None],
            "matched_attributes": ["industry=Retail", "city=Hà Nội", None],
        }
    )
    # since a previous refresh of 4 customers: C4 is new, a former Small customer was lost
    transitions = pl.DataFrame(
        [
            ("tier", "Large", "Large", 1),
            ("tier", "Medium", "Medium", 1),
            ("tier", "Small", "Small", 1),
            ("tier", "Small", "(lost)", 1),
            ("tier", "(new)", "Small", 1),
            ("rfm", "Champions", "Champions", 1),
            ("rfm", "Loyal", "Loyal", 1),
            ("rfm", "Loyal", "At Risk", 1),
            ("rfm", "(new)", "Lost", 1),
            ("rfm", "At Risk", "(lost)", 1),
        ],
        schema=["base", "from_segment", "to_segment", "customers"],
        orient="row",
    )
    return {
        "customer_segments": customers,
        "tier_summary": tiers,
        "pareto_summary": pareto,
        "pareto_curve": curve,
        "segment_summary": segments,
        "personas": personas,
        "persona_cards": cards,
        "lead_scores": leads,
        "segment_transitions": transitions,
        "attribute_mix": pl.DataFrame(
            {
                "attribute": ["industry", "industry"],
                "value": ["(unknown)", "Phần mềm"],
                "customers": [1, 3],
                "share": [0.25, 0.75],
            }
        ),
        "customer_identity": pl.DataFrame(
            {
                "source": ["customers"] * 3,
                "source_id": ["C1", "C5", "C2"],
                "customer_id": ["C1", "C1", "C2"],
                "match_rule": ["tax_code", "tax_code", "self"],
                "match_probability": [1.0, 1.0, None],
                "records": [2, 2, 1],
            }
        ),
        "identity_review": pl.DataFrame(
            {
                "left_id": ["C3"],
                "right_id": ["C4"],
                "match_probability": [0.42],
                "left_customer_id": ["C3"],
                "right_customer_id": ["C4"],
            }
        ),
        "clv_model": pl.DataFrame(
            {
                "model": ["bg_nbd", "bg_nbd", "gamma_gamma"],
                "measure": ["r", "fitted", "fitted"],
                "value": [0.24, 1.0, 0.0],
                "note": ["shape", "fitted by map", "not fitted: too few repeat customers"],
            }
        ),
    }


ENGINES = ("polars", "gx")


def check(
    tables: dict[str, pl.DataFrame],
    *,
    previous_customers: int | None = None,
    max_customer_change: float = 0.5,
    docs_dir: Path | None = None,
    engine: str = "polars",
) -> CheckOutcome:
    """Check with polars, or (engine "gx", or a docs_dir) with GX writing Data Docs."""
    if engine == "gx" and docs_dir is None:
        docs_dir = Path(tempfile.mkdtemp(prefix="personas-docs-"))
    return check_published(
        tables,
        segment_values=SEGMENT_VALUES,
        previous_customers=previous_customers,
        max_customer_change=max_customer_change,
        docs_dir=docs_dir,
        run_name="20240601-0123456789ab",
    )


def set_cell(table: str, column: str, row: int, value: object) -> Mutation:
    """A mutation: tables[table][row, column] = value."""

    def mutate(tables: dict[str, pl.DataFrame]) -> None:
        frame = tables[table]
        values = frame[column].to_list()
        values[row] = value
        tables[table] = frame.with_columns(pl.Series(column, values, dtype=frame[column].dtype))

    return mutate


@pytest.mark.parametrize("engine", ENGINES)
def test_a_consistent_refresh_passes_quietly(
    engine: str, capfd: pytest.CaptureFixture[str]
) -> None:
    outcome = check(published(), engine=engine)

    assert (outcome.success, outcome.failures, outcome.expectations) == (True, [], EXPECTATIONS)
    assert (outcome.docs_index is None) == (engine == "polars")
    assert capfd.readouterr() == ("", "")  # no progress bars, logs or warnings


def _segment_share(tables: dict[str, pl.DataFrame]) -> None:
    frame = tables["segment_summary"]
    tables["segment_summary"] = frame.with_columns(
        revenue_share=pl.when((pl.col("base") == "demographic") & (pl.col("segment") == "Unknown"))
        .then(0.0)
        .otherwise(pl.col("revenue_share"))
    )


# Broken properties, each with its mutation and the exact line it must produce. They touch
# different cells, so one refresh carries them all and one GX call checks them (GX costs about
# a second per call): each property's test looks for its line, and one test checks that the
# lines are all there is.
BROKEN: list[tuple[str, Mutation, str]] = [
    (
        "duplicate customer_id",
        set_cell("customer_segments", "customer_id", 3, "C1"),
        "customer_segments: expect_column_values_to_be_unique(customer_id): "
        "2 unexpected values, e.g. ['C1', 'C1']",
    ),
    (
        "unknown tier",
        set_cell("customer_segments", "tier", 0, "Huge"),
        "customer_segments: expect_column_values_to_be_in_set(tier): "
        "1 unexpected value, e.g. ['Huge']",
    ),
    (
        "segment value outside segment_values",
        set_cell("customer_segments", "rfm_segment", 1, "Sleeping Beauty"),
        "customer_segments: expect_column_values_to_be_in_set(rfm_segment): "
        "1 unexpected value, e.g. ['Sleeping Beauty']",
    ),
    (
        "customer count change past the bound",
        lambda tables: None,  # previous_customers=10, ±50%: 5..15, and there are 4
        "customer_segments: expect_table_row_count_to_be_between: "
        "observed 4, expected between 5 and 15 (previous refresh 10 ± 50%)",
    ),
    (
        "tier customers disagree with customer_segments",
        set_cell("tier_summary", "customers", 2, 3),  # Small has 2 customers
        "tier_summary: expect_column_sum_to_be_between(customers): observed 5, expected 4",
    ),
    (
        "tier shares sum to 1.05",
        set_cell("tier_summary", "sales_share", 2, 0.15),  # 0.6 + 0.3 + 0.15
        "tier_summary: expect_column_sum_to_be_between(sales_share): "
        "observed 1.05, expected 1 ± 1e-09",
    ),
    (
        "falling Pareto curve",
        set_cell("pareto_curve", "cumulative_revenue_share", 50, 0.5),  # 49%: 0.9, 51%: 0.96
        "pareto_curve: expect_column_values_to_be_increasing(cumulative_revenue_share): "
        "1 unexpected value, e.g. [0.5]",
    ),
    (
        "a base's segment shares do not sum to 1",
        _segment_share,  # demographic: 0.66 + 0.3 + 0 (was 0.04)
        "segment_summary: expect_column_sum_to_be_between(revenue_share) "
        "where base == 'demographic': observed 0.96, expected 1 ± 1e-09",
    ),
]


@pytest.fixture(scope="module", params=ENGINES)
def broken(request: pytest.FixtureRequest) -> CheckOutcome:
    tables = published()
    for _, mutate, _ in BROKEN:
        mutate(tables)
    return check(tables, previous_customers=10, max_customer_change=0.5, engine=request.param)


@pytest.mark.parametrize("line", [line for *_, line in BROKEN], ids=[name for name, *_ in BROKEN])
def test_a_broken_property_fails_with_its_line(broken: CheckOutcome, line: str) -> None:
    assert line in broken.failures
    assert not broken.success


def test_a_broken_refresh_fails_with_exactly_its_lines_in_table_and_suite_order(
    broken: CheckOutcome,
) -> None:
    assert broken.failures == [line for *_, line in BROKEN]
    assert broken.expectations == EXPECTATIONS + 1  # the change check


@pytest.mark.parametrize("engine", ENGINES)
def test_customer_count_change_exactly_at_the_bound_passes(engine: str) -> None:
    # 25 × (1 − 0.84) is exactly 4; in floats it is 4.000000000000001, which rounds up to 5
    outcome = check(published(), previous_customers=25, max_customer_change=0.84, engine=engine)

    assert outcome.success, outcome.failures
    assert outcome.expectations == EXPECTATIONS + 1


@pytest.mark.parametrize("engine", ENGINES)
def test_net_negative_customers_make_the_curve_peak_above_1_and_fall_back(engine: str) -> None:
    # A customer whose refunds outweigh their purchases ranks last: the cumulative share
    # reaches 1000/950 after C3 and falls back to 1 at 100%. That is correct, not broken.
    tables = published(("600", "300", "100", "-50"))
    assert tables["pareto_curve"]["cumulative_revenue_share"].max() > 1

    outcome = check(tables, engine=engine)

    assert outcome.success, outcome.failures
    assert outcome.expectations == EXPECTATIONS + 1  # the curve: rising part, falling part


@pytest.mark.parametrize("engine", ENGINES)
def test_without_revenue_shares_must_be_null_instead_of_summing_to_1(engine: str) -> None:
    tables = published(("0", "0", "0", "0"))
    assert tables["tier_summary"]["sales_share"].is_null().all()

    outcome = check(tables, engine=engine)

    assert outcome.success, outcome.failures
    # no share sums (4 bases + tiers) or bounds (tiers, segments, curve, cumulative_share:
    # 2 each) or curve shape, and 2 "is null" in their place: 80 - 5 - 8 - 1 + 2
    assert outcome.expectations == EXPECTATIONS - 12


def test_docs_are_written_to_docs_dir_and_nowhere_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    docs = tmp_path / "docs" / "data_docs"  # parents created too
    tables = published()
    set_cell("customer_segments", "tier", 0, "Huge")(tables)

    outcome = check(tables, docs_dir=docs)

    assert outcome.docs_index == docs / "index.html"
    assert outcome.docs_index.is_file()
    pages = sorted(docs.glob("validations/customer_segments/20240601-0123456789ab/*/*.html"))
    assert len(pages) == 1
    page = pages[0].read_text(encoding="utf-8")
    assert "20240601-0123456789ab" in page
    assert "Huge" in page  # the failed expectation's unexpected value is on the page
    assert len(list(docs.glob("validations/*/20240601-0123456789ab/*/*.html"))) == 13
    assert "20240601-0123456789ab" in outcome.docs_index.read_text(encoding="utf-8")
    assert list(cwd.iterdir()) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cwd", "docs"]
    assert capfd.readouterr() == ("", "")


def test_a_missing_table_is_a_caller_error() -> None:
    tables = published()
    del tables["lead_scores"]

    with pytest.raises(ValueError, match="missing: lead_scores"):
        check(tables)
