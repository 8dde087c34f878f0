"""Segments on the four bases: hand-computed rules, defaults, and one segment per base always."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from config.settings import Settings
from pipeline.stages import segment_bases
from transforms.segmentation import (
    BASES,
    Condition,
    SegmentRule,
    assign_segments,
    customer_attributes,
    largest_places,
    segment_summary,
)

MONEY = pl.Decimal(38, 4)


def customers(**columns: list) -> pl.LazyFrame:
    n = len(next(iter(columns.values())))
    base = {
        "customer_id": [f"c{i}" for i in range(n)],
        "revenue": pl.Series([Decimal(10 * (i + 1)) for i in range(n)], dtype=MONEY),
    }
    return pl.LazyFrame({**base, **columns})


SIZE_RULES = [
    SegmentRule("Consumers", {"customer_type": Condition(values=("B2C",))}),
    SegmentRule("Large", {"employee_count": Condition(minimum=Decimal(200))}),
    SegmentRule("Small", {"employee_count": Condition(maximum=Decimal(199))}),
]


def test_first_matching_rule_wins_and_bands_are_inclusive() -> None:
    frame = customers(
        customer_type=["B2C", "B2B", "B2B", "B2B", None],
        employee_count=[5000, 200, 199, None, 10],
    )
    result = assign_segments(frame, bases={"demographic": (SIZE_RULES, "Unknown")}).collect()
    assert result["demographic_segment"].to_list() == [
        "Consumers",  # first rule wins even though 5000 staff would be Large
        "Large",  # 200 ≥ 200
        "Small",  # 199 ≤ 199
        "Unknown",  # null employee_count matches no band
        "Small",  # a null customer_type does not stop the size rules
    ]
    assert result["demographic_reason"][1] == "demographic Large: employee_count ≥ 200"
    assert result["demographic_reason"][3] == "demographic Unknown: no rule matched"


def test_not_in_needs_a_value_and_all_conditions_must_hold() -> None:
    rules = [
        SegmentRule(
            "Loyal",
            {"order_count": Condition(minimum=Decimal(5)), "recency_days": Condition(maximum=180)},
        ),
        SegmentRule("Abroad", {"country": Condition(not_in=("Việt Nam",))}),
    ]
    frame = customers(
        order_count=[5, 9, 1, 1],
        recency_days=[180, 181, 10, 10],
        country=["Việt Nam", None, "Japan", "Việt Nam"],
    )
    result = assign_segments(frame, bases={"behavioural": (rules, "Other")}).collect()
    assert result["behavioural_segment"].to_list() == ["Loyal", "Other", "Abroad", "Other"]


def test_a_missing_attribute_leaves_everyone_in_the_default_and_says_why() -> None:
    frame = customers(order_count=[1, 2])
    result = assign_segments(
        frame,
        bases={
            "psychographic": (
                [SegmentRule("Early", {"attitude": Condition(values=("x",))})],
                "Unknown",
            )
        },
    ).collect()
    assert result["psychographic_segment"].to_list() == ["Unknown", "Unknown"]
    assert result["psychographic_reason"][0] == (
        "psychographic Unknown: no rule matched (not in the data: attitude)"
    )


def test_segment_summary_shares_sum_to_one_per_base() -> None:
    frame = customers(customer_type=["B2C", "B2B", "B2B"], employee_count=[1, 500, 20])
    segmented = assign_segments(frame, bases={"demographic": (SIZE_RULES, "Unknown")})
    summary = segment_summary(segmented, bases=["demographic"]).collect()
    assert summary.rows() == [
        ("demographic", "Small", 1, Decimal("30"), 0.5),
        ("demographic", "Large", 1, Decimal("20"), 20 / 60),
        ("demographic", "Consumers", 1, Decimal("10"), 10 / 60),
    ]


def test_age_is_derived_from_birth_date_at_as_of() -> None:
    metrics = pl.LazyFrame({"customer_id": ["a", "b", "c"]})
    people = pl.LazyFrame(
        {
            "_row_number": [1, 2, 3],
            "customer_id": ["a", "b", "c"],
            "birth_date": [date(1990, 6, 30), date(1990, 7, 1), None],
        }
    )
    result = (
        customer_attributes(metrics, people, as_of=date(2026, 6, 30)).collect().sort("customer_id")
    )
    assert result["age"].to_list() == [36, 35, None]  # b's birthday is tomorrow


def test_default_bases_name_every_sample_like_customer() -> None:
    frame = customers(
        customer_type=["B2B", "B2C", "B2B"],
        employee_count=[120, None, 1500],
        city=["TP HCM", "Huế", None],
        country=["Việt Nam", "Việt Nam", "Japan"],
        attitude_to_technology=["early adopter", None, "sceptic"],
        order_count=[7, 1, 2],
        recency_days=[30, 400, 100],
    )
    bases = segment_bases(
        Settings.model_validate({"sources": {"orders": {"path": "o.csv"}}}), frame
    )
    result = assign_segments(frame, bases=bases).collect()
    assert result.select(f"{base}_segment" for base in BASES).rows() == [
        ("SME (10-199 staff)", "Việt Nam", "Early adopters", "Loyal heavy buyers"),
        ("Consumers", "Việt Nam", "Unknown", "Lapsed"),
        ("Enterprise (1000+ staff)", "Japan", "Sceptics", "Repeat buyers"),
    ]


def test_default_geographic_segments_come_from_the_data_in_any_country() -> None:
    # US accounts: the largest states by customers, the small ones grouped, none unknown
    states = ["CA"] * 40 + ["NY"] * 30 + ["TX"] * 20 + ["WA"] * 6 + ["VT"] * 2 + ["RI"] * 2
    frame = customers(country=["USA"] * 100, region=states)
    rules = largest_places(frame)
    assert [rule.name for rule in rules] == ["CA", "NY", "TX", "WA", "Other regions"]
    segmented = assign_segments(frame, bases={"geographic": (rules, "Unknown")}).collect()
    counts = dict(segmented.group_by("geographic_segment").len().rows())
    assert counts == {"CA": 40, "NY": 30, "TX": 20, "WA": 6, "Other regions": 4}
    # several countries: countries first; a customer with no country is Unknown
    mixed = customers(country=["USA"] * 5 + ["Canada"] * 3 + [None], region=[None] * 9)
    names = [rule.name for rule in largest_places(mixed)]
    assert names == ["USA", "Canada"]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["B2B", "B2C", None]),
            st.one_of(st.none(), st.integers(0, 5000)),
            st.sampled_from(["Hà Nội", "TP HCM", "Paris", None]),
            st.integers(1, 20),
            st.integers(0, 900),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_every_customer_has_exactly_one_segment_per_base(rows: list[tuple]) -> None:
    kinds, staff, cities, orders, recency = (list(column) for column in zip(*rows, strict=True))
    frame = customers(
        customer_type=kinds,
        employee_count=staff,
        city=cities,
        order_count=orders,
        recency_days=recency,
    )
    bases = segment_bases(Settings.model_validate({"sources": {"orders": {"path": "o.csv"}}}))
    result = assign_segments(frame, bases=bases).collect()
    summary = segment_summary(result.lazy()).collect()
    for base in BASES:
        assert result[f"{base}_segment"].null_count() == 0
        assert summary.filter(pl.col("base") == base)["customers"].sum() == len(rows)
        assert abs(summary.filter(pl.col("base") == base)["revenue_share"].sum() - 1) < 1e-9
