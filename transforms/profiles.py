"""Marts: best customers, and the profiles derived from them (company, buyer, target).

Produces
- `best_customers` (grain: one customer; adds is_best_customer, best_measure,
  best_basis): among the customers who bought in the key tier, ranked on their
  purchases in it, the top share by the configured goal (widened to a minimum
  count when asked);
- `attribute_profile` (grain: one (attribute, value)): how often a value occurs
  among the best customers (support) against everyone (population_share),
  lift = support / population_share, a 95% Wilson interval of the support, a
  one-sided hypergeometric p-value, its Benjamini-Hochberg q-value over every
  value tested, and whether the value distinguishes the best customers (support
  and lift at their minimums and q <= the false-discovery rate: profiles never
  learn noise, however many attributes are tested);
- `normalise_titles` (grain: one contact): role and level below the CEO from
  free-text titles in Vietnamese or English;
- `target_profile` and `persona_name`: the distinguishing company and buyer
  values merged, and a readable name made from the strongest of them;
- `attribute_mix` (grain: one (attribute, value)): the mix of every company
  attribute among all customers, nulls as "(unknown)", values fewer than k
  customers share pooled as "(other)": the baseline the drift monitor compares
  with;
- `with_bands`: employee, annual revenue and age bands from the numbers.

Best customers by goal (fallbacks are reported in `best_basis`):
- growth: fewest days from lead creation to first order (needs leads that
  converted); without such data, key-tier sales;
- profit: gross profit of the key-tier sales (amount − cost); without costs,
  key-tier sales;
- loyalty: longest tenure among customers still active (last order within
  `active_days`); when nobody is active, longest tenure;
- profit or loyalty with `best_by` = predicted_clv or p_alive: the highest
  predicted customer value or P(alive) (`transforms.customer_value`); when no
  candidate has one (the models were not fitted), key-tier sales.
Ties are broken by key-tier sales, then customer_id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal

import numpy as np
import polars as pl

from transforms.pareto import ceil_share_of
from transforms.purchases import (
    Keep,
    Regroup,
    as_groups,
    as_one_group,
    kept_in_memory,
    summed_over_groups,
)
from transforms.significance import benjamini_hochberg, hypergeom_sf

WILSON_Z = 1.959963984540054  # 95% two-sided


def best_customers(
    customers: pl.LazyFrame,
    *,
    goal: str,
    share: Decimal,
    profit: pl.LazyFrame | None = None,
    lead_days: pl.LazyFrame | None = None,
    active_days: int = 365,
    min_customers: int = 0,
    by: tuple[str, str] | None = None,
) -> pl.LazyFrame:
    """Mark the best customers among those who bought in the key tier, by goal.

    Args:
        customers: one row per customer with key_tier_revenue (its sales in the key
            tier: the candidates are those above 0), tenure_days, recency_days.
        goal: growth | profit | loyalty.
        share: share of the key tier's buying customers to keep (0.20).
        profit: customer_id, gross_profit of the key-tier sales (profit goal); None
            when costs are unknown.
        lead_days: customer_id, lead_to_order_days (growth goal); None without leads.
        active_days: loyalty goal: still active means recency_days <= active_days.
        min_customers: widen the set to at least this many candidates (in rank order)
            when the share gives fewer; 0 keeps the share.
        by: (column of `customers`, its words): rank on that column, larger first,
            instead of the goal's own measure (`[personas] best_by`: predicted_clv,
            p_alive); when no candidate has it, key-tier sales.
    """
    frame = customers
    if by is not None:
        column, words = by
        measure, smaller, basis = pl.col(column), False, f"{goal}: {words}"
    elif goal == "profit" and profit is not None:
        frame = frame.join(profit, on="customer_id", how="left")
        measure, smaller, basis = pl.col("gross_profit"), False, "profit: gross profit"
    elif goal == "growth" and lead_days is not None:
        frame = frame.join(lead_days, on="customer_id", how="left")
        measure, smaller, basis = (
            pl.col("lead_to_order_days"),
            True,
            "growth: days from lead to first order",
        )
    elif goal == "loyalty":
        active = pl.col("recency_days") <= active_days
        measure = pl.when(active).then(pl.col("tenure_days"))
        smaller, basis = (
            False,
            f"loyalty: tenure of customers active in the last {active_days} days",
        )
    else:
        measure, smaller = pl.col("key_tier_revenue"), False
        basis = f"{goal}: key-tier sales (fallback: the data for {goal} is missing)"
        if goal == "profit":
            basis = "profit: key-tier sales (fallback: the orders carry no cost)"
    in_key = pl.col("key_tier_revenue") > 0
    ranked = frame.with_columns(best_measure=measure.cast(pl.Float64))
    has_measure = (in_key & pl.col("best_measure").is_not_null()).any()
    if goal == "loyalty" and by is None:
        # nobody active: fall back to the longest tenure overall
        ranked = ranked.with_columns(
            best_measure=pl.when(has_measure)
            .then(pl.col("best_measure"))
            .otherwise(pl.col("tenure_days").cast(pl.Float64)),
            best_basis=pl.when(has_measure)
            .then(pl.lit(basis))
            .otherwise(pl.lit("loyalty: longest tenure (fallback: no customer is active)")),
        )
    else:
        fallback = f"{goal}: key-tier sales (fallback: no candidate has the data for {goal})"
        ranked = ranked.with_columns(
            best_measure=pl.when(has_measure)
            .then(pl.col("best_measure"))
            .otherwise(pl.col("key_tier_revenue").cast(pl.Float64)),
            best_basis=pl.when(has_measure).then(pl.lit(basis)).otherwise(pl.lit(fallback)),
        )
    primary = pl.col("best_measure") if smaller else -pl.col("best_measure")
    candidates = pl.col("_in_key").sum()
    keep = pl.max_horizontal(
        ceil_share_of(candidates, share), pl.min_horizontal(candidates, min_customers)
    )
    # The ranking sorts only the columns it reads, and the choice is joined back: sorting
    # every column of every customer (long reason texts among them) costs seconds.
    chosen = (
        ranked.select("customer_id", "best_measure", "key_tier_revenue", _in_key=in_key)
        .sort(
            [
                pl.col("_in_key").not_(),
                primary,
                -pl.col("key_tier_revenue").cast(pl.Float64),
                "customer_id",
            ],
            nulls_last=True,
        )
        .with_columns(_position=pl.int_range(1, pl.len() + 1).over("_in_key"))
        .select(
            "customer_id",
            is_best_customer=pl.col("_in_key")
            & pl.col("best_measure").is_not_null()
            & (pl.col("_position") <= keep),
        )
    )
    return ranked.join(chosen, on="customer_id", how="left", maintain_order="left")


def wilson_interval(successes: pl.Expr, trials: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """95% Wilson score interval of a proportion."""
    n = trials.cast(pl.Float64)
    p = successes.cast(pl.Float64) / n
    z2 = WILSON_Z**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = WILSON_Z * ((p * (1 - p) / n + z2 / (4 * n**2)).sqrt()) / (1 + z2 / n)
    return centre - half, centre + half


PROFILE_SCHEMA = {
    "attribute": pl.String,
    "value": pl.String,
    "customers": pl.Int64,
    "support": pl.Float64,
    "population_share": pl.Float64,
    "lift": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "p_value": pl.Float64,
    "q_value": pl.Float64,
    "is_distinguishing": pl.Boolean,
}


def attribute_profile(
    population: pl.LazyFrame,
    *,
    attributes: Sequence[str],
    min_support: float = 0.3,
    min_lift: float = 1.2,
    min_people: int = 5,
    false_discovery_rate: float = 0.05,
) -> pl.LazyFrame:
    """Support and lift of every attribute value among the best against everyone.

    One profile alone: its values are the whole family the false-discovery control
    runs over. Profiles that are judged together (company and buyer) go through
    `scored_values` and then `controlled` as one family.

    Args:
        population: one row per member (customer or contact) with `is_best` and the attributes.
        attributes: columns to profile (absent ones are skipped).
        min_support, min_lift: a distinguishing value reaches both, and passes the
            false-discovery control at `false_discovery_rate`.
        min_people: privacy guard: values shared by fewer best members are not published.
    """
    tested = scored_values(population, attributes=attributes).collect()
    return controlled(
        [tested],
        min_support=min_support,
        min_lift=min_lift,
        min_people=min_people,
        false_discovery_rate=false_discovery_rate,
    )[0].lazy()


def scored_values(population: pl.LazyFrame, *, attributes: Sequence[str]) -> pl.LazyFrame:
    """Every (attribute, value) with its counts, support, lift, Wilson interval and p-value.

    p_value is the one-sided hypergeometric test (Fisher's exact test) of drawing at
    least `customers` members with the value when the best set is a random draw of its
    size from everyone: small means the value is over-represented among the best.
    """
    present = [a for a in attributes if a in population.collect_schema().names()]
    if not present:
        return pl.LazyFrame(schema={**PROFILE_SCHEMA, "everyone": pl.Int64})
    long = pl.concat(
        [
            population.select(
                "is_best", attribute=pl.lit(a), value=pl.col(a).cast(pl.String)
            ).filter(pl.col("value").is_not_null())
            for a in present
        ]
    )
    return _scored(long, population)


def scored_purchases(
    customers: pl.LazyFrame,
    lines: pl.LazyFrame | Sequence[pl.LazyFrame],
    *,
    products: pl.LazyFrame | None = None,
    regroup: Regroup = as_one_group,
    keep: Keep = kept_in_memory,
) -> pl.LazyFrame:
    """What the best customers buy, scored like any attribute value.

    Grain: one (attribute, value) with attribute `category` (the products' category,
    where the products source has one) or `product_id`; a customer "has" the value
    when it bought it at least once, so support is the share of the best customers who
    bought it and lift compares with the share of all customers who did.

    Args:
        customers: one row per customer: customer_id, is_best.
        lines: valid order lines (customer_id, product_id), or parts of them (buckets).
        products: staged products, for the category.
        regroup: how each part's (customer, value) pairs are regrouped by customer, so
            that each is counted once (`sources.buckets.by_customer` on disk).
        keep: where the customers' best flags are kept while each group's plan reads
            them (`sources.buckets.keeper`).
    """
    parts = as_groups(lines)
    with_category = products is not None and "category" in products.collect_schema().names()
    attribute = "category" if with_category else "product_id"
    pairs = regroup([_bought(part, products if with_category else None).unique() for part in parts])
    # Kept (on disk when spilled): each group's plan names its file, not a copy of it.
    (best,) = keep([customers.select("customer_id", "is_best")])
    counts = summed_over_groups(
        pairs,
        lambda pairs_of_group: _counted(
            pairs_of_group.unique()
            .join(best, on="customer_id")
            .select("is_best", pl.lit(attribute).alias("attribute"), "value")
        ),
        by=("attribute", "value"),
    )
    return _scored_counts(counts, customers)


def _bought(lines: pl.LazyFrame, products: pl.LazyFrame | None) -> pl.LazyFrame:
    """customer_id, value: each line's product, or its category where `products` is given
    (a product without one counts as itself)."""
    bought = lines.select("customer_id", "product_id").filter(pl.col("product_id").is_not_null())
    if products is None:
        return bought.select("customer_id", value="product_id")
    return bought.join(
        products.select("product_id", "category"), on="product_id", how="left"
    ).select("customer_id", value=pl.coalesce("category", "product_id"))


def _counted(long: pl.LazyFrame) -> pl.LazyFrame:
    """Members having each (attribute, value) in `long` (is_best, attribute, value): the
    best (`customers`) and all (`everyone`)."""
    return long.group_by("attribute", "value").agg(
        customers=pl.col("is_best").sum().cast(pl.Int64), everyone=pl.len().cast(pl.Int64)
    )


def _scored(long: pl.LazyFrame, population: pl.LazyFrame) -> pl.LazyFrame:
    """Counts, support, lift, Wilson interval and p-value of each (attribute, value) in
    `long` (one row per member having it: is_best, attribute, value) among `population`
    (one row per member: is_best)."""
    return _scored_counts(_counted(long), population)


def _scored_counts(counts: pl.LazyFrame, population: pl.LazyFrame) -> pl.LazyFrame:
    """`_scored` from the counts of each (attribute, value)."""
    totals = population.select(
        best_total=pl.col("is_best").sum().cast(pl.Int64), all_total=pl.len().cast(pl.Int64)
    )
    low, high = wilson_interval(pl.col("customers"), pl.col("best_total"))
    return (
        counts.join(totals, how="cross")
        .with_columns(
            support=pl.col("customers") / pl.col("best_total"),
            population_share=pl.col("everyone") / pl.col("all_total"),
            p_value=pl.struct("customers", "everyone", "best_total", "all_total").map_batches(
                _over_representation, return_dtype=pl.Float64
            ),
        )
        .with_columns(
            lift=pl.col("support") / pl.col("population_share"),
            ci_low=low,
            ci_high=high,
            q_value=pl.lit(None, pl.Float64),
            is_distinguishing=pl.lit(False),
        )
        .select(*PROFILE_SCHEMA, "everyone")
    )


def _over_representation(counts: pl.Series) -> pl.Series:
    """P(X >= k) for X ~ Hypergeometric(N everyone, K with the value, n best)."""
    if counts.is_empty():
        return pl.Series(dtype=pl.Float64)
    fields = counts.struct.unnest()
    k = fields["customers"].to_numpy()
    p = hypergeom_sf(
        k - 1,
        fields["all_total"].to_numpy(),
        fields["everyone"].to_numpy(),
        fields["best_total"].to_numpy(),
    )
    return pl.Series(np.clip(p, 0.0, 1.0), dtype=pl.Float64)


def controlled(
    profiles: Sequence[pl.DataFrame],
    *,
    min_support: float,
    min_lift: float,
    min_people: int,
    false_discovery_rate: float,
) -> list[pl.DataFrame]:
    """The profiles after the Benjamini-Hochberg control over all their values together.

    `q_value` is each value's BH-adjusted p-value over every value of every profile
    (each tested value counts, also those the privacy guard then hides); a value
    distinguishes the best when q_value <= false_discovery_rate and its support and
    lift reach their minimums. Values fewer than `min_people` best members share are
    dropped (privacy). Each profile comes back in its order: attribute, support desc.
    """
    sizes = [frame.height for frame in profiles]
    p_values = np.concatenate([frame["p_value"].to_numpy() for frame in profiles] + [np.empty(0)])
    q_values = p_values
    if p_values.size:
        q_values = benjamini_hochberg(p_values)
    results, start = [], 0
    for frame, size in zip(profiles, sizes, strict=True):
        q = pl.Series("q_value", q_values[start : start + size], dtype=pl.Float64)
        start += size
        results.append(
            frame.with_columns(q_value=q)
            .with_columns(
                is_distinguishing=(pl.col("support") >= min_support)
                & (pl.col("lift") >= min_lift)
                & (pl.col("q_value") <= false_discovery_rate)
            )
            .filter(pl.col("customers") >= min_people)  # privacy: never a value fewer share
            .select(list(PROFILE_SCHEMA))
            .sort(["attribute", "support", "value"], descending=[False, True, False])
        )
    return results


# Keywords of titles, Vietnamese and English, matched lower-cased; the first match wins.
_EXECUTIVE = (
    r"tổng giám đốc|giám đốc điều hành|chủ tịch|\bceo\b|founder|nhà sáng lập|owner"
    r"|chủ doanh nghiệp|managing director|general director"
)
_LEVELS: tuple[tuple[str, str], ...] = (
    ("N", _EXECUTIVE),
    ("N-1", r"phó tổng|giám đốc|\bc[a-z]o\b|director|head of|vice president|\bvp\b"),
    ("N-2", r"trưởng phòng|phó giám đốc|manager|quản lý|trưởng bộ phận"),
    ("N-3", r"phó phòng|trưởng nhóm|team lead|supervisor|giám sát"),
    ("N-4", r"chuyên viên|nhân viên|specialist|executive|officer|staff|analyst|kỹ sư|engineer"),
)  # fmt: skip
# The method's own ladder: CEO -> Manager -> Lead -> Member; a manager (or director,
# the head of a function) is N-1, a lead N-2, everyone else N-3.
_METHOD_LEVELS: tuple[tuple[str, str], ...] = (
    ("N", _EXECUTIVE),
    ("N-1", r"phó tổng|giám đốc|trưởng phòng|trưởng bộ phận|quản lý|manager|director|head of"
            r"|vice president|\bvp\b|\bc[a-z]o\b"),
    ("N-2", r"phó phòng|trưởng nhóm|team lead|\blead\b|supervisor|giám sát"),
    ("N-3", r"chuyên viên|nhân viên|thành viên|member|specialist|executive|officer|staff"
            r"|analyst|kỹ sư|engineer"),
)  # fmt: skip
TITLE_LADDERS = {"default": _LEVELS, "method": _METHOD_LEVELS}


def title_ladder(
    name: str, custom: Mapping[str, Sequence[str]] | None = None
) -> tuple[tuple[str, str], ...]:
    """The (level, pattern) ladder: a custom one (level -> title keywords, matched as
    lower-case words, first level first) or a named one ("default", "method")."""
    if custom:
        return tuple(
            (level, "|".join(rf"\b{re.escape(word.lower())}\b" for word in words))
            for level, words in custom.items()
        )
    return TITLE_LADDERS[name]


_ROLES: tuple[tuple[str, str], ...] = (
    ("marketing", r"marketing|tiếp thị|\bcmo\b|truyền thông|brand"),
    ("finance", r"tài chính|kế toán|\bcfo\b|finance|accounting"),
    ("sales", r"kinh doanh|bán hàng|sales|\bcso\b|business development"),
    ("procurement", r"mua hàng|procurement|purchasing|cung ứng"),
    ("technology", r"công nghệ|\bit\b|\bcto\b|\bcio\b|kỹ thuật|technology|engineer"),
    ("operations", r"vận hành|\bcoo\b|operations|sản xuất"),
    ("human resources", r"nhân sự|\bhr\b|human resources|\bchro\b"),
    ("executive", _EXECUTIVE),
)  # fmt: skip


def _first_match(text: pl.Expr, table: Sequence[tuple[str, str]]) -> pl.Expr:
    result = pl.lit(None, dtype=pl.String)
    for label, pattern in reversed(table):
        result = pl.when(text.str.contains(pattern)).then(pl.lit(label)).otherwise(result)
    return result


def normalise_titles(
    contacts: pl.LazyFrame, ladder: Sequence[tuple[str, str]] = _LEVELS
) -> pl.LazyFrame:
    """Add `title_level` (N, N-1 …, by `ladder`) and `title_role` from the title; a
    level given in the source wins."""
    names = contacts.collect_schema().names()
    title = pl.col("title").str.to_lowercase() if "title" in names else pl.lit(None, pl.String)
    level = _first_match(title, ladder)
    role = _first_match(title, _ROLES)
    if "level" in names:
        level = pl.coalesce(pl.col("level").str.to_uppercase().str.replace_all(" ", ""), level)
    if "role" in names:
        role = pl.coalesce(pl.col("role").str.to_lowercase(), role)
    return contacts.with_columns(title_level=level, title_role=role)


def bands(column: str, edges: Sequence[int | Decimal], unit: str = "") -> pl.Expr:
    """Label a numeric column by half-open bands [edges[i], edges[i+1]), the last open-ended."""
    value = pl.col(column).cast(pl.Float64)
    label = pl.lit(None, dtype=pl.String)
    for low, high in reversed(list(zip(edges, [*edges[1:], None], strict=True))):
        text = f"{low:,}+{unit}" if high is None else f"{low:,}-{int(high) - 1:,}{unit}"
        inside = (
            value >= float(low)
            if high is None
            else value.is_between(float(low), float(high), closed="left")
        )
        label = pl.when(inside).then(pl.lit(text)).otherwise(label)
    return label


UNKNOWN, OTHER = "(unknown)", "(other)"


def attribute_mix(
    population: pl.LazyFrame, *, attributes: Sequence[str], min_people: int
) -> pl.LazyFrame:
    """Each attribute's values among all customers: customers and share (0-1).

    A missing value is a category of its own, "(unknown)", so every attribute's shares
    sum to 1 over the whole population. Values fewer than `min_people` customers share
    are pooled into "(other)" (the privacy guard of the profiles).

    Args:
        population: one row per customer with the attribute columns.
        attributes: columns to describe (absent ones are skipped).
        min_people: the smallest group shown by its own value.
    """
    present = [a for a in attributes if a in population.collect_schema().names()]
    schema = {
        "attribute": pl.String,
        "value": pl.String,
        "customers": pl.Int64,
        "share": pl.Float64,
    }
    if not present:
        return pl.LazyFrame(schema=schema)
    long = pl.concat(
        [
            population.select(
                attribute=pl.lit(a), value=pl.col(a).cast(pl.String).fill_null(UNKNOWN)
            )
            for a in present
        ]
    )
    counts = long.group_by("attribute", "value").agg(customers=pl.len().cast(pl.Int64))
    pooled = counts.with_columns(
        value=pl.when((pl.col("customers") < min_people) & (pl.col("value") != UNKNOWN))
        .then(pl.lit(OTHER))
        .otherwise(pl.col("value"))
    )
    return (
        pooled.group_by("attribute", "value")
        .agg(pl.col("customers").sum())
        .with_columns(share=pl.col("customers") / pl.col("customers").sum().over("attribute"))
        .select(list(schema))
        .cast(schema)  # type: ignore[arg-type]
        .sort("attribute", "value")
    )


def with_bands(
    frame: pl.LazyFrame,
    *,
    employee_bands: Sequence[int],
    annual_revenue_bands: Sequence[int | Decimal],
    age_bands: Sequence[int],
) -> pl.LazyFrame:
    """Add employee_band, annual_revenue_band and age_band where their numbers exist."""
    names = frame.collect_schema().names()
    added = []
    if "employee_count" in names:
        added.append(bands("employee_count", employee_bands).alias("employee_band"))
    if "annual_revenue" in names:
        added.append(bands("annual_revenue", annual_revenue_bands).alias("annual_revenue_band"))
    if "age" in names:
        added.append(bands("age", age_bands).alias("age_band"))
    return frame.with_columns(added)


def target_profile(company: pl.LazyFrame, buyer: pl.LazyFrame) -> pl.LazyFrame:
    """Distinguishing company and buyer values together; the others are dropped."""
    return pl.concat(
        [
            company.filter("is_distinguishing").with_columns(source=pl.lit("company")),
            buyer.filter("is_distinguishing").with_columns(source=pl.lit("buyer")),
        ]
    ).sort("lift", descending=True)


# What a persona's name is made of, in order: who decides, in what business, where.
NAME_PARTS: tuple[tuple[str, ...], ...] = (
    ("title", "title_role", "title_level"),
    ("industry", "customer_type", "employee_band"),
    ("city", "region", "country"),
)


def persona_name(target: pl.DataFrame) -> str:
    """A readable name: the distinguishing title, industry and city (or their nearest kin).

    For each part the first attribute of `NAME_PARTS` present in the target profile
    gives the value; when nothing distinguishes the best customers, the name says so.
    """
    values: dict[str, str] = {}
    for attribute, value in (
        target.sort("lift", descending=True).select("attribute", "value").rows()
    ):
        values.setdefault(attribute, value)  # the strongest value of each attribute
    parts = [
        next((values[a] for a in attributes if a in values), None) for attributes in NAME_PARTS
    ]
    named = [part for part in parts if part]
    return " · ".join(named) if named else "Key-tier customers (no distinguishing attribute)"
