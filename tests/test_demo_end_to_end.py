"""`personas demo` run as a user runs it, its tables read back with plain DuckDB and
checked against an independent computation in SQL over the generated CSV files."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from sampledata import SAMPLE_END_DATE
from tests.conftest import run_cli, run_without_prefect
from warehouse.tables import OUTPUT_TABLES

pytestmark = pytest.mark.slow

INDEPENDENT_METRICS = """
with lines as (
    select customer_id, order_id, cast(order_date as date) as day,
           case when lower(status) = 'refunded' then -abs(cast(amount as decimal(38, 4)))
                else cast(amount as decimal(38, 4)) end as amount
    from read_csv('{orders}', all_varchar = true)
    where lower(status) <> 'cancelled' and cast(order_date as date) <= date '{as_of}'
),
per_customer as (
    select customer_id, sum(amount) as revenue, count(distinct order_id) as order_count,
           date '{as_of}' - max(day) as recency_days, date '{as_of}' - min(day) as tenure_days
    from lines group by customer_id
)
select customer_id, revenue, order_count, recency_days, tenure_days,
       row_number() over (order by revenue desc, customer_id) as pareto_rank
from per_customer
"""


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("demo")
    # as the quick start runs it: no Prefect server configured
    result = run_without_prefect(["demo", "--dir", "personas-demo"], cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Revenue tiers as of 2026-06-30" in result.stdout
    assert "Pareto: the top 20% of customers" in result.stdout
    return workdir / "personas-demo"


def query(demo_dir: Path, sql: str) -> list[tuple]:
    database = demo_dir / "warehouse" / "warehouse.duckdb"
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.sql(sql).fetchall()


def test_demo_writes_every_source_the_contract_lists(demo_dir: Path) -> None:
    names = sorted(path.name for path in (demo_dir / "data").glob("*.csv"))
    expected = ["contacts", "customers", "feedback", "leads", "orders", "products"]
    assert names == [f"{name}.csv" for name in expected]
    # and what made them, so a later `personas demo --order-lines N` knows
    assert (demo_dir / "data" / "sample.json").is_file()


def test_every_contract_table_is_a_view_with_its_columns(demo_dir: Path) -> None:
    for spec in OUTPUT_TABLES:
        columns = query(
            demo_dir,
            "select column_name from information_schema.columns "
            f"where table_schema = 'personas' and table_name = '{spec.name}' "
            "order by ordinal_position",
        )
        assert [c for (c,) in columns] == ["refresh_id", *spec.column_names], spec.name
        history = query(demo_dir, f"select count(*) from personas.{spec.name}_history")
        # the sample is clean; a first refresh has no movement to compare; the demo does
        # not fit the customer-value models (an extra) nor resolve identities
        empty_first = spec.name in (
            "quarantine",
            "segment_transitions",
            "clv_model",
            "customer_identity",
            "identity_review",
        )
        assert history[0][0] >= (0 if empty_first else 1)


def test_published_metrics_agree_exactly_with_an_independent_computation(demo_dir: Path) -> None:
    independent = query(
        demo_dir,
        INDEPENDENT_METRICS.format(orders=demo_dir / "data" / "orders.csv", as_of=SAMPLE_END_DATE)
        + " order by customer_id",
    )
    published = query(
        demo_dir,
        "select customer_id, revenue, order_count, recency_days, tenure_days, pareto_rank "
        "from personas.customer_segments order by customer_id",
    )
    assert len(published) > 4000
    assert published == independent


def test_tiers_and_pareto_summary_agree_with_their_definitions(demo_dir: Path) -> None:
    (customers, top_count, top_revenue_share, gini) = query(
        demo_dir,
        "select customers, top_customers, top_share_revenue, gini from personas.pareto_summary",
    )[0]
    assert top_count == -(-customers // 5)  # ceil(0.20 × customers)
    ((share,),) = query(
        demo_dir,
        "select sum(revenue) filter (where pareto_rank <= "
        f"{top_count}) / sum(revenue) from personas.customer_segments",
    )
    assert top_revenue_share == pytest.approx(float(share), rel=1e-12)
    assert 0.6 < top_revenue_share < 0.9  # the sample is long-tailed, as in practice
    assert 0 < gini < 1
    own_tiers = query(
        demo_dir,
        "select tier, count(*) from personas.customer_segments group by tier order by tier",
    )
    published = query(demo_dir, "select tier, customers from personas.tier_summary order by tier")
    assert dict(own_tiers) == {tier: n for tier, n in published if n}
    ((share_total, keys, sales, bounded),) = query(
        demo_dir,
        "select sum(sales_share), count(*) filter (where is_key_tier), sum(sales_revenue), "
        "count(lower_bound) from personas.tier_summary",
    )
    ((revenue,),) = query(demo_dir, "select sum(revenue) from personas.customer_segments")
    assert share_total == pytest.approx(1.0)
    assert keys == 1
    assert sales == revenue  # every purchase is in exactly one tier, exact decimals
    assert bounded == 2  # order_value bounds derived from the data: Medium and Large start


def test_vietnamese_text_survives_the_round_trip(demo_dir: Path) -> None:
    cities = (demo_dir / "data" / "customers.csv").read_text(encoding="utf-8")
    assert "Hà Nội" in cities and "Đà Nẵng" in cities


def test_status_after_the_demo_shows_the_refresh(demo_dir: Path, prefect_api: str) -> None:
    result = run_cli(
        ["status", "--config", "personas.toml"],
        prefect_api=prefect_api,
        cwd=demo_dir,
        env={"COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    assert "personas demo" in result.stdout
    assert "next due" in result.stdout
