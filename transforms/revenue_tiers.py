"""Marts: each customer's revenue tier (Large / Medium / Small) and the per-tier summary.

Produces `revenue_tiers` (grain: one customer; adds `tier` and
`tier_reason`) and `tier_summary` (grain: one tier, always all three:
customers, revenue, revenue_share, is_key_tier, is_majority).

Rules (`[tiers] rule`):
- quantile: in Pareto order, the first ceil(large_share × n) customers are
  Large, up to ceil((large_share + medium_share) × n) Medium, the rest Small;
- revenue: revenue ≥ large_min_revenue is Large, ≥ medium_min_revenue Medium;
- package / quantity: each sale is tiered (by the package of its product, or
  by the quantity of its order: ≥ large_min_quantity Large, ≥
  medium_min_quantity Medium), and a customer takes the tier of the sales
  that bring them the most revenue (a tie goes to the larger tier).
The key tier brings the largest revenue share; an exact tie is settled by
`key_tier_preference`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

import polars as pl

from transforms.pareto import ceil_share_of

TIERS: tuple[str, str, str] = ("Large", "Medium", "Small")
_TIER_ORDER = {tier: position for position, tier in enumerate(TIERS)}  # 0 is the largest


def quantile_tiers(
    ranked: pl.LazyFrame, *, large_share: Decimal, medium_share: Decimal
) -> pl.LazyFrame:
    """Tier by position in the Pareto order (`ranked` has `pareto_rank`)."""
    large_count = ceil_share_of(pl.len(), large_share)
    medium_count = ceil_share_of(pl.len(), large_share + medium_share)
    rank = pl.col("pareto_rank")
    tier = (
        pl.when(rank <= large_count)
        .then(pl.lit("Large"))
        .when(rank <= medium_count)
        .then(pl.lit("Medium"))
        .otherwise(pl.lit("Small"))
    )
    return ranked.with_columns(
        tier=tier,
        tier_reason=pl.format(
            "tier {}: Pareto rank {} of {}; Large up to rank {}, Medium up to rank {} "
            "(quantile rule: top {}, next {})",
            tier,
            rank,
            pl.len(),
            large_count,
            medium_count,
            pl.lit(_percent(large_share)),
            pl.lit(_percent(medium_share)),
        ),
    )


def revenue_threshold_tiers(
    customers: pl.LazyFrame, *, large_min_revenue: Decimal, medium_min_revenue: Decimal
) -> pl.LazyFrame:
    """Tier by the customer's own revenue against two thresholds."""
    revenue = pl.col("revenue")
    tier = (
        pl.when(revenue >= large_min_revenue)
        .then(pl.lit("Large"))
        .when(revenue >= medium_min_revenue)
        .then(pl.lit("Medium"))
        .otherwise(pl.lit("Small"))
    )
    return customers.with_columns(
        tier=tier,
        tier_reason=pl.format(
            "tier {}: revenue {} (revenue rule: Large from {}, Medium from {})",
            tier,
            revenue.cast(pl.String),
            pl.lit(str(large_min_revenue)),
            pl.lit(str(medium_min_revenue)),
        ),
    )


def package_sale_tiers(
    lines: pl.LazyFrame, products: pl.LazyFrame, *, packages: Mapping[str, str]
) -> pl.LazyFrame:
    """Each valid line's tier from the package of its product (null when unknown)."""
    package_tiers = pl.LazyFrame(
        {"package": list(packages), "sale_tier": list(packages.values())},
        schema={"package": pl.String, "sale_tier": pl.String},
    )
    return (
        lines.join(products.select("product_id", "package"), on="product_id", how="left")
        .join(package_tiers, on="package", how="left")
        .with_columns(sale_basis=pl.format("package {}", pl.col("package")))
    )


def quantity_sale_tiers(
    lines: pl.LazyFrame, *, medium_min_quantity: int, large_min_quantity: int
) -> pl.LazyFrame:
    """Each valid line's tier from the total quantity of its order (one purchase)."""
    per_purchase = pl.col("quantity").sum().over("customer_id", "order_key")
    return lines.with_columns(
        sale_tier=pl.when(per_purchase >= large_min_quantity)
        .then(pl.lit("Large"))
        .when(per_purchase >= medium_min_quantity)
        .then(pl.lit("Medium"))
        .otherwise(pl.lit("Small")),
        sale_basis=pl.lit(
            f"quantity per purchase: Large from {large_min_quantity}, "
            f"Medium from {medium_min_quantity}"
        ),
    )


def dominant_sale_tiers(customers: pl.LazyFrame, sales: pl.LazyFrame) -> pl.LazyFrame:
    """Give each customer the tier of the sales that bring them the most revenue.

    Args:
        customers: one row per customer.
        sales: valid order lines with `sale_tier` (null for untiered lines) and `sale_basis`.
    """
    by_tier = (
        sales.filter(pl.col("sale_tier").is_not_null())
        .group_by("customer_id", "sale_tier")
        .agg(tier_revenue=pl.col("amount").sum(), sale_basis=pl.col("sale_basis").min())
        .with_columns(tier_order=pl.col("sale_tier").replace_strict(_TIER_ORDER, default=None))
        .sort(["customer_id", "tier_revenue", "tier_order"], descending=[False, True, False])
        .group_by("customer_id", maintain_order=True)
        .agg(
            tier=pl.col("sale_tier").first(),
            tier_revenue=pl.col("tier_revenue").first(),
            tiers_bought=pl.col("sale_tier").sort_by("tier_order").str.join(", "),
            sale_basis=pl.col("sale_basis").first(),
        )
    )
    return (
        customers.join(by_tier, on="customer_id", how="left")
        .with_columns(
            tier_reason=pl.format(
                "tier {}: most revenue ({}) from {} sales; tiers bought: {} ({})",
                pl.col("tier"),
                pl.col("tier_revenue").cast(pl.String),
                pl.col("tier"),
                pl.col("tiers_bought"),
                pl.col("sale_basis"),
            )
        )
        .drop("tier_revenue", "tiers_bought", "sale_basis")
    )


def tier_summary(customers: pl.LazyFrame, *, preference: Sequence[str] = TIERS) -> pl.LazyFrame:
    """Revenue per tier, its share, and the key tier.

    Grain: one row per tier, all three always present (an empty tier has 0
    customers and 0 revenue). `is_key_tier` marks the tier with the largest
    revenue (ties settled by `preference`, first wins); `is_majority` says
    whether a tier brings more than half of all revenue.
    """
    money = customers.collect_schema()["revenue"]
    all_tiers = pl.LazyFrame(
        {"tier": list(TIERS), "preference": [list(preference).index(t) for t in TIERS]}
    )
    totals = customers.group_by("tier").agg(
        customers=pl.len().cast(pl.Int64), revenue=pl.col("revenue").sum()
    )
    grand_total = pl.col("revenue").sum()
    summary = all_tiers.join(totals, on="tier", how="left").with_columns(
        customers=pl.col("customers").fill_null(0),
        revenue=pl.col("revenue").fill_null(pl.lit(0).cast(money)).cast(money),
    )
    key_tier = pl.col("tier").sort_by(["revenue", "preference"], descending=[True, False]).first()
    return (
        summary.with_columns(
            revenue_share=pl.when(grand_total.cast(pl.Float64) != 0).then(
                pl.col("revenue").cast(pl.Float64) / grand_total.cast(pl.Float64)
            ),
            is_majority=pl.col("revenue") * 2 > grand_total,
            is_key_tier=pl.col("tier") == key_tier,
        )
        .select("tier", "customers", "revenue", "revenue_share", "is_key_tier", "is_majority")
        .sort(pl.col("tier").replace_strict(_TIER_ORDER))
    )


def _percent(share: Decimal) -> str:
    return f"{(share * 100).normalize():f}%"


def assign_tiers(
    ranked: pl.LazyFrame,
    *,
    rule: str,
    lines: pl.LazyFrame | None = None,
    products: pl.LazyFrame | None = None,
    large_share: Decimal = Decimal("0.20"),
    medium_share: Decimal = Decimal("0.30"),
    large_min_revenue: Decimal | None = None,
    medium_min_revenue: Decimal | None = None,
    packages: Mapping[str, str] | None = None,
    medium_min_quantity: int = 6,
    large_min_quantity: int = 21,
) -> pl.LazyFrame:
    """Add `tier` and `tier_reason` to Pareto-ranked customers by the configured rule.

    Args:
        ranked: one row per customer, from `pareto_ranks`.
        rule: quantile | revenue | package | quantity.
        lines: valid order lines (`valid_order_lines`); needed by package and quantity.
        products: staged products; needed by package.
        large_share, medium_share: quantile rule shares.
        large_min_revenue, medium_min_revenue: revenue rule thresholds.
        packages: package rule map, package name -> tier.
        medium_min_quantity, large_min_quantity: quantity rule bounds.
    """
    if rule == "quantile":
        return quantile_tiers(ranked, large_share=large_share, medium_share=medium_share)
    if rule == "revenue":
        if large_min_revenue is None or medium_min_revenue is None:
            raise ValueError("the revenue rule needs large_min_revenue and medium_min_revenue")
        return revenue_threshold_tiers(
            ranked, large_min_revenue=large_min_revenue, medium_min_revenue=medium_min_revenue
        )
    if lines is None:
        raise ValueError(f"the {rule} rule needs the valid order lines")
    if rule == "package":
        if products is None or not packages:
            raise ValueError("the package rule needs products and a package map")
        sales = package_sale_tiers(lines, products, packages=packages)
    elif rule == "quantity":
        sales = quantity_sale_tiers(
            lines, medium_min_quantity=medium_min_quantity, large_min_quantity=large_min_quantity
        )
    else:
        raise ValueError(f"unknown tier rule {rule!r}")
    return dominant_sale_tiers(ranked, sales)
