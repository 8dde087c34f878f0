"""The drift monitor: PSI by hand, and planted drift (or a launch) triggering an early
refresh under a real Prefect API, while unchanged data does not."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from flows.cli import app
from flows.drift import drift_check
from tests.conftest import ORDERS_CSV, read_view, write
from transforms.drift import drift_measures, psi
from transforms.profiles import attribute_mix


def shares(pairs: dict[str, float]) -> pl.DataFrame:
    return pl.DataFrame({"key": list(pairs), "share": list(pairs.values())})


def test_psi_by_hand() -> None:
    expected = shares({"a": 0.5, "b": 0.5})
    assert psi(expected, expected) == 0
    by_hand = 0.4 * math.log(0.9 / 0.5) + (-0.4) * math.log(0.1 / 0.5)  # 0.878890
    assert psi(expected, shares({"a": 0.9, "b": 0.1})) == pytest.approx(by_hand, abs=1e-12)
    # counts are normalised; a category missing on one side counts with a tiny share
    assert psi(shares({"a": 1, "b": 1}), shares({"a": 9, "b": 1})) == pytest.approx(by_hand)
    assert psi(shares({"a": 1.0}), shares({"a": 0.5, "new": 0.5})) > 2


@pytest.fixture
def published(runner: CliRunner, orders_only: Path) -> Path:
    """orders_only refreshed as of 2024-06-01: 00018 Large (500), 00017 Medium, 00019 Small."""
    result = runner.invoke(app, ["refresh", "--config", str(orders_only), "--as-of", "2024-06-01"])
    assert result.exit_code == 0, result.output
    return orders_only


def runs(config: Path) -> list[tuple]:
    return read_view(
        config.parent,
        "select as_of, trigger, reason from personas.refresh_runs_history "
        "where status = 'succeeded' order by finished_at",
    )


def test_unchanged_data_triggers_no_refresh(published: Path, prefect_api: str) -> None:
    report = drift_check(config_path=published, today=date(2024, 6, 1))
    assert report.trigger is None and report.refresh is None
    assert {m.name for m in report.measures} >= {"tier revenue share", "segments: rfm"}
    assert max(m.psi for m in report.measures) == pytest.approx(0, abs=1e-9)
    assert len(runs(published)) == 1


def test_planted_drift_past_the_threshold_refreshes_early(
    published: Path, prefect_api: str
) -> None:
    # 00019 (Small, 50) suddenly buys 10,000 three times: the tiers' sales mix moves a lot
    write(
        published.parent / "data" / "orders.csv",
        ORDERS_CSV + "".join(f"00019,{order},2024-05-20,10000,completed\n" for order in "FGH"),
    )
    report = drift_check(config_path=published, today=date(2024, 6, 1))
    tier = next(m for m in report.measures if m.name == "tier revenue share")
    assert tier.psi > 0.2
    assert report.trigger == "drift"
    assert report.refresh is not None
    (_, second) = runs(published)
    assert second[1] == "drift"
    assert second[2].startswith("drift past PSI 0.2: tier revenue share PSI ")


def test_drift_below_a_raised_threshold_does_not_refresh(
    published: Path, prefect_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        published.parent / "data" / "orders.csv",
        ORDERS_CSV + "00019,F,2024-05-20,10000,completed\n",
    )
    monkeypatch.setenv("PERSONAS_DRIFT__PSI_THRESHOLD", "50")
    report = drift_check(config_path=published, today=date(2024, 6, 1))
    assert report.trigger is None
    assert len(runs(published)) == 1


def test_a_product_launched_since_the_refresh_triggers_a_launch_refresh(
    published: Path, runner: CliRunner
) -> None:
    here = published.parent
    write(here / "data" / "products.csv", "product_id,name,launched_at\nP9,Gói AI,2024-06-10\n")
    config = published.read_text() + '[sources.products]\npath = "data/products.csv"\n'
    published.write_text(config)
    result = runner.invoke(app, ["drift", "--config", str(published), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "Launched since: P9 (2024-06-10)" in result.stdout
    assert "Would refresh early (launch)" in result.stdout
    assert len(runs(published)) == 1  # a dry run refreshes nothing
    result = runner.invoke(app, ["drift", "--config", str(published)])
    assert result.exit_code == 0, result.output
    assert runs(published)[-1][1:] == ("launch", "launched since the last refresh: P9 (2024-06-10)")


# --- drift of data against itself is exactly 0, nulls included -------------------------------

labels = st.one_of(st.none(), st.sampled_from(["A", "B", "Hà Nội", "(other)", ""]))


@settings(max_examples=80, deadline=None)
@given(
    tiers=st.lists(
        st.tuples(st.sampled_from(["Large", "Medium", "Small"]), st.integers(-50, 10**6)),
        min_size=1,
        max_size=3,
        unique_by=lambda t: t[0],
    ),
    rfm=st.lists(labels, min_size=1, max_size=40),
    segments=st.lists(
        st.tuples(st.sampled_from(["demographic", "geographic"]), labels, st.integers(0, 500)),
        min_size=1,
        max_size=12,
        unique_by=lambda t: t[:2],
    ),
    customers=st.lists(st.tuples(labels, labels), min_size=1, max_size=60),
)
def test_every_measure_of_data_against_itself_is_exactly_zero(
    tiers: list, rfm: list, segments: list, customers: list
) -> None:
    population = pl.DataFrame(
        customers, schema={"industry": pl.String, "city": pl.String}, orient="row"
    )
    mix = attribute_mix(population.lazy(), attributes=["industry", "city"], min_people=2).collect()
    data = {
        "tier_summary": pl.DataFrame(tiers, schema=["tier", "sales_revenue"], orient="row"),
        "customer_segments": pl.DataFrame({"rfm_segment": rfm}, schema={"rfm_segment": pl.String}),
        "segment_summary": pl.DataFrame(
            segments,
            schema={"base": pl.String, "segment": pl.String, "customers": pl.Int64},
            orient="row",
        ),
        "personas": pl.DataFrame(
            {
                "kind": ["company", "company"],
                "attribute": ["industry", "city"],
                "is_distinguishing": [True, True],
            }
        ),
        "attribute_mix": mix,
    }
    measures = drift_measures(data, data)
    assert {m.name for m in measures} >= {"tier revenue share", "segments: rfm", "industry mix"}
    assert all(m.psi == 0 for m in measures), measures


def test_nulls_are_a_category_of_their_own_on_both_sides() -> None:
    # the same known values, but half the customers lost their industry: a real shift
    before = pl.LazyFrame({"industry": ["A", "A", "B", "B"]})
    after = pl.LazyFrame({"industry": ["A", None, "B", None]})
    mixes = [
        attribute_mix(frame, attributes=["industry"], min_people=1).collect()
        for frame in (before, after)
    ]
    assert mixes[1].filter(pl.col("value") == "(unknown)")["share"].item() == 0.5
    personas = pl.DataFrame(
        {"kind": ["company"], "attribute": ["industry"], "is_distinguishing": [True]}
    )
    empty = {
        "tier_summary": pl.DataFrame({"tier": ["Large"], "sales_revenue": [1]}),
        "customer_segments": pl.DataFrame({"rfm_segment": ["A"]}),
        "segment_summary": pl.DataFrame(
            schema={"base": pl.String, "segment": pl.String, "customers": pl.Int64}
        ),
        "personas": personas,
    }
    (mix,) = [
        m
        for m in drift_measures(
            {**empty, "attribute_mix": mixes[0]}, {**empty, "attribute_mix": mixes[1]}
        )
        if m.name == "industry mix"
    ]
    # (A .5→.25, B .5→.25, unknown 0→.5 smoothed to 1e-4): by hand
    by_hand = 2 * (-0.25 * math.log(0.25 / 0.5)) + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    assert mix.psi == pytest.approx(by_hand, rel=1e-9)


def test_unchanged_sample_data_with_b2c_customers_shows_no_drift_on_any_measure(
    runner: CliRunner, tmp_path: Path
) -> None:
    from sampledata import SAMPLE_END_DATE, generate_sample

    generate_sample(tmp_path / "data", customers=600, order_lines=6000, seed=3)
    config = write(
        tmp_path / "personas.toml",
        "".join(
            f'[sources.{name}]\npath = "data/{name}.csv"\n'
            for name in ("orders", "customers", "contacts", "products", "leads", "feedback")
        ),
    )
    refreshed = runner.invoke(
        app, ["refresh", "--config", str(config), "--as-of", str(SAMPLE_END_DATE)]
    )
    assert refreshed.exit_code == 0, refreshed.output
    # B2C customers have no company attributes: nulls the mixes must count on both sides
    report = drift_check(config_path=config)  # today: the data is measured as of its as_of
    assert report.as_of == SAMPLE_END_DATE == report.published_as_of
    names = {m.name for m in report.measures}
    assert {"tier revenue share", "segments: rfm", "segments: geographic"} <= names
    assert any(name.endswith(" mix") for name in names)  # key attributes compared too
    assert [m for m in report.measures if m.psi != 0] == []
    assert report.trigger is None
    result = runner.invoke(app, ["drift", "--config", str(config), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "No early refresh needed." in result.stdout
