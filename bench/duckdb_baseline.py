"""The core work of a refresh written by hand in DuckDB SQL: the yardstick of the benchmark.

Produces, in a DuckDB file, one row per customer (revenue, order count, distinct
order days, first and last order date, Pareto rank and cumulative share, Pareto
class, a revenue tier by quantiles, R/F/M scores by NTILE) and one row per order
with its order value tier, from one orders file (CSV or Parquet). It is what a
data engineer would write by hand for the same core figures, with no validation,
no quarantine, no profiles and no run record: personas does more, and the
benchmark says how much more it costs.

Usage:
    python bench/duckdb_baseline.py ORDERS_FILE OUT.duckdb --as-of 2025-01-01
"""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb

CORE_SQL = """
create or replace table lines as
select
    customer_id,
    coalesce('id:' || order_id, 'day:' || cast(cast(order_date as date) as varchar)) as order_key,
    cast(order_date as date) as order_day,
    case when lower(trim(status)) in ('refunded', 'refund', 'returned', 'return')
         then -abs(cast(amount as decimal(38, 2))) else cast(amount as decimal(38, 2)) end
        as amount
from {source}
where coalesce(lower(trim(status)), '') not in ('cancelled', 'canceled', 'void', 'voided')
  and cast(order_date as date) <= date '{as_of}';

create or replace table customers as
with per_customer as (
    select customer_id,
           sum(amount) as revenue,
           count(distinct order_key) as order_count,
           count(distinct order_day) as order_days,
           min(order_day) as first_order_day,
           max(order_day) as last_order_day
    from lines group by customer_id
), ranked as (
    select *,
           row_number() over (order by revenue desc, customer_id) as pareto_rank,
           sum(revenue) over (order by revenue desc, customer_id
                              rows between unbounded preceding and current row)
             / sum(revenue) over () as cumulative_share
    from per_customer
)
select *,
       case when cumulative_share <= 0.8 then 'A' when cumulative_share <= 0.95 then 'B'
            else 'C' end as pareto_class,
       case ntile(3) over (order by revenue desc, customer_id)
            when 1 then 'Large' when 2 then 'Medium' else 'Small' end as revenue_tier,
       ntile(5) over (order by last_order_day, customer_id) as r_score,
       ntile(5) over (order by order_count, customer_id) as f_score,
       ntile(5) over (order by revenue, customer_id) as m_score
from ranked;

create or replace table order_tiers as
with orders as (
    select order_key, any_value(customer_id) as customer_id, abs(sum(amount)) as order_value
    from lines group by order_key
), bounds as (
    select quantile_cont(order_value, 1.0 / 3) as medium_from,
           quantile_cont(order_value, 2.0 / 3) as large_from
    from orders
)
select orders.*,
       case when order_value >= large_from then 'Large'
            when order_value >= medium_from then 'Medium' else 'Small' end as sale_tier
from orders, bounds;

create or replace table tier_summary as
select sale_tier, count(*) as purchases, sum(order_value) as sales_revenue,
       count(distinct customer_id) as buying_customers
from order_tiers group by sale_tier;
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("orders", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--as-of", required=True)
    args = parser.parse_args()
    path = str(args.orders).replace("'", "''")
    source = (
        f"read_parquet('{path}')"
        if args.orders.suffix == ".parquet"
        # Ids stay text, as personas reads them: no type guessing on the key columns.
        else f"read_csv('{path}', header = true, types = {{'customer_id': 'VARCHAR', "
        f"'order_id': 'VARCHAR', 'amount': 'DECIMAL(38, 2)'}})"
    )
    with duckdb.connect(str(args.out)) as connection:
        connection.execute(CORE_SQL.format(source=source, as_of=args.as_of))


if __name__ == "__main__":
    main()
