"""The published tables, each declared once: columns, types, comments, nullability, keys
and the values each column may hold.

Produces `OUTPUT_TABLES` (one spec per contract table: its grain, its key and its
columns, each with a description and a `Rule`) and `history_table`, the
SQLAlchemy table that keeps every refresh of a spec, keyed by `refresh_id`.
Everything else derives from these specs: the DDL and column comments (here),
the pandera output contracts (`schemas.outputs`), the per-column expectations of
the published-table checks (`quality.published_checks`) and the README's data
dictionary. The checks are declared as plain values, not pandera or Great
Expectations objects, so the warehouse layer needs neither to create a table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from schemas.vocabulary import (
    BASES,
    CLV_MODELS,
    GOALS,
    MATCH_RULES,
    PARETO_CLASSES,
    PERSONA_KINDS,
    QUARANTINE_ACTIONS,
    SOURCES,
    TIERS,
    TRANSITION_BASE_NAMES,
)

TypeFactory = Callable[[int], sa.types.TypeEngine]  # money scale -> SQL type


def _money(scale: int) -> sa.types.TypeEngine:
    return sa.Numeric(38, scale)


def _text(_: int) -> sa.types.TypeEngine:
    return sa.String()


def _whole(_: int) -> sa.types.TypeEngine:
    return sa.BigInteger()


def _share(_: int) -> sa.types.TypeEngine:
    return sa.Double()


def _real(_: int) -> sa.types.TypeEngine:
    return sa.Double()


def _flag(_: int) -> sa.types.TypeEngine:
    return sa.Boolean()


def _timestamp(_: int) -> sa.types.TypeEngine:
    return sa.DateTime()


def _day(_: int) -> sa.types.TypeEngine:
    return sa.Date()


@dataclass(frozen=True)
class InSet:
    """Only these values."""

    values: tuple[str, ...]


@dataclass(frozen=True)
class AtLeast:
    """A number at least `minimum`."""

    minimum: int


@dataclass(frozen=True)
class Between:
    """A number within [low, high]."""

    low: int
    high: int


@dataclass(frozen=True)
class Share:
    """A proportion: 0..1, up to float rounding."""


@dataclass(frozen=True)
class RevenueShare:
    """A share of revenue: 0..1 while no revenue it is a share of is negative (a customer
    whose refunds exceed its purchases can push a part past the whole).

    group: the column whose rows share one total (None: the whole table);
    revenue: the revenue column the share is of.
    """

    group: str | None = None
    revenue: str = "revenue"


ValueCheck = InSet | AtLeast | Between | Share | RevenueShare


@dataclass(frozen=True)
class Rule:
    """What a column may hold: null or not, repeated or not (a single-column key), and
    the checks its non-null values pass."""

    nullable: bool
    unique: bool = False
    checks: tuple[ValueCheck, ...] = ()


def key(*checks: ValueCheck) -> Rule:
    """A single-column key: never null, never repeated."""
    return Rule(nullable=False, unique=True, checks=checks)


def required(*checks: ValueCheck) -> Rule:
    """Always has a value."""
    return Rule(nullable=False, checks=checks)


def optional(*checks: ValueCheck) -> Rule:
    """May be null (checks skip nulls)."""
    return Rule(nullable=True, checks=checks)


COUNT = AtLeast(0)
SCORE = Between(1, 5)  # RFM scores: 1-5 (the pymc preset uses 1-4)
SHARE = Share()


@dataclass(frozen=True)
class OutputColumn:
    """One published column."""

    name: str
    type: TypeFactory
    description: str
    rule: Rule


@dataclass(frozen=True)
class OutputTable:
    """One published table: the view's name, its grain, its columns and the columns a
    reader looks its rows up by (after refresh_id, the history table's index)."""

    name: str
    grain: str
    columns: tuple[OutputColumn, ...]
    lookup: tuple[str, ...] = ()
    key: tuple[str, ...] = ()  # a key of several columns: the table's grain

    @property
    def column_names(self) -> list[str]:
        """Column names in order, without `refresh_id`."""
        return [column.name for column in self.columns]


O = OutputColumn  # noqa: E741 - short alias keeps the column tables readable
REFRESH_ID = O(
    "refresh_id", _text, "the refresh this row belongs to (as_of date + config hash)", required()
)

REFRESH_RUNS = OutputTable(
    "refresh_runs",
    "one refresh attempt; the view shows the attempt that published the current refresh",
    (
        O("run_id", _text, "unique id of this attempt", optional()),
        O("as_of", _day, "reference date: orders dated after it were ignored", optional()),
        O("started_at", _timestamp, "when the attempt started (UTC)", optional()),
        O("finished_at", _timestamp, "when the attempt ended (UTC)", optional()),
        O("status", _text, "succeeded or failed", optional()),
        O("trigger", _text, "schedule / ad-hoc / drift / launch", optional()),
        O("reason", _text, "why the refresh was run, as given by whoever started it", optional()),
        O("config_hash", _text, "hash of the effective configuration", optional()),
        O("rows_in", _whole, "input rows read across all sources", optional()),
        O(
            "rows_accepted",
            _whole,
            "input rows that went on (rows_in − rows_quarantined)",
            optional(),
        ),
        O("rows_quarantined", _whole, "input rows rejected into the quarantine", optional()),
        O("customers", _whole, "customers published", optional()),
        O("lead_score_auc", _share, "AUC of fit_score, converted vs unconverted leads", optional()),
        O(
            "next_due_at",
            _timestamp,
            "when the next refresh is due (finished_at + cadence)",
            optional(),
        ),
        O("notes", _text, "sources used and outputs skipped for lack of a source", optional()),
        O("error", _text, "one-line error of a failed attempt", optional()),
        O("personas_version", _text, "version of personas that ran the attempt", optional()),
        O(
            "pruned_at",
            _timestamp,
            "when retention removed this refresh's rows (null: kept)",
            optional(),
        ),
    ),
    lookup=("run_id",),
)

CUSTOMER_SEGMENTS = OutputTable(
    "customer_segments",
    "one customer with at least one valid order line up to as_of",
    (
        O("customer_id", _text, "customer key, as text exactly as in the source", key()),
        # net of refunds: may be negative
        O(
            "revenue",
            _money,
            "sum of valid order-line amounts up to as_of (refunds negative)",
            required(),
        ),
        # the grain is a customer with at least one valid order line
        O(
            "order_count",
            _whole,
            "distinct orders (order_id, else the customer's calendar day)",
            required(AtLeast(1)),
        ),
        # null when the source has no quantities; negative for returns
        O(
            "quantity",
            _whole,
            "sum of quantities of valid lines (null if the source has none)",
            optional(),
        ),
        O("first_order_at", _timestamp, "first valid order line", required()),
        O("last_order_at", _timestamp, "last valid order line up to as_of", required()),
        # lines after as_of are ignored
        O("recency_days", _whole, "as_of − date of last_order_at, whole days", required(COUNT)),
        O("tenure_days", _whole, "as_of − date of first_order_at, whole days", required(COUNT)),
        O(
            "avg_order_value",
            _money,
            "revenue / order_count, rounded to the money scale",
            required(),
        ),
        O(
            "tier",
            _text,
            "own tier: the tier bringing most of the customer's revenue",
            required(InSet(TIERS)),
        ),
        O(
            "pareto_rank",
            _whole,
            "1-based rank by revenue descending, ties by customer_id",
            key(AtLeast(1)),
        ),
        # null when total revenue is 0; above 1 before the negative-revenue customers
        O(
            "cumulative_share",
            _share,
            "revenue share of customers ranked 1..pareto_rank",
            optional(RevenueShare()),
        ),
        O(
            "pareto_class",
            _text,
            "A: shortest prefix to 80% of revenue, B: to 95%, C: rest",
            required(InSet(PARETO_CLASSES)),
        ),
        O(
            "r_score",
            _whole,
            "recency score, higher is more recent (1-5; 1-4 in the pymc preset)",
            required(SCORE),
        ),
        O("f_score", _whole, "frequency score, higher buys more often", required(SCORE)),
        O("m_score", _whole, "monetary score, higher spends more", required(SCORE)),
        # the label sets depend on the configuration: GX checks them
        O(
            "rfm_segment",
            _text,
            "named RFM segment (Champions, Loyal … Lost; pymc preset names)",
            required(),
        ),
        O(
            "demographic_segment",
            _text,
            "segment on the demographic base (size, type, age …)",
            required(),
        ),
        O(
            "geographic_segment",
            _text,
            "segment on the geographic base (country, region, city)",
            required(),
        ),
        O(
            "psychographic_segment",
            _text,
            "segment on the psychographic base (values, attitude)",
            required(),
        ),
        O(
            "behavioural_segment",
            _text,
            "segment on the behavioural base (loyalty, usage)",
            required(),
        ),
        # 0 for a customer who never bought in the key tier
        O("key_tier_revenue", _money, "the customer's sales in the key tier (0: none)", required()),
        O(
            "is_best_customer",
            _flag,
            "among the best customers of the key tier by the goal",
            required(),
        ),
        # only best customers define the persona
        O(
            "persona_id",
            _text,
            "the persona this customer defines (best customers), else null",
            optional(),
        ),
        O("reason", _text, "why each label: the rule that fired and its cut points", required()),
        # null when [clv] is off or its models were not fitted (clv_model says why), and for a
        # customer with no purchase day (only refunds)
        O(
            "p_alive",
            _share,
            "probability the customer is still active at as_of (BG/NBD; null: not predicted)",
            optional(SHARE),
        ),
        O(
            "expected_purchases",
            _real,
            "purchase days expected in the next [clv] horizon_months (BG/NBD)",
            optional(COUNT),
        ),
        O(
            "predicted_clv",
            _money,
            "spend expected in the next horizon_months, discounted (BG/NBD × Gamma-Gamma)",
            optional(COUNT),
        ),
    ),
    lookup=("customer_id",),
)

TIER_SUMMARY = OutputTable(
    "tier_summary",
    "one revenue tier (always Large, Medium and Small)",
    (
        O("tier", _text, "Large / Medium / Small", key(InSet(TIERS))),
        # money bounds under order_value / quantity / revenue; null where a tier has none
        O(
            "lower_bound",
            _money,
            "smallest purchase size in the tier (null: no lower bound)",
            optional(),
        ),
        O(
            "upper_bound",
            _money,
            "purchase sizes in the tier are below this (null: none)",
            optional(),
        ),
        O(
            "bounds_basis",
            _text,
            "what the bounds measure and how they were set or derived",
            required(),
        ),
        O(
            "purchases",
            _whole,
            "purchases of positive value in the tier (orders; lines by package)",
            required(COUNT),
        ),
        # 0 for an empty tier; refunds subtract
        O(
            "sales_revenue",
            _money,
            "revenue of the purchases in the tier (refunds subtract)",
            required(),
        ),
        # null when total revenue is 0; outside 0..1 only beside a tier of net refunds
        O(
            "sales_share",
            _share,
            "sales_revenue / all revenue (0-1); null when revenue <= 0",
            optional(RevenueShare(revenue="sales_revenue")),
        ),
        O("buying_customers", _whole, "customers with a purchase in the tier", required(COUNT)),
        O(
            "customers",
            _whole,
            "customers whose own tier it is (most of their revenue)",
            required(COUNT),
        ),
        # null without the data (no repeat orders, no leads)
        O(
            "deal_days",
            _share,
            "median days lead to first order (else first to second order)",
            optional(),
        ),
        O(
            "deal_days_basis",
            _text,
            "what deal_days measures: lead to first order, or orders",
            required(),
        ),
        # null without due dates
        O(
            "paid_on_time_share",
            _share,
            "share of purchases paid by their due date (0-1)",
            optional(SHARE),
        ),
        O(
            "repeat_rate",
            _share,
            "share of the tier's own customers with 2+ orders (0-1)",
            required(SHARE),
        ),
        O(
            "is_key_tier",
            _flag,
            "the key revenue source: largest sales, or decided (key_reason)",
            required(),
        ),
        O("is_majority", _flag, "the tier's sales bring more than 50% of all revenue", required()),
        O(
            "decided_by",
            _text,
            "majority / largest sales / a preference / fixed order / re-cut",
            required(),
        ),
        O("key_reason", _text, "why this key tier, with the measured values", required()),
    ),
    lookup=("tier",),
)

PARETO_SUMMARY = OutputTable(
    "pareto_summary",
    "one refresh",
    (
        O("customers", _whole, "customers ranked", required(COUNT)),
        O("revenue", _money, "total revenue", required()),
        O(
            "top_share_customers",
            _share,
            "the share of customers looked at (0.20)",
            required(SHARE),
        ),
        O("top_customers", _whole, "ceil(top_share_customers × customers)", required(COUNT)),
        # Null when total revenue is 0. Not bounded: with negative-revenue customers the top
        # customers' share exceeds 1.
        O(
            "top_share_revenue",
            _share,
            "revenue share of the top_customers first customers",
            optional(),
        ),
        O(
            "customers_for_80pct",
            _whole,
            "customers needed to reach 80% of revenue (class A)",
            required(COUNT),
        ),
        # over revenue clipped at 0, so 0..1; null when no customer has any
        O(
            "gini",
            _share,
            "Gini coefficient of customer revenue (0 equal, 1 concentrated)",
            optional(SHARE),
        ),
    ),
)

PARETO_CURVE = OutputTable(
    "pareto_curve",
    "one whole percent of customers, 0 to 100",
    (
        O(
            "customer_pct",
            _whole,
            "percent of customers, in Pareto order (0-100)",
            key(Between(0, 100)),
        ),
        # null past 0% when total revenue is 0; unbounded for the reason above (no revenue
        # column here to tell)
        O(
            "cumulative_revenue_share",
            _share,
            "revenue share of the first customer_pct percent",
            optional(),
        ),
    ),
    lookup=("customer_pct",),
)
SEGMENT_SUMMARY = OutputTable(
    "segment_summary",
    "one (base, segment): every base's segments cover all customers",
    (
        O(
            "base",
            _text,
            "demographic / geographic / psychographic / behavioural",
            required(InSet(BASES)),
        ),
        O("segment", _text, "segment name from the base's rules (or its default)", required()),
        O("customers", _whole, "customers in the segment", required(COUNT)),
        O("revenue", _money, "revenue of those customers", required()),
        O(
            "revenue_share",
            _share,
            "segment revenue / all revenue (0-1)",
            optional(RevenueShare(group="base")),
        ),
    ),
    key=("base", "segment"),
    lookup=("base", "segment"),
)
PERSONAS = OutputTable(
    "personas",
    "one (persona, kind, attribute, value); kind company = ideal company profile, buyer = "
    "buyer persona of the decision makers, target = the distinguishing values of both, "
    "purchase = the categories (or products) the best customers bought",
    (
        O("persona_id", _text, "the persona (P1: the key tier's best customers)", required()),
        O("kind", _text, "company / buyer / target / purchase", required(InSet(PERSONA_KINDS))),
        O("attribute", _text, "attribute profiled (industry, city, title_level …)", required()),
        O("value", _text, "the attribute's value", required()),
        O(
            "support",
            _share,
            "share of the best customers (or their decision makers) with it",
            required(SHARE),
        ),
        O(
            "lift",
            _share,
            "support / population_share: how much more common among the best",
            required(COUNT),
        ),
        O(
            "customers",
            _whole,
            "best customers (or decision makers) with the value; >= k",
            required(COUNT),
        ),
        O(
            "population_share",
            _share,
            "share of all customers (or decision makers) with it",
            required(SHARE),
        ),
        O("ci_low", _share, "95% Wilson interval of the support, lower bound", required(SHARE)),
        O("ci_high", _share, "95% Wilson interval of the support, upper bound", required(SHARE)),
        O(
            "p_value",
            _share,
            "one-sided hypergeometric p: this common among the best by chance",
            required(SHARE),
        ),
        O(
            "q_value",
            _share,
            "Benjamini-Hochberg adjusted p over every value tested",
            required(SHARE),
        ),
        O(
            "is_distinguishing",
            _flag,
            "support and lift reach their minimums, q_value <= q",
            required(),
        ),
    ),
    key=("persona_id", "kind", "attribute", "value"),
    lookup=("persona_id", "kind", "attribute", "value"),
)

PERSONA_CARDS = OutputTable(
    "persona_cards",
    "one persona: its name and what its best customers want, fear and say",
    (
        O("persona_id", _text, "the persona", key()),
        O("name", _text, "readable name from its strongest distinguishing values", required()),
        O(
            "key_tier",
            _text,
            "the revenue tier the best customers come from",
            required(InSet(TIERS)),
        ),
        O(
            "goal",
            _text,
            "growth / profit / loyalty: how the best customers were chosen",
            required(InSet(GOALS)),
        ),
        O("best_basis", _text, "the measure actually used, with any fallback", required()),
        O("best_customers", _whole, "best customers behind the persona", required(COUNT)),
        O("decision_makers", _whole, "decision makers at those customers", required(COUNT)),
        # null when nothing is wrong with the profile
        O(
            "profile_note",
            _text,
            "a warning about the profile, e.g. too few best customers",
            optional(),
        ),
        # null without a feedback source, or when nothing distinguishes a channel
        O("goals", _text, "most frequent goals in their feedback, with shares", optional()),
        O("pain_points", _text, "most frequent pain points, with shares", optional()),
        O("motivations", _text, "most frequent motivations, with shares", optional()),
        O("info_sources", _text, "where they look for information, with shares", optional()),
        O(
            "preferred_channels",
            _text,
            "distinguishing preferred channels, with support",
            optional(),
        ),
        O("quote", _text, "a real, representative feedback text (rule in the README)", optional()),
        # null without product ids
        O(
            "top_purchases",
            _text,
            "what most best customers bought: share of them, lift vs all",
            optional(),
        ),
        O(
            "best_repeat_rate",
            _share,
            "share of the best customers with 2+ orders",
            optional(SHARE),
        ),
        # null when every customer is best
        O(
            "others_repeat_rate",
            _share,
            "share of all other customers with 2+ orders",
            optional(SHARE),
        ),
        O("best_median_order_value", _share, "median value of a best customer's order", optional()),
        O(
            "others_median_order_value",
            _share,
            "median value of another customer's order",
            optional(),
        ),
    ),
    lookup=("persona_id",),
)

LEAD_SCORES = OutputTable(
    "lead_scores",
    "one lead",
    (
        O("lead_id", _text, "lead key", key()),
        O(
            "fit_score",
            _share,
            "weight of matched target values / all (0-1); weights ln(lift)",
            required(SHARE),
        ),
        O(
            "is_target",
            _flag,
            "fit_score >= threshold: a target customer, not merely potential",
            required(),
        ),
        # only target leads match a persona
        O("matched_persona_id", _text, "the persona matched when is_target", optional()),
        # "" when nothing matches
        O(
            "matched_attributes",
            _text,
            "the target values the lead has (attribute=value; …)",
            required(),
        ),
    ),
    lookup=("lead_id",),
)

SEGMENT_TRANSITIONS = OutputTable(
    "segment_transitions",
    "one (base, from_segment, to_segment) since the previous refresh",
    (
        O(
            "base",
            _text,
            "tier / rfm / demographic / geographic / psychographic / behavioural",
            required(InSet(TRANSITION_BASE_NAMES)),
        ),
        # "(new)" rather than null
        O(
            "from_segment",
            _text,
            "segment in the previous refresh, (new) if not a customer then",
            required(),
        ),
        # "(lost)" rather than null
        O(
            "to_segment",
            _text,
            "segment in this refresh, (lost) if no longer a customer",
            required(),
        ),
        O("customers", _whole, "customers making this move", required(COUNT)),
        O("revenue", _money, "their revenue in this refresh (previous one for lost)", required()),
    ),
    key=("base", "from_segment", "to_segment"),
    lookup=("base", "from_segment", "to_segment"),
)
ATTRIBUTE_MIX = OutputTable(
    "attribute_mix",
    "one (attribute, value) of a company attribute among all customers; the shares of "
    "each attribute sum to 1",
    (
        O("attribute", _text, "company attribute (industry, city, employee_band …)", required()),
        # "(unknown)" rather than null
        O(
            "value",
            _text,
            "its value; (unknown) when missing, (other) pools values of < k",
            required(),
        ),
        O("customers", _whole, "customers with the value", required(AtLeast(1))),
        O(
            "share",
            _share,
            "customers / all customers (0-1): the drift monitor's baseline",
            required(SHARE),
        ),
    ),
    key=("attribute", "value"),
    lookup=("attribute", "value"),
)
CLV_MODEL = OutputTable(
    "clv_model",
    "one fitted parameter or diagnostic of the refresh's customer-value models (no rows "
    "when [clv] is off)",
    (
        O(
            "model",
            _text,
            "bg_nbd (purchases, P(alive)), gamma_gamma (spend per purchase) or holdout (the "
            "calibration/holdout check)",
            required(InSet(CLV_MODELS)),
        ),
        O(
            "measure",
            _text,
            "parameter (r, alpha, a, b; p, q, v) or diagnostic (customers, log_likelihood, "
            "fitted, aggregate_error, mae_per_customer …)",
            required(),
        ),
        O("value", _real, "its value (fitted: 1 yes, 0 no; null: not defined)", optional()),
        O("note", _text, "what it is, or why the model was not fitted", required()),
    ),
    key=("model", "measure"),
    lookup=("model", "measure"),
)
CUSTOMER_IDENTITY = OutputTable(
    "customer_identity",
    "one record of the customers source and the customer it was resolved to (no rows "
    "when [identity] is off)",
    (
        O("source", _text, "the source of the record (customers)", required(InSet(("customers",)))),
        O("source_id", _text, "the record's customer_id, as in the source", key()),
        O(
            "customer_id",
            _text,
            "the customer it is: the smallest id of its records, every table's customer_id",
            required(),
        ),
        O(
            "match_rule",
            _text,
            "self (its own customer), the key that merged it (tax_code, email, phone), "
            "force_merge or probabilistic (the Splink model)",
            required(InSet(MATCH_RULES)),
        ),
        O(
            "match_probability",
            _share,
            "how sure the merge is (1: an exact key; the model's probability; null: not merged)",
            optional(SHARE),
        ),
        O("records", _whole, "records resolved to the same customer", required(AtLeast(1))),
    ),
    lookup=("source_id",),
)
IDENTITY_REVIEW = OutputTable(
    "identity_review",
    "one pair of customers records the probabilistic model was unsure of (between "
    "review_threshold and match_threshold), or that share a key the model ruled out "
    "(below review_threshold), left apart",
    (
        O("left_id", _text, "one record's customer_id, as in the source", required()),
        O("right_id", _text, "the other record's customer_id", required()),
        O("match_probability", _share, "the model's probability they are one", required(SHARE)),
        O("left_customer_id", _text, "the customer the first record is resolved to", required()),
        O("right_customer_id", _text, "the customer the second is resolved to", required()),
    ),
    key=("left_id", "right_id"),
    lookup=("left_id",),
)
QUARANTINE = OutputTable(
    "quarantine",
    "one problem found in an input row (a row with two problems has two)",
    (
        O(
            "source",
            _text,
            "input source: orders, customers, contacts, products, leads, feedback",
            required(InSet(SOURCES)),
        ),
        O(
            "row_number",
            _whole,
            "1-based position of the row among the source's data rows; on an Excel "
            "sheet, the row number Excel shows",
            required(AtLeast(1)),
        ),
        # a missing key is itself a problem
        O("key", _text, "the row's key (customer_id / order_id for orders)", optional()),
        # null: the row as a whole
        O("column", _text, "the column at fault (null: the row as a whole)", optional()),
        O("problem", _text, "what is wrong, in words", required()),
        # null for row-level problems
        O("value", _text, "the offending value as read (null for row-level problems)", optional()),
        O(
            "action",
            _text,
            "row rejected (left out) or value cleared (row kept, value null)",
            required(InSet(QUARANTINE_ACTIONS)),
        ),
        # null for CSV, Parquet and database sources
        O("sheet", _text, "the Excel sheet the row is on (row_number: Excel's)", optional()),
    ),
    lookup=("source", "row_number"),
)
del O

# Data tables, published together; refresh_runs is written alongside them.
DATA_TABLES: tuple[OutputTable, ...] = (
    CUSTOMER_SEGMENTS,
    TIER_SUMMARY,
    PARETO_SUMMARY,
    PARETO_CURVE,
    SEGMENT_SUMMARY,
    PERSONAS,
    PERSONA_CARDS,
    LEAD_SCORES,
    SEGMENT_TRANSITIONS,
    ATTRIBUTE_MIX,
    CLV_MODEL,
    CUSTOMER_IDENTITY,
    IDENTITY_REVIEW,
    QUARANTINE,
)
OUTPUT_TABLES: tuple[OutputTable, ...] = (REFRESH_RUNS, *DATA_TABLES)
CURRENT_POINTER = "_current_refresh"


def history_table(spec: OutputTable, metadata: sa.MetaData, *, scale: int) -> sa.Table:
    """`<name>_history`: every refresh's rows of `spec`, keyed by `refresh_id`.

    Its index leads with refresh_id, then the table's lookup columns: the current views
    select one refresh_id, so a BI query never scans every refresh kept. DuckDB has none:
    its row groups' min/max already skip other refreshes, and its index makes replacing
    a refresh's rows (a rerun) cost seconds per table at commit.
    """
    columns = [
        sa.Column(c.name, c.type(scale), comment=c.description) for c in (REFRESH_ID, *spec.columns)
    ]
    return sa.Table(
        f"{spec.name}_history",
        metadata,
        *columns,
        sa.Index(history_index_name(spec), REFRESH_ID.name, *spec.lookup).ddl_if(
            callable_=indexes_history
        ),
        comment=f"Every refresh of {spec.name}. Grain: {spec.grain}, per refresh_id.",
    )


def indexes_history(*_: object, dialect: sa.Dialect, **__: object) -> bool:
    """Whether history tables are indexed on this dialect (every one but DuckDB)."""
    return dialect.name != "duckdb"


def history_index_name(spec: OutputTable) -> str:
    """The name of a history table's index (refresh_id, lookup columns)."""
    return f"ix_{spec.name}_history_refresh"


def pointer_table(metadata: sa.MetaData) -> sa.Table:
    """The one-row table naming the current refresh; moving it publishes a refresh."""
    return sa.Table(
        CURRENT_POINTER,
        metadata,
        sa.Column(
            "singleton", sa.Integer, primary_key=True, autoincrement=False, comment="always 1"
        ),
        sa.Column("refresh_id", sa.String, nullable=False, comment="the current refresh"),
        sa.Column("run_id", sa.String, nullable=False, comment="the attempt that published it"),
        comment="Which refresh the plain views show.",
    )
