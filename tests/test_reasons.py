"""A customer's reason kept as its parts: joined by hand on small frames, joined the same
way as Python joins the texts for any parts (nulls, empty texts, Vietnamese), and a
refresh's customers hold the parts, never the joined text, until it is published."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from config.loader import load_config
from pipeline.stages import Computed, extract, resolve_customers, transform, validate
from sampledata import generate_sample
from schemas.outputs import check_outputs
from schemas.reasons import (
    PART_PREFIX,
    joined_reason,
    part_columns,
    reason_parts,
    without_reason,
)


def test_the_parts_are_joined_in_order_where_the_first_part_stands() -> None:
    kept = pl.DataFrame({"customer_id": ["007", "8"], "tier": ["Large", "Small"]}).with_columns(
        **reason_parts(
            [
                pl.format("tier {}", "tier"),
                pl.lit("Pareto class A"),
                pl.when(pl.col("customer_id") == "8").then(pl.lit("Hà Nội: không")),
            ]
        ),
        p_alive=pl.lit(0.5),
    )
    assert kept.schema[f"{PART_PREFIX}00"] == pl.Categorical
    assert part_columns(kept.columns) == [f"{PART_PREFIX}0{n}" for n in range(3)]
    joined = joined_reason(kept)
    assert joined.columns == ["customer_id", "tier", "reason", "p_alive"]
    # a null part (customer 007's third) makes the reason null, as concat_str does
    assert joined["reason"].to_list() == [None, "tier Small; Pareto class A; Hà Nội: không"]
    assert_frame_equal(joined_reason(kept.lazy()).collect(), joined)
    assert (
        without_reason(kept).columns
        == without_reason(joined).columns
        == [
            "customer_id",
            "tier",
            "p_alive",
        ]
    )


def test_a_frame_without_parts_is_left_as_it_is() -> None:
    published = pl.DataFrame({"customer_id": ["1"], "reason": ["as published"]})
    assert joined_reason(published) is published
    assert part_columns(published.columns) == []


texts = st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["", "Đà Nẵng", "a; b"]))


@examples(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(texts, min_size=3, max_size=3), min_size=1, max_size=20))
def test_any_parts_join_as_python_joins_them(rows: list[list[str | None]]) -> None:
    columns = {f"p{n}": [row[n] for row in rows] for n in range(3)}
    kept = pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.String))
    kept = kept.select(**reason_parts([pl.col(name) for name in columns]))
    expected = [None if None in row else "; ".join(row) for row in rows]  # type: ignore[arg-type]
    assert joined_reason(kept)["reason"].to_list() == expected


@pytest.fixture(scope="module")
def sample_refresh(tmp_path_factory: pytest.TempPathFactory) -> Computed:
    """A small refresh's transform (orders only), run without Prefect."""
    folder = tmp_path_factory.mktemp("reasons")
    generate_sample(folder, customers=60, order_lines=600, seed=5)
    config = folder / "personas.toml"
    config.write_text(
        f'[warehouse]\nurl = "duckdb:///{folder / "warehouse.duckdb"}"\n'
        f'[sources.orders]\npath = "{folder / "orders.csv"}"\n',
        encoding="utf-8",
    )
    loaded = load_config(config).settings
    inputs = resolve_customers(validate(extract(loaded), loaded), loaded)
    return transform(inputs, loaded, date(2026, 6, 30), "abcdef0123456789")


def test_a_refresh_keeps_the_parts_and_publishes_the_joined_reason(
    sample_refresh: Computed,
) -> None:
    customers = sample_refresh.customers
    assert "reason" not in customers.columns
    parts = part_columns(customers.columns)
    assert len(parts) == 9  # tier, Pareto, RFM, four bases, best customer, config
    assert all(customers.schema[part] == pl.Categorical for part in parts)
    segments = sample_refresh.tables["customer_segments"]
    reasons = joined_reason(segments)["reason"]
    assert reasons.null_count() == 0
    first = reasons[0].split("; ")
    assert first[0].startswith("tier ")
    assert any(part.startswith("Pareto class ") for part in first)
    assert first[-1] == "config abcdef012345"


def test_a_null_part_is_the_published_reason_s_contract_failure(sample_refresh: Computed) -> None:
    """The contract is checked on the reason as published: a null part is a null reason,
    named by its row, and nothing else fails."""
    segments = sample_refresh.tables["customer_segments"]
    assert check_outputs({"customer_segments": segments}, scale=4) == []
    part = part_columns(segments.columns)[3]
    broken = segments.with_columns(
        pl.when(pl.int_range(pl.len()) == 1).then(None).otherwise(pl.col(part)).alias(part)
    )
    [line] = check_outputs({"customer_segments": broken}, scale=4)
    assert line.startswith("customer_segments.reason: ") and line.endswith("(row 2)"), line
