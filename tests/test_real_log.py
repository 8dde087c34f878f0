"""A real transaction log, refreshed as it comes: CDNOW's 69,659 lines without order ids.

The CDNOW master log (Fader & Hardie; shipped by the `lifetimes` package, read from
its folder without importing it) has customers who bought the same number of CDs
for the same amount twice on one day: identical lines, each a purchase. Every
customer's revenue, order count, recency, tenure, tier and Pareto rank, and the
Pareto summary, must equal an independent DuckDB computation over every line;
the `pymc` RFM preset must agree with pymc-marketing's own `rfm_segments` on every
customer; and the log's first 2,000 lines must publish too.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from sampledata.cdnow import cdnow_config, write_cdnow_csv
from tests.conftest import invoke_without_prefect, read_view, write

pytestmark = pytest.mark.slow

AS_OF = date(1998, 6, 30)
CONFIG = cdnow_config(
    "data/cdnow.csv",
    """
[rfm]
preset = "pymc"
""",
)

INDEPENDENT = """
with lines as (
    select customer_id, strptime(date, '%Y%m%d')::date as day,
           dollar_value::decimal(38, 2) as amount
    from read_csv('{log}', all_varchar = true)
    where strptime(date, '%Y%m%d')::date <= date '{as_of}'
),
customers as (
    select customer_id, sum(amount) as revenue, count(distinct day) as order_count,
           date '{as_of}' - max(day) as recency_days, date '{as_of}' - min(day) as tenure_days
    from lines group by customer_id
),
ranked as (
    select *, row_number() over (order by revenue desc, customer_id) as pareto_rank,
           count(*) over () as n
    from customers
)
select customer_id, revenue, order_count, recency_days, tenure_days, pareto_rank
from ranked order by customer_id
"""

# Tiers by purchase size (the default rule) with the bounds the refresh published: a
# purchase is one customer's lines on one day (CDNOW has no order ids); its size is
# |value|; a customer's own tier brings it the most revenue, ties to the larger tier.
INDEPENDENT_TIERS = """
with lines as (
    select customer_id, strptime(date, '%Y%m%d')::date as day,
           dollar_value::decimal(38, 2) as amount
    from read_csv('{log}', all_varchar = true)
    where strptime(date, '%Y%m%d')::date <= date '{as_of}'
),
purchases as (
    select customer_id, day, sum(amount) as value,
           case when abs(sum(amount)) >= {large_from} then 'Large'
                when abs(sum(amount)) >= {medium_from} then 'Medium' else 'Small' end as tier
    from lines group by customer_id, day
)
select tier, count(*) filter (where value > 0) as purchases, sum(value) as sales,
       count(distinct customer_id) filter (where value > 0) as buying_customers
from purchases group by tier order by tier
"""
OWN_TIERS = """
with lines as (
    select customer_id, strptime(date, '%Y%m%d')::date as day,
           dollar_value::decimal(38, 2) as amount
    from read_csv('{log}', all_varchar = true)
    where strptime(date, '%Y%m%d')::date <= date '{as_of}'
),
purchases as (
    select customer_id, sum(amount) as value,
           case when abs(sum(amount)) >= {large_from} then 1
                when abs(sum(amount)) >= {medium_from} then 2 else 3 end as rank
    from lines group by customer_id, day
),
per_tier as (
    select customer_id, rank, sum(value) as revenue from purchases group by all
)
select customer_id, ['Large', 'Medium', 'Small'][arg_min(rank, (-revenue, rank))]
from per_tier group by customer_id order by customer_id
"""


def first_differences(ours: list[tuple], theirs: list[tuple]) -> list[tuple]:
    """The first rows that differ (a plain == would make pytest diff 23,570 rows)."""
    return [(a, b) for a, b in zip(ours, theirs, strict=True) if a != b][:5]


@pytest.fixture(scope="module")
def cdnow_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CDNOW_master.txt (whitespace-separated) as the CSV a user would export."""
    folder = tmp_path_factory.mktemp("cdnow")
    log = write_cdnow_csv(folder)
    write_cdnow_csv(folder, limit=2000)
    assert len(log.read_text(encoding="utf-8").splitlines()) == 1 + 69_659
    return folder


def refreshed(log: Path, tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cdnow.csv").write_bytes(log.read_bytes())
    config = write(tmp_path / "personas.toml", CONFIG)
    result = invoke_without_prefect(["refresh", "--config", str(config), "--as-of", str(AS_OF)])
    assert result.exit_code == 0, result.output
    return tmp_path


def test_every_customer_and_the_pareto_summary_equal_an_independent_computation(
    cdnow_log: Path, tmp_path: Path
) -> None:
    here = refreshed(cdnow_log / "cdnow.csv", tmp_path)
    published = read_view(
        here,
        "select customer_id, revenue, order_count, recency_days, tenure_days, "
        "pareto_rank from personas.customer_segments order by customer_id",
    )
    independent = duckdb.sql(
        INDEPENDENT.format(log=cdnow_log / "cdnow.csv", as_of=AS_OF)
    ).fetchall()
    assert len(published) == len(independent) == 23_570
    assert first_differences(published, independent) == []
    # tiers by purchase size, with the bounds derived from the data and published
    bounds = dict(read_view(here, "select tier, lower_bound from personas.tier_summary"))
    cuts = {
        "log": cdnow_log / "cdnow.csv",
        "as_of": AS_OF,
        "large_from": bounds["Large"],
        "medium_from": bounds["Medium"],
    }
    tiers = read_view(
        here,
        "select tier, purchases, sales_revenue, buying_customers from personas.tier_summary "
        "order by tier",
    )
    assert tiers == duckdb.sql(INDEPENDENT_TIERS.format(**cuts)).fetchall()
    own = read_view(
        here, "select customer_id, tier from personas.customer_segments order by customer_id"
    )
    assert first_differences(own, duckdb.sql(OWN_TIERS.format(**cuts)).fetchall()) == []
    # identical lines are purchases: revenue is the sum of every line of the log
    ((total, lines),) = duckdb.sql(
        f"select sum(dollar_value::decimal(38, 2)), count(*) "
        f"from read_csv('{cdnow_log / 'cdnow.csv'}', all_varchar = true)"
    ).fetchall()
    (summary,) = read_view(
        here,
        "select customers, revenue, top_customers, top_share_revenue, customers_for_80pct, "
        "gini from personas.pareto_summary",
    )
    revenues = sorted((row[1] for row in independent), reverse=True)
    top = -(-len(revenues) // 5)  # ceil(0.2 × customers)
    running, for_80 = Decimal(0), 0
    for revenue in revenues:  # class A: the shortest prefix reaching 80% of revenue
        if running >= Decimal("0.8") * total:
            break
        running += revenue
        for_80 += 1
    ascending = revenues[::-1]
    n = len(revenues)
    gini = (2 * sum((i + 1) * x for i, x in enumerate(ascending)) - (n + 1) * total) / (n * total)
    assert summary[:3] == (23_570, total, top)
    assert summary[3] == pytest.approx(float(sum(revenues[:top]) / total), rel=1e-12)
    assert summary[4] == for_80
    assert summary[5] == pytest.approx(float(gini), rel=1e-12)
    assert lines == 69_659
    (run,) = read_view(here, "select rows_in, rows_quarantined, notes from personas.refresh_runs")
    assert run[:2] == (69_659, 0)  # no purchase rejected as a "duplicate"
    ((repeats,),) = duckdb.sql(
        "select count(*) - count(distinct (customer_id, date, number_of_cds, dollar_value)) "
        f"from read_csv('{cdnow_log / 'cdnow.csv'}', all_varchar = true)"
    ).fetchall()
    assert repeats > 200  # the same CDs bought twice on one day
    assert f"identical order lines kept as separate purchases: {repeats:,}" in run[2]


def test_the_pymc_preset_agrees_with_pymc_marketing_on_every_customer(
    cdnow_log: Path, tmp_path: Path
) -> None:
    from pymc_marketing.clv.utils import rfm_segments

    here = refreshed(cdnow_log / "cdnow.csv", tmp_path)
    ours = dict(read_view(here, "select customer_id, rfm_segment from personas.customer_segments"))
    log = pd.read_csv(cdnow_log / "cdnow.csv", dtype=str)
    log["date"] = pd.to_datetime(log["date"], format="%Y%m%d")
    log["dollar_value"] = log["dollar_value"].astype(float)
    theirs = rfm_segments(
        log,
        customer_id_col="customer_id",
        datetime_col="date",
        monetary_value_col="dollar_value",
        observation_period_end=pd.Timestamp(AS_OF),
    )
    expected = dict(zip(theirs["customer_id"], theirs["segment"], strict=True))
    assert len(ours) == len(expected) == 23_570
    assert ours == expected


def test_the_first_2000_lines_publish(cdnow_log: Path, tmp_path: Path) -> None:
    here = refreshed(cdnow_log / "first2000.csv", tmp_path)
    (run,) = read_view(here, "select status, rows_in, rows_quarantined from personas.refresh_runs")
    assert run == ("succeeded", 2000, 0)
