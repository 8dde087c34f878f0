"""Marts: revenue tiers of purchases and customers, tier_summary and the key tier.

Produces `Tiering` (from `tier_revenue`): every purchase with its `sale_tier`,
every customer with its own `tier` and `tier_reason`, and
`tier_summary` (grain: one
tier, always all three: bounds, purchases, sales_revenue, sales_share,
buying_customers, customers, the preference measures, is_key_tier,
is_majority, decided_by, key_reason).

Rules (`[tiers] rule`): a tier is a property of each *purchase*:
- order_value (default): an order's value |Σ amount| against two bounds in
  money, configured or derived from the data (`transforms.size_bands`);
- quantity: an order's total |quantity| (≥ large_min_quantity Large, ≥
  medium_min_quantity Medium);
- package: each line by the package of its product (`[tiers.packages]`).
A refund counts against the tier of its own size. A customer's own tier is the
tier that brings it the most revenue (a tie goes to the larger tier). Two
customer-level rules remain, where every purchase takes its customer's tier:
- quantile: in Pareto order, the first ceil(large_share × n) customers are
  Large, up to ceil((large_share + medium_share) × n) Medium, the rest Small;
- revenue: revenue ≥ large_min_revenue is Large, ≥ medium_min_revenue Medium.
The key tier is decided on the tiers' sales (`transforms.key_tier`); with
`recut`, near-equal tiers are first re-cut (`_recut`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from functools import partial

import polars as pl

from schemas.inputs import ROW_NUMBER
from schemas.reasons import as_part
from schemas.vocabulary import TIERS
from transforms.key_tier import KeyTierDecision, decide_key_tier, tier_measures
from transforms.pareto import ceil_share_of
from transforms.purchases import (
    PURCHASE_KEY,
    Keep,
    Regroup,
    as_one_group,
    kept_in_memory,
    per_customer,
    purchases_of_lines,
    summed_over_groups,
)
from transforms.size_bands import SizeBounds, natural_bounds, roundest_between, tier_of

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
        tier_reason=as_part(
            pl.format(
                "tier {}: Pareto rank {} of {}; Large up to rank {}, Medium up to rank {} "
                "(quantile rule: top {}, next {})",
                tier,
                rank,
                pl.len(),
                large_count,
                medium_count,
                pl.lit(_percent(large_share)),
                pl.lit(_percent(medium_share)),
            )
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
        tier_reason=as_part(
            pl.format(
                "tier {}: revenue {} (revenue rule: Large from {}, Medium from {})",
                tier,
                revenue.cast(pl.String),
                pl.lit(str(large_min_revenue)),
                pl.lit(str(medium_min_revenue)),
            )
        ),
    )


def package_sale_tiers(
    lines: pl.LazyFrame, products: pl.LazyFrame, *, packages: Mapping[str, str]
) -> pl.LazyFrame:
    """Each valid line is a purchase, tiered by the package of its product (null if unknown)."""
    package_tiers = pl.LazyFrame(
        {"package": list(packages), "sale_tier": list(packages.values())},
        schema={"package": pl.String, "sale_tier": pl.String},
    )
    return (
        lines.join(products.select("product_id", "package"), on="product_id", how="left")
        .join(package_tiers, on="package", how="left")
        .with_columns(
            sale_basis=pl.format("package {}", pl.col("package")),
            _purchase_line=pl.col(ROW_NUMBER),
        )
        .drop("package")
    )


def purchase_size(rule: str) -> pl.Expr:
    """The size of a purchase (an order, from `purchases_of_lines`): |value| (order_value)
    or |quantity| (quantity, each line's quantity as an exact whole number)."""
    return (pl.col("amount") if rule == "order_value" else pl.col("quantity_size")).abs()


def sized_sale_tiers(purchases: pl.LazyFrame, *, rule: str, bounds: SizeBounds) -> pl.LazyFrame:
    """Each purchase (order) tiered by its size against `bounds`."""
    return purchases.with_columns(
        sale_tier=tier_of(purchase_size(rule), bounds),
        sale_basis=pl.lit(bounds.describe()),
        _purchase_line=pl.lit(0, pl.Int64),
    )


def customer_sale_tiers(purchases: pl.LazyFrame, customers: pl.LazyFrame) -> pl.LazyFrame:
    """Each purchase (order) takes its customer's tier (the customer-level rules)."""
    return purchases.join(
        customers.select("customer_id", sale_tier="tier"), on="customer_id", how="left"
    ).with_columns(sale_basis=pl.lit("customer tier"), _purchase_line=pl.lit(0, pl.Int64))


def purchase_units(purchases: pl.LazyFrame, *, rule: str) -> pl.LazyFrame:
    """One row per purchase (an order): size and value; what bounds are derived from."""
    return purchases.select(size=purchase_size(rule), value="amount")


def dominant_sale_tiers(customers: pl.LazyFrame, sales: Sequence[pl.LazyFrame]) -> pl.LazyFrame:
    """Give each customer the tier of the sales that bring them the most revenue.

    Args:
        customers: one row per customer.
        sales: tiered purchases or lines with `sale_tier` (null for untiered ones) and
            `sale_basis`, in groups each holding whole customers.
    """
    by_tier = per_customer(sales, _customer_tiers)
    return (
        customers.join(by_tier, on="customer_id", how="left")
        .with_columns(
            tier_reason=as_part(
                pl.format(
                    "tier {}: most revenue ({}) from {} sales; tiers bought: {} ({})",
                    pl.col("tier"),
                    pl.col("tier_revenue").cast(pl.String),
                    pl.col("tier"),
                    pl.col("tiers_bought"),
                    pl.col("sale_basis"),
                )
            )
        )
        .drop("tier_revenue", "tiers_bought", "sale_basis")
    )


def _customer_tiers(sales: pl.LazyFrame) -> pl.LazyFrame:
    """Per customer: the tier of most revenue, its revenue and basis, the tiers bought."""
    # One grouping by customer, each tier's revenue a column (a customer has at most
    # three), then the leader picked across the columns: grouping by customer and tier
    # and ordering each customer's tiers cost twice as much on millions of purchases.
    bought = {tier: pl.col(f"_bought_{tier}") for tier in TIERS}
    revenue = {tier: pl.col(f"_revenue_{tier}") for tier in TIERS}
    basis = {tier: pl.col(f"_basis_{tier}") for tier in TIERS}
    in_tier = {tier: pl.col("sale_tier") == tier for tier in TIERS}
    per_tier = (
        sales.filter(pl.col("sale_tier").is_not_null())
        .select(
            "customer_id",
            *(in_tier[tier].alias(f"_bought_{tier}") for tier in TIERS),
            *(pl.when(in_tier[tier]).then("amount").alias(f"_revenue_{tier}") for tier in TIERS),
            *(pl.when(in_tier[tier]).then("sale_basis").alias(f"_basis_{tier}") for tier in TIERS),
        )
        .group_by("customer_id")
        .agg(
            *(bought[tier].any() for tier in TIERS),
            *(revenue[tier].sum() for tier in TIERS),
            *(basis[tier].min() for tier in TIERS),
        )
        .with_columns(
            tier_revenue=pl.max_horizontal(
                pl.when(bought[tier]).then(revenue[tier]) for tier in TIERS
            )
        )
    )
    # The most revenue first, a tie to the larger tier: TIERS runs from the largest.
    leads = {tier: bought[tier] & (revenue[tier] == pl.col("tier_revenue")) for tier in TIERS}

    def leader(values: dict[str, pl.Expr]) -> pl.Expr:
        chosen = pl.when(leads[TIERS[0]]).then(values[TIERS[0]])
        for tier in TIERS[1:]:
            chosen = chosen.when(leads[tier]).then(values[tier])
        return chosen

    return per_tier.select(
        "customer_id",
        tier=leader({tier: pl.lit(tier) for tier in TIERS}),
        sale_basis=leader(basis),
        tier_revenue="tier_revenue",
        tiers_bought=pl.concat_str(
            [pl.when(bought[tier]).then(pl.lit(tier)) for tier in TIERS],
            separator=", ",
            ignore_nulls=True,
        ),
    )


def tier_sales(purchases: Sequence[pl.LazyFrame], customers: pl.LazyFrame) -> pl.LazyFrame:
    """Sales per tier from the tiered purchases (`Tiering.purchases`): all three tiers.

    purchases: purchases (orders; lines under the package rule) of positive value;
    sales_revenue: the signed sum of the tier's purchases (refunds subtract where
    their size falls); buying_customers: customers with a positive purchase in it;
    customers: customers whose own tier it is; sales_share: sales_revenue / all.
    `purchases` come in groups of whole customers: each is totalled in turn.
    """
    money = purchases[0].collect_schema()["amount"]
    positive = pl.col("amount") > 0
    sales = summed_over_groups(
        purchases,
        lambda group: group.group_by(tier="sale_tier").agg(
            purchases=positive.sum().cast(pl.Int64),
            sales_revenue=pl.col("amount").sum(),
            buying_customers=pl.col("customer_id").filter(positive).n_unique().cast(pl.Int64),
        ),
        by="tier",
    )
    owners = customers.group_by("tier").agg(customers=pl.len().cast(pl.Int64))
    total = pl.col("sales_revenue").sum()
    return (
        pl.LazyFrame({"tier": list(TIERS)})
        .join(sales, on="tier", how="left")
        .join(owners, on="tier", how="left")
        .with_columns(
            pl.col("purchases", "buying_customers", "customers").fill_null(0),
            sales_revenue=pl.col("sales_revenue").fill_null(pl.lit(0).cast(money)).cast(money),
        )
        .with_columns(
            sales_share=pl.when(total > 0).then(
                pl.col("sales_revenue").cast(pl.Float64) / total.cast(pl.Float64)
            ),
            is_majority=(pl.col("sales_revenue") * 2 > total) & (total > 0),
        )
        .sort(pl.col("tier").replace_strict(_TIER_ORDER))
    )


def tier_bounds(
    rule: str, bounds: SizeBounds | None, settings: TierRule, *, money: pl.DataType
) -> pl.LazyFrame:
    """lower_bound, upper_bound (money scale) and bounds_basis per tier."""
    if bounds is not None:
        lower = [bounds.large_from, bounds.medium_from, None]
        upper = [None, bounds.large_from, bounds.medium_from]
        basis = [f"{bounds.basis} ({bounds.derivation})"] * 3
    else:
        lower, upper = [None] * 3, [None] * 3
        if rule == "package":
            named = {t: sorted(p for p, tt in settings.packages.items() if tt == t) for t in TIERS}
            basis = [
                "packages " + ", ".join(named[tier]) if named[tier] else "no package"
                for tier in TIERS
            ]
        elif rule == "quantile":
            basis = [
                f"customer revenue rank: top {_percent(settings.large_share)} Large, next "
                f"{_percent(settings.medium_share)} Medium (quantile rule)"
            ] * 3
        else:
            basis = ["no purchase has a size above 0: every purchase is Small"] * 3
    return pl.LazyFrame(
        {
            "tier": list(TIERS),
            "lower_bound": pl.Series(lower, dtype=money, strict=False),
            "upper_bound": pl.Series(upper, dtype=money, strict=False),
            "bounds_basis": basis,
        },
        schema={
            "tier": pl.String,
            "lower_bound": money,
            "upper_bound": money,
            "bounds_basis": pl.String,
        },
    )


def _percent(share: Decimal) -> str:
    return f"{(share * 100).normalize():f}%"


@dataclass(frozen=True)
class TierRule:
    """The configured tier rule and how a key tier is decided (see the module docstring)."""

    rule: str = "order_value"
    medium_min_order_value: Decimal | None = None
    large_min_order_value: Decimal | None = None
    large_share: Decimal = Decimal("0.20")
    medium_share: Decimal = Decimal("0.30")
    large_min_revenue: Decimal | None = None
    medium_min_revenue: Decimal | None = None
    packages: Mapping[str, str] = field(
        default_factory=lambda: {"Gold": "Large", "Silver": "Medium", "Bronze": "Small"}
    )
    medium_min_quantity: int = 6
    large_min_quantity: int = 21
    near_equal_margin: float = 0.05
    preference: str = "fastest_deals"
    fixed_order: Sequence[str] = TIERS
    recut: bool = False
    recut_steps: int = 10
    recut_max_share: float = 0.5


@dataclass(frozen=True)
class Tiering:
    """Tiers of one refresh: customers and lines tiered, the summary and the decision."""

    customers: pl.LazyFrame  # `ranked` + tier, tier_reason
    lines: pl.LazyFrame  # the valid order lines
    # `purchases_of_lines` rows, one per customer order, in groups of whole customers
    order_groups: tuple[pl.LazyFrame, ...]
    summary: pl.DataFrame  # tier_summary, the published table
    decision: KeyTierDecision
    bounds: SizeBounds | None
    # `purchases_of_lines` rows (orders; lines under the package rule) + sale_tier,
    # sale_basis, in groups of whole customers (see `transforms.purchases.per_customer`)
    purchase_groups: tuple[pl.LazyFrame, ...]

    @property
    def key_tier(self) -> str:
        return self.decision.key_tier

    @property
    def purchases(self) -> pl.LazyFrame:
        """Every tiered purchase (the groups, stacked)."""
        return pl.concat(self.purchase_groups, how="vertical")

    @property
    def orders(self) -> pl.LazyFrame:
        """Every order (the groups, stacked)."""
        return pl.concat(self.order_groups, how="vertical")


SUMMARY_COLUMNS = (
    "tier",
    "lower_bound",
    "upper_bound",
    "bounds_basis",
    "purchases",
    "sales_revenue",
    "sales_share",
    "buying_customers",
    "customers",
    "deal_days",
    "deal_days_basis",
    "paid_on_time_share",
    "repeat_rate",
    "is_key_tier",
    "is_majority",
    "decided_by",
    "key_reason",
)


def tier_revenue(
    ranked: pl.LazyFrame,
    lines: pl.LazyFrame,
    rule: TierRule,
    *,
    as_of: date,
    products: pl.LazyFrame | None = None,
    lead_days: pl.LazyFrame | None = None,
    orders: Sequence[pl.LazyFrame] | None = None,
    keep: Keep = kept_in_memory,
    line_parts: Sequence[pl.LazyFrame] = (),
    regroup: Regroup = as_one_group,
) -> Tiering:
    """Tier every purchase and customer, total each tier's sales, decide the key tier.

    Args:
        ranked: one row per customer, from `pareto_ranks`.
        lines: valid order lines (`valid_order_lines`), collected (they are read often).
        rule: the configured rule.
        as_of: the refresh's date (unpaid purchases due before it are late).
        products: staged products; needed by the package rule.
        lead_days: customer_id, lead_to_order_days for the fastest_deals preference.
        orders: the lines summed per order (`purchases_of_lines`), when the caller has
            them already, in groups of whole customers (each group is measured per
            customer in turn); made from `lines` otherwise (one group).
        keep: where the customer-level rules' tiers and tiered purchases (one row per
            purchase) are kept while the tiers are measured: in memory, or where the
            caller spills them (the order-level rules tier each order as it is read).
        line_parts: `lines` in parts (buckets), when the caller has them: the package
            rule, whose purchases are lines, tiers them a part at a time and regroups
            them by customer with `regroup`.
    """
    groups = tuple(orders) if orders else (purchases_of_lines(lines).collect().lazy(),)
    tier = partial(
        _tiered,
        ranked,
        lines,
        groups,
        rule,
        as_of=as_of,
        lead_days=lead_days,
        products=products,
        keep=keep,
        line_parts=tuple(line_parts) or (lines,),
        regroup=regroup,
    )
    bounds = _bounds(groups, rule)
    tiered = tier(bounds)
    decision = decide_key_tier(
        tiered.summary,
        margin=rule.near_equal_margin,
        preference=rule.preference,
        fixed_order=rule.fixed_order,
    )
    can_recut = rule.rule in ("order_value", "quantity", "revenue") and bounds is not None
    if rule.recut and decision.near_equal and can_recut:
        assert bounds is not None
        moved = _recut(tiered, rule, bounds, near_equal=decision.near_equal)
        recut = tier(moved) if moved is not None else None
        if moved is not None and recut is not None and recut.summary["is_majority"].any():
            majority = recut.summary.filter("is_majority").row(0, named=True)
            return recut.decided(
                KeyTierDecision(
                    majority["tier"],
                    "re-cut",
                    f"{decision.reason.split('; ')[0]}; re-cut to {moved.describe()}: "
                    f"{majority['tier']} brings {majority['sales_share']:.1%} of sales",
                    decision.near_equal,
                )
            )
        decision = replace(
            decision,
            reason=decision.reason + f"; re-cut tried (up to {rule.recut_max_share:.0%} of "
            "the neighbouring tier's purchases) without a majority",
        )
    return tiered.decided(decision)


def _bounds(orders: Sequence[pl.LazyFrame], rule: TierRule) -> SizeBounds | None:
    if rule.rule == "quantity":
        return SizeBounds(
            "quantity per purchase",
            Decimal(rule.medium_min_quantity),
            Decimal(rule.large_min_quantity),
            "configured",
        )
    if rule.rule == "revenue":
        assert rule.medium_min_revenue is not None and rule.large_min_revenue is not None
        return SizeBounds(
            "customer revenue", rule.medium_min_revenue, rule.large_min_revenue, "configured"
        )
    if rule.rule != "order_value":
        return None
    if rule.medium_min_order_value is not None and rule.large_min_order_value is not None:
        return SizeBounds(
            "order value",
            Decimal(rule.medium_min_order_value),
            Decimal(rule.large_min_order_value),
            "configured",
        )
    units = [purchase_units(group, rule="order_value") for group in orders]
    return natural_bounds(units, basis="order value")


@dataclass(frozen=True)
class _Tiered:
    """Purchases and customers tiered by one set of bounds, before a key tier is chosen."""

    customers: pl.LazyFrame
    lines: pl.LazyFrame
    order_groups: tuple[pl.LazyFrame, ...]
    summary: pl.DataFrame  # tier_summary without is_key_tier, decided_by, key_reason
    bounds: SizeBounds | None
    purchase_groups: tuple[pl.LazyFrame, ...]

    def decided(self, decision: KeyTierDecision) -> Tiering:
        summary = (
            self.summary.with_columns(
                is_key_tier=pl.col("tier") == decision.key_tier,
                decided_by=pl.lit(decision.decided_by),
                key_reason=pl.lit(decision.reason),
            )
            .select(SUMMARY_COLUMNS)
            .sort(pl.col("tier").replace_strict(_TIER_ORDER))
        )
        return Tiering(
            self.customers,
            self.lines,
            self.order_groups,
            summary,
            decision,
            self.bounds,
            self.purchase_groups,
        )


def _tiered(
    ranked: pl.LazyFrame,
    lines: pl.LazyFrame,
    order_groups: tuple[pl.LazyFrame, ...],
    rule: TierRule,
    bounds: SizeBounds | None,
    *,
    as_of: date,
    lead_days: pl.LazyFrame | None,
    products: pl.LazyFrame | None,
    keep: Keep,
    line_parts: tuple[pl.LazyFrame, ...],
    regroup: Regroup,
) -> _Tiered:
    customers: pl.LazyFrame | None = None
    # Every measure below reads purchases (a sum, a max, a min of their lines): the
    # order-level rules tier the orders themselves, a group of customers at a time, the
    # package rule each line.
    # A customer-level rule's tiers are collected (polars' in-memory engine panics on the
    # rank's format; the default does not) and kept, on disk when spilled, before each
    # group's plan joins them: a plan then names their file, not a copy of every row.
    if rule.rule == "quantile":
        tiers = quantile_tiers(ranked, large_share=rule.large_share, medium_share=rule.medium_share)
        (customers,) = keep([tiers.collect().lazy()])
        purchase_groups = keep([customer_sale_tiers(group, customers) for group in order_groups])
    elif rule.rule == "revenue":
        assert bounds is not None
        tiers = revenue_threshold_tiers(
            ranked, large_min_revenue=bounds.large_from, medium_min_revenue=bounds.medium_from
        )
        (customers,) = keep([tiers.collect().lazy()])
        purchase_groups = keep([customer_sale_tiers(group, customers) for group in order_groups])
    elif rule.rule == "package":
        if products is None:
            raise ValueError("the package rule needs products")
        # A line is in one part: its purchase is never split between parts. The groups
        # are kept where `regroup` wrote them.
        purchase_groups = regroup(
            [
                purchases_of_lines(
                    package_sale_tiers(part, products, packages=rule.packages),
                    by=("sale_tier", "customer_id", "order_key", "_purchase_line"),
                    extra=[pl.col("sale_basis").min()],
                )
                for part in line_parts
            ]
        )
    elif rule.rule in ("order_value", "quantity"):
        empty = SizeBounds("order value", Decimal(1), Decimal(1), "no sizes")
        # Tiering an order is comparing its size with two bounds: each later plan tiers
        # the order groups as it reads them, which costs less than writing the tiered
        # orders to disk and reading them back (10M lines: 1.1 s).
        purchase_groups = tuple(
            sized_sale_tiers(group, rule=rule.rule, bounds=bounds or empty)
            for group in order_groups
        )
    else:
        raise ValueError(f"unknown tier rule {rule.rule!r}")
    if customers is None:  # the purchase-size rules: a customer's tier follows its sales
        customers = dominant_sale_tiers(ranked, purchase_groups)
    customers = customers.collect().lazy()
    sales = tier_sales(purchase_groups, customers)
    # The measures read orders: under the package rule an order's lines in one tier
    # are one order of that tier.
    tier_orders = (
        [
            group.group_by("sale_tier", *PURCHASE_KEY).agg(
                pl.col("due_date").max(), pl.col("paid_at").max()
            )
            for group in purchase_groups
        ]
        if rule.rule == "package"
        else purchase_groups
    )
    measures = tier_measures(tier_orders, order_groups, customers, as_of=as_of, lead_days=lead_days)
    summary = (
        tier_bounds(rule.rule, bounds, rule, money=lines.collect_schema()["amount"])
        .join(sales, on="tier")
        .join(measures, on="tier")
        .collect()
    )
    return _Tiered(customers, lines, order_groups, summary, bounds, purchase_groups)


def _recut(
    tiering: _Tiered, rule: TierRule, bounds: SizeBounds, *, near_equal: Sequence[str]
) -> SizeBounds | None:
    """Widen the leading near-equal tier into its neighbour, step by step, until it passes
    50% of sales: each step moves 1/recut_steps of at most recut_max_share of the
    neighbour's purchases (customers under the revenue rule), those nearest the leader.
    Returns the first bounds that give a majority, or None."""
    leader, runner = near_equal[0], near_equal[1]
    neighbour = runner if leader == "Medium" else "Medium"
    if rule.rule == "revenue":
        groups = [tiering.customers.select(size="revenue", value="revenue")]
    else:
        groups = [purchase_units(group, rule=rule.rule) for group in tiering.purchase_groups]
    # Counted and summed (exactly) a group of customers at a time, never every unit at once.
    units = [group.with_columns(tier=tier_of(pl.col("size"), bounds)) for group in groups]
    per_tier = _summed(units, "tier").collect()
    total = float(per_tier["value"].cast(pl.Float64).sum())
    if total <= 0:
        return None
    leader_value = float(per_tier.filter(pl.col("tier") == leader)["value"].cast(pl.Float64).sum())
    upward = TIERS.index(neighbour) < TIERS.index(leader)  # the neighbour is the larger tier
    moving = (
        _summed([group.filter(pl.col("tier") == neighbour) for group in units], "size")
        .collect()
        .with_columns(pl.col("value").cast(pl.Float64))
        .sort("size", descending=not upward)
    )
    remaining = int(per_tier.filter(pl.col("tier") == neighbour)["count"].sum())
    if not remaining:
        return None
    sizes = moving["size"].to_list()
    counts = moving["count"].cum_sum().to_list()
    values = moving["value"].cum_sum().to_list()
    for step in range(1, rule.recut_steps + 1):
        target = remaining * rule.recut_max_share * step / rule.recut_steps
        reach = next((i for i, count in enumerate(counts) if count >= target), len(counts) - 1)
        if reach + 1 >= len(sizes):
            break  # never move a whole tier
        if (leader_value + values[reach]) / total <= 0.5:
            continue
        absorbed, kept = Decimal(sizes[reach]), Decimal(sizes[reach + 1])
        why = (
            f"re-cut from Large {bounds.large_from:,} / Medium {bounds.medium_from:,}: "
            f"{leader} takes {counts[reach]:,} of {remaining:,} {neighbour} purchases"
        )
        # upward the neighbour's lower bound rises past what the leader takes; downward
        # the leader's own lower bound falls to it
        cut = roundest_between(absorbed, kept) if upward else roundest_between(kept, absorbed)
        edge = "large_from" if "Large" in (leader, neighbour) else "medium_from"
        cuts = {"medium_from": bounds.medium_from, "large_from": bounds.large_from, edge: cut}
        return bounds.moved(why=why, **cuts)
    return None


def _summed(groups: Sequence[pl.LazyFrame], by: str) -> pl.LazyFrame:
    """count and value (an exact sum) per `by` over every group of units."""
    return summed_over_groups(
        groups,
        lambda group: group.group_by(by).agg(count=pl.len(), value=pl.col("value").sum()),
        by=by,
    )
