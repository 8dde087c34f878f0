"""Typed settings for a personas refresh: one model, loaded from TOML and the environment.

Produces a validated :class:`Settings` object. Precedence, highest first:
environment variables ``PERSONAS_<SECTION>__<KEY>`` (``PERSONAS_TIERS__RULE=package``),
then the TOML file. Relative paths are resolved against the directory of the
TOML file, so a config works wherever the command is started from.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from transforms.identity_matching import DEFAULT_BLOCKING
from transforms.statuses import DEFAULT_STATUSES, status_key

# Sources the contract knows; only orders is required.
SOURCE_NAMES = ("orders", "customers", "contacts", "products", "leads", "feedback")
TIER_NAMES = ("Large", "Medium", "Small")
Tier = Literal["Large", "Medium", "Small"]

# A URL with a scheme (s3a://, dbfs:/, file:///): files that Spark, not this machine, opens.
# Two letters at least: C:/orders.csv is a Windows path.
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")
# Warehouse schema and table names end up in DDL: keep them to plain identifiers.
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

Share = Annotated[Decimal, Field(gt=0, lt=1)]
# PostgreSQL's lock_timeout is an int of milliseconds: at most 2,147,483 s (24.8 days).
MAX_LOCK_TIMEOUT_SECONDS = 2_147_483


def _usable_url(value: SecretStr | None) -> SecretStr | None:
    """A SQLAlchemy URL that parses, port included (its text is a secret: never echoed)."""
    if value is None:
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(value.get_secret_value()).port  # noqa: B018 - parses the port
    except (ArgumentError, ValueError):
        raise ValueError("not a valid SQLAlchemy URL (check its form and port)") from None
    return value


def _needs(enabled: bool, module: str, package: str, extra: str) -> bool:
    """An optional part switched on needs its package: found when the config is read, not
    after the data has been read and validated."""
    import importlib.util

    if enabled and importlib.util.find_spec(module) is None:
        raise ValueError(f"needs {package}: pip install 'personas[{extra}]'")
    return enabled


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class SourceSettings(_Section):
    """Where one input comes from and how its columns map onto canonical names."""

    path: Path | None = Field(
        None,
        description="CSV, Parquet or Excel file (.xlsx, .xlsm, .xlsb, .xls, .ods), or a folder "
        "of Parquet files (a lake's dataset, Hive partition folders read as text columns); "
        "relative paths are relative to the config file",
    )
    url: SecretStr | None = Field(
        None, description="SQLAlchemy URL of a database source (secret: may hold a password)"
    )
    uri: str | None = Field(
        None,
        description="orders on the Spark engine: a CSV or Parquet file, or a folder of them, "
        "at a URL Spark reads (s3a://…, abfss://…, gs://…, hdfs://…, dbfs:/…, file:///…); "
        "Spark's executors read it with the file systems and credentials of [engine] conf, "
        "this machine never opens it",
    )
    table: str | None = Field(None, description="table to read from `url`")
    query: str | None = Field(None, description="SQL query to read from `url`")
    format: Literal["csv", "parquet", "excel"] | None = Field(
        None, description="file format; inferred from the file extension when absent"
    )
    sheet: str | int | None = Field(
        None,
        description="Excel: the sheet, by name (text) or position (1 = the first); the first "
        "when absent",
    )
    header_row: int | None = Field(
        None,
        ge=1,
        description="Excel: the row number of the column names (rows above it, such as a "
        "title, are skipped); when absent, the first row that holds the names of the "
        "source's required columns (customer_id … as mapped)",
    )
    skip_rows: int = Field(
        0, ge=0, description="Excel: rows right below the header to skip (e.g. a row of units)"
    )
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="canonical column name = column name in the source",
    )
    zero_pad: dict[str, Annotated[int, Field(ge=2, le=40)]] = Field(
        default_factory=dict,
        description="canonical column = digits: a value of only digits, shorter, gets its "
        "leading zeros back (customer_id = 5: the 17 Excel made of 00017 is 00017 again; "
        "tax_code = 10)",
    )
    delimiter: str = Field(",", min_length=1, max_length=1, description="CSV field delimiter")
    date_format: str | None = Field(
        None,
        description="strftime format of date columns (e.g. '%d/%m/%Y'); ISO 8601 when absent",
    )
    extra_columns: tuple[str, ...] = Field(
        (),
        description="non-canonical columns to keep as text attributes (segments, profiles)",
    )
    encoding: str = Field(
        "utf-8",
        description="text encoding of a CSV file: utf-8 (a BOM is accepted) or any Python "
        "codec name, e.g. windows-1258 for Vietnamese Windows exports, cp1252, latin-1",
    )
    null_values: tuple[str, ...] = Field(
        (),
        description="extra cell texts that mean 'no value' (e.g. 'NULL', 'N/A', '-'); "
        "empty and blank cells always do",
    )
    decimal_separator: Literal[".", ","] = Field(
        ".", description="decimal separator of amounts and numbers: '.' or ','"
    )
    thousands_separator: Literal["", ",", ".", " ", "'"] = Field(
        "",
        description="thousands separator accepted in amounts and numbers (e.g. '.' for "
        "20.000.000); empty: none accepted",
    )
    line_key: tuple[str, ...] | None = Field(
        None,
        min_length=1,
        description="orders: the columns (source or canonical names) that identify one order "
        "line; two lines with the same key are duplicates and the later one is rejected. "
        "Unset: order_id with line_number, else order_id with product_id, where the source "
        "has them; without a key no line is a duplicate (identical lines are separate "
        "purchases)",
    )
    reject_identical_lines: bool = Field(
        False,
        description="orders: also reject a line identical in every column to an earlier one "
        "(only for a source known to be exported twice: identical lines are normally two "
        "real purchases)",
    )
    max_rejected_share: Decimal = Field(
        Decimal("0.01"),
        ge=0,
        le=1,
        description="stop the refresh (exit 1, nothing published) when more than this share "
        "of the source's rows is rejected; below it, rejected rows go to quarantine",
    )

    _url_parses = field_validator("url")(_usable_url)

    @model_validator(mode="after")
    def _separators_differ(self) -> SourceSettings:
        if self.thousands_separator == self.decimal_separator:
            raise ValueError("decimal_separator and thousands_separator must differ")
        return self

    @field_validator("uri")
    @classmethod
    def _a_url(cls, value: str | None) -> str | None:
        if value is not None and not _URI.match(value):
            raise ValueError(
                f"{value!r} is not a URL with a scheme (s3a://bucket/orders/, file:///data/"
                "orders.csv); a file on this machine is given as `path`"
            )
        return value

    @model_validator(mode="after")
    def _one_location(self) -> SourceSettings:
        given = [self.path is not None, self.url is not None, self.uri is not None]
        if sum(given) != 1:
            raise ValueError(
                "give exactly one of `path` (a file), `url` (a database) or `uri` (files "
                "Spark reads)"
            )
        if self.uri is not None and self.file_format == "excel":
            raise ValueError("`uri` reads CSV or Parquet files; an Excel file is given as `path`")
        if self.url is not None and (self.table is None) == (self.query is None):
            raise ValueError("a database source needs exactly one of `table` or `query`")
        if self.url is None and (self.table or self.query):
            raise ValueError("`table` and `query` only apply to a database source (`url`)")
        return self

    @model_validator(mode="after")
    def _sheet_settings_on_workbooks(self) -> SourceSettings:
        given = self.sheet is not None or self.header_row is not None or self.skip_rows
        if given and (self.path is None or self.file_format != "excel"):
            raise ValueError("sheet, header_row and skip_rows apply to an Excel file only")
        return self

    @property
    def file_format(self) -> Literal["csv", "parquet", "excel"]:
        """The file format, from `format` or else the file extension (a folder: Parquet)."""
        if self.format:
            return self.format
        if self.uri is not None:  # a URL's folder has no extension: Parquet, as a local one
            suffix = PurePosixPath(urlparse(self.uri).path).suffix.lower()
            return "csv" if suffix in {".csv", ".txt", ".tsv"} else "parquet"
        assert self.path is not None
        if self.path.is_dir():
            return "parquet"
        suffix = self.path.suffix.lower()
        if suffix in {".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"}:
            return "excel"
        return "parquet" if suffix in {".parquet", ".pq"} else "csv"


class WarehouseSettings(_Section):
    """The warehouse that receives the published tables."""

    url: SecretStr = Field(
        SecretStr("duckdb:///warehouse/warehouse.duckdb"),
        description="SQLAlchemy URL; a relative DuckDB path is relative to the config file",
    )
    schema_name: str = Field("personas", alias="schema", description="schema of the output tables")
    lock_timeout_seconds: float = Field(
        60,
        ge=0,
        le=MAX_LOCK_TIMEOUT_SECONDS,
        allow_inf_nan=False,
        description="how long a refresh waits for another one to finish publishing; 0: do "
        "not wait (on every warehouse)",
    )
    make_backfills_current: bool = Field(
        False,
        description="make a refresh current even when its as_of is older than the current "
        "refresh's; by default such a backfill goes to history only (--make-current asks "
        "for it once)",
    )
    keep_refreshes: int | None = Field(
        None,
        ge=1,
        description="keep the rows of the last N published refreshes, pruning older ones "
        "after each refresh; unset keeps every refresh",
    )

    _url_parses = field_validator("url")(_usable_url)

    @field_validator("schema_name")
    @classmethod
    def _plain_identifier(cls, value: str) -> str:
        if not _IDENTIFIER.fullmatch(value):
            raise ValueError(f"{value!r} is not a plain SQL identifier (letters, digits, _)")
        return value


class TierSettings(_Section):
    """How customers are split into Large / Medium / Small revenue tiers."""

    rule: Literal["order_value", "package", "quantity", "revenue", "quantile"] = Field(
        "order_value",
        description="order_value | package | quantity: each purchase by its size; revenue | "
        "quantile: customers by their revenue",
    )
    medium_min_order_value: Decimal | None = Field(
        None,
        gt=0,
        description="order_value rule: order value from which a purchase is Medium (unset: "
        "derived from the data)",
    )
    large_min_order_value: Decimal | None = Field(
        None,
        gt=0,
        description="order_value rule: order value from which a purchase is Large (unset: "
        "derived from the data)",
    )
    large_share: Share = Field(
        Decimal("0.20"), description="quantile rule: share of customers (by revenue) that are Large"
    )
    medium_share: Share = Field(
        Decimal("0.30"), description="quantile rule: share of customers after Large that are Medium"
    )
    large_min_revenue: Decimal | None = Field(
        None, description="revenue rule: revenue from which a customer is Large"
    )
    medium_min_revenue: Decimal | None = Field(
        None, description="revenue rule: revenue from which a customer is Medium"
    )
    packages: dict[str, Tier] = Field(
        default_factory=lambda: {"Gold": "Large", "Silver": "Medium", "Bronze": "Small"},
        description="package rule: package name (products.package) = tier",
    )
    medium_min_quantity: int = Field(
        6, ge=1, description="quantity rule: quantity per purchase from which a sale is Medium"
    )
    large_min_quantity: int = Field(
        21, ge=2, description="quantity rule: quantity per purchase from which a sale is Large"
    )
    key_tier_preference: tuple[Tier, Tier, Tier] = Field(
        ("Large", "Medium", "Small"),
        description="the fixed order: decides exact ties, the 'fixed' preference, and a "
        "preference without data",
    )
    near_equal_margin: Share = Field(
        Decimal("0.05"),
        description="when no tier passes 50%, tiers within this share of the largest (0.05 = "
        "5 points) are near-equal and the preference decides",
    )
    preference: Literal["fastest_deals", "pays_on_time", "repeat_rate", "fixed"] = Field(
        "fastest_deals",
        description="what decides between near-equal tiers: fastest_deals (median days lead to "
        "first order, else first to second order), pays_on_time (orders due_date / paid_at), "
        "repeat_rate, fixed (key_tier_preference)",
    )
    recut: bool = Field(
        False,
        description="re-cut near-equal tiers (order_value, quantity, revenue rules) by widening "
        "the leading tier into its neighbour until it passes 50%, before the preference",
    )
    recut_steps: int = Field(10, ge=1, le=100, description="re-cut: steps tried")
    recut_max_share: Share = Field(
        Decimal("0.5"),
        description="re-cut: at most this share of the neighbouring tier's purchases moves",
    )

    @model_validator(mode="after")
    def _rule_is_complete(self) -> TierSettings:
        if self.rule == "quantile" and self.large_share + self.medium_share >= 1:
            raise ValueError("large_share + medium_share must stay below 1 (Small needs room)")
        if self.rule == "revenue":
            if self.large_min_revenue is None or self.medium_min_revenue is None:
                raise ValueError("rule 'revenue' needs large_min_revenue and medium_min_revenue")
            if self.large_min_revenue <= self.medium_min_revenue:
                raise ValueError("large_min_revenue must be above medium_min_revenue")
        order_bounds = (self.medium_min_order_value, self.large_min_order_value)
        if (order_bounds[0] is None) != (order_bounds[1] is None):
            raise ValueError(
                "set both medium_min_order_value and large_min_order_value, or neither (derived)"
            )
        if order_bounds[0] is not None and order_bounds[1] <= order_bounds[0]:  # type: ignore[operator]
            raise ValueError("large_min_order_value must be above medium_min_order_value")
        if self.rule == "quantity" and self.large_min_quantity <= self.medium_min_quantity:
            raise ValueError("large_min_quantity must be above medium_min_quantity")
        if self.rule == "package" and not self.packages:
            raise ValueError("rule 'package' needs at least one entry in [tiers.packages]")
        if len(set(self.key_tier_preference)) != 3:
            raise ValueError("key_tier_preference must name Large, Medium and Small once each")
        return self


class ParetoSettings(_Section):
    """Cut points of the Pareto analysis."""

    top_share: Share = Field(
        Decimal("0.20"), description="share of customers whose revenue share is reported"
    )
    class_a_share: Share = Field(
        Decimal("0.80"), description="class A: shortest prefix of customers reaching this share"
    )
    class_b_share: Share = Field(
        Decimal("0.95"), description="class B: the following customers up to this share"
    )

    @model_validator(mode="after")
    def _ordered(self) -> ParetoSettings:
        if self.class_a_share >= self.class_b_share:
            raise ValueError("class_a_share must be below class_b_share")
        return self


class MoneySettings(_Section):
    """How money is held: exact decimals with a fixed number of places."""

    scale: int = Field(
        4, ge=0, le=12, description="decimal places kept for amounts; more in the input is an error"
    )
    currency: str = Field("VND", description="currency of the published amounts")
    max_line_amount: Decimal = Field(
        Decimal("1e15"),
        gt=0,
        description="an order line whose amount or unit price is this large or larger (in "
        "absolute value) is rejected as implausible",
    )


class RfmSegmentRule(_Section):
    """One named RFM segment: inclusive ranges of the R score and the FM score (1-5)."""

    name: str = Field(min_length=1, description="segment name")
    r: tuple[Annotated[int, Field(ge=1, le=5)], Annotated[int, Field(ge=1, le=5)]] = Field(
        description="[lowest, highest] R score"
    )
    fm: tuple[Annotated[int, Field(ge=1, le=5)], Annotated[int, Field(ge=1, le=5)]] = Field(
        description="[lowest, highest] FM score (mean of F and M, rounded up)"
    )


class RfmSettings(_Section):
    """How RFM scores and segments are computed."""

    preset: Literal["default", "pymc"] = Field(
        "default",
        description="default: scores 1-5 and eleven named segments; pymc: pymc-marketing's "
        "rfm_segments, label for label",
    )
    segments: tuple[RfmSegmentRule, ...] | None = Field(
        None,
        description="default preset: ordered segment map (first match wins); built-in if absent",
    )
    pymc_segments: dict[str, tuple[str, ...]] | None = Field(
        None, description="pymc preset: its segment_config, segment = list of 'RFM' scores"
    )

    @model_validator(mode="after")
    def _map_covers_every_cell(self) -> RfmSettings:
        from transforms.rfm import RfmRule, uncovered_cells

        if self.segments is not None:
            rules = [RfmRule(rule.name, rule.r, rule.fm) for rule in self.segments]
            gaps = uncovered_cells(rules)
            if gaps:
                r, fm = gaps[0]
                raise ValueError(
                    f"segments leave R={r}, FM={fm} without a segment; every customer needs one "
                    f"({len(gaps)} cells uncovered)"
                )
        return self


class ClvSettings(_Section):
    """Predicted customer value: BG/NBD purchases and P(alive), Gamma-Gamma spend, CLV."""

    enabled: bool = Field(
        False,
        description="fit the models each refresh and publish p_alive, expected_purchases and "
        "predicted_clv (needs the clv extra: pip install 'personas[clv]')",
    )
    time_unit: Literal["days", "weeks"] = Field(
        "weeks",
        description="unit of recency and T in the fit (the parameters are in it; the "
        "predictions are not affected)",
    )
    horizon_months: int = Field(
        12, ge=1, le=240, description="expected_purchases and predicted_clv cover this many months"
    )
    annual_discount_rate: Decimal = Field(
        Decimal(0),
        ge=0,
        lt=1,
        description="discount of future spend per year (0: undiscounted); applied monthly",
    )
    fit_method: Literal["map", "mcmc"] = Field(
        "map",
        description="map: maximum likelihood (flat priors), seconds for a million customers; "
        "mcmc: the full posterior by NUTS, predictions are its means (minutes)",
    )
    mcmc_draws: int = Field(1000, ge=10, description="mcmc: draws per chain")
    mcmc_tune: int = Field(1000, ge=10, description="mcmc: tuning steps per chain")
    mcmc_chains: int = Field(2, ge=1, le=8, description="mcmc: chains")
    min_repeat_customers: int = Field(
        10,
        ge=2,
        description="fit only when at least this many customers bought on two days or more; "
        "below it the three columns stay null and clv_model says why",
    )
    holdout_days: int = Field(
        0,
        ge=0,
        description="also fit on the data up to as_of minus this many days and compare its "
        "predicted purchases with those made since (0: no holdout check)",
    )

    _models_installed = field_validator("enabled")(
        lambda value: _needs(value, "pymc_marketing", "pymc-marketing", "clv")
    )


class EngineSettings(_Section):
    """Where the steps that grow with the data run: this machine, or a Spark cluster."""

    kind: Literal["polars", "spark"] = Field(
        "polars",
        description="polars: everything on this machine; spark: the steps that grow with the "
        "data run on Spark (needs the spark extra: pip install 'personas[spark]' and Java 17)",
    )
    master: str = Field(
        "local[2]",
        description="spark: the master URL: local[N] (this machine, N cores), spark://host:7077 "
        "(a standalone cluster), yarn, k8s://…, or a Spark Connect sc://host:15002",
    )
    buckets: int = Field(
        64,
        ge=1,
        le=100_000,
        description="spark: the buckets the order lines are cut into and checked one at a "
        "time on the executors, and the shuffle partitions of the steps that run there (aim "
        "for 300,000-600,000 lines per bucket: a bucket is held whole by one Python worker, "
        "about 3 KB per line)",
    )
    lines_per_bucket: int = Field(
        1_000_000,
        ge=1,
        description="polars: an orders file with more lines than this is spilled to local disk "
        "in buckets and validated one bucket at a time (peak memory follows this, not the "
        "file); Parquet files say their size, a CSV's is estimated from its bytes",
    )
    spill_dir: Path | None = Field(
        None,
        description="where spilled order lines are kept during a refresh (5-6 times a "
        "Parquet file's size at the peak, removed at the end); the system's temporary folder "
        "($TMPDIR) if unset. spark: the executors write each bucket's checked lines here, so "
        "on a cluster it must be a folder they and the refresh both reach (a shared mount)",
    )
    app_name: str = Field("personas", description="spark: the application's name in the Spark UI")
    conf: dict[str, str] = Field(
        default_factory=dict,
        description='spark: any Spark setting passed as it is ("spark.executor.memory" = "8g")',
    )
    jdbc: bool = Field(
        False,
        description="spark: a database orders source (`url`) is read by Spark's executors "
        "through JDBC, not by the refresh's process; the database's JDBC driver must be on "
        'Spark\'s classpath (conf "spark.jars" = "/usr/share/java/postgresql.jar", or '
        '"spark.jars.packages")',
    )
    jdbc_url: SecretStr | None = Field(
        None,
        description="spark, jdbc: the JDBC URL to read, when the one made from the source's "
        "SQLAlchemy URL will not do (made for PostgreSQL, MySQL, MariaDB, SQL Server, Oracle "
        "and SQLite; secret: may hold a password)",
    )
    jdbc_partition_column: str | None = Field(
        None,
        description="spark, jdbc: a numeric, date or timestamp column of the orders whose "
        "range is cut into `buckets` parts read side by side; unset: one task reads the whole "
        "table or query, in the database's order. With it, rows are numbered part by part",
    )

    @field_validator("kind")
    @classmethod
    def _spark_installed(cls, value: str) -> str:
        _needs(value == "spark", "pyspark", "PySpark", "spark")
        return value


class IdentitySettings(_Section):
    """One customer across records: which customers records are the same customer."""

    enabled: bool = Field(
        False,
        description="merge the customers records that share a key below (and the force_merge "
        "groups) into one customer before anything is computed; needs [sources.customers]",
    )
    # not `keys`: Prefect reads an object with a `keys` attribute as a mapping
    match_on: tuple[Literal["tax_code", "email", "phone"], ...] = Field(
        ("tax_code", "email", "phone"),
        description="customers columns whose equal values (normalised: tax codes without "
        "spaces, dots or dashes; e-mails lower-cased and phones in E.164, then hashed) make "
        "two records one customer, in the order their rule is reported",
    )
    id_map: dict[str, str] = Field(
        default_factory=dict,
        description="another system's customer id = the customers source's id (the sales "
        "system's '17' = 'KH-0017'): applied to the customer ids of orders, contacts, "
        "feedback and leads as they are read",
    )
    force_merge: tuple[tuple[str, ...], ...] = Field(
        (), description="groups of customer ids that are one customer, whatever their keys"
    )
    never_merge: tuple[tuple[str, str], ...] = Field(
        (),
        description="pairs of customer ids never merged: when keys link them, the second "
        "of the pair stays a customer of its own",
    )
    probabilistic: bool = Field(
        False,
        description="also match records on name, address and city with a model Splink "
        "trains on them (needs the identity extra: pip install 'personas[identity]')",
    )
    match_threshold: float = Field(
        0.5,
        gt=0,
        le=1,
        description="probabilistic: a pair this likely or more is merged (0.5: more likely "
        "one customer than two)",
    )
    blocking: tuple[
        tuple[Literal["name", "address", "city", "name_end", "tax_code", "email", "phone"], ...],
        ...,
    ] = Field(
        DEFAULT_BLOCKING,  # type: ignore[arg-type]
        min_length=1,
        description="probabilistic: only pairs agreeing on every field of one rule are scored "
        "(name and address normalised; name_end: the name's last 12 letters)",
    )
    max_records_per_key: int = Field(
        20,
        ge=2,
        description="a tax code, e-mail or phone held by more records than this (a "
        "switchboard, a shop's address) links none of them, and the model does not count it",
    )
    check_keys: bool = Field(
        True,
        description="probabilistic: a shared e-mail or phone does not merge two records the "
        "model scores below review_threshold (name, address and city all differ: an "
        "office's or a family's shared phone), nor does anything else; the pair goes to "
        "identity_review. A shared tax code is never overruled",
    )
    review_threshold: float = Field(
        0.1,
        gt=0,
        le=1,
        description="probabilistic: a pair at least this likely, but below match_threshold, "
        "is listed in identity_review instead of merged",
    )

    @field_validator("blocking")
    @classmethod
    def _rules_name_fields(cls, value: tuple[tuple[str, ...], ...]) -> tuple[tuple[str, ...], ...]:
        if any(not rule for rule in value):
            raise ValueError('a blocking rule names at least one field, e.g. ["phone"]')
        return value

    @model_validator(mode="after")
    def _review_below_match(self) -> IdentitySettings:
        if self.review_threshold > self.match_threshold:
            raise ValueError("review_threshold must not be above match_threshold")
        return self

    _splink_installed = field_validator("probabilistic")(
        lambda value: _needs(value, "splink", "Splink", "identity")
    )


class SegmentCondition(_Section):
    """A condition on one attribute: a set of values, a set to avoid, or a numeric band."""

    values: tuple[str, ...] | None = Field(
        None, alias="in", description="the attribute is one of these values"
    )
    not_in: tuple[str, ...] | None = Field(None, description="the attribute is none of these")
    min: Decimal | None = Field(None, description="numeric band: at least this (inclusive)")
    max: Decimal | None = Field(None, description="numeric band: at most this (inclusive)")

    @model_validator(mode="after")
    def _something(self) -> SegmentCondition:
        if self.values is None and self.not_in is None and self.min is None and self.max is None:
            raise ValueError("a condition needs `in`, `not_in`, `min` or `max`")
        return self


class SegmentRuleSettings(_Section):
    """A named segment and the conditions (all must hold) that put a customer in it."""

    name: str = Field(min_length=1, description="segment name")
    when: dict[str, SegmentCondition | tuple[str, ...]] = Field(
        default_factory=dict,
        description="attribute = condition; a list means `in`; empty matches everyone",
    )


class SegmentBaseSettings(_Section):
    """The ordered rules of one segmentation base; the first rule that matches wins."""

    rules: tuple[SegmentRuleSettings, ...] = Field(default=(), description="ordered rules")
    default: str = Field("Unclassified", description="segment of customers no rule matches")


def _base(default: str, *rules: tuple[str, dict]) -> SegmentBaseSettings:
    return SegmentBaseSettings.model_validate(
        {"default": default, "rules": [{"name": name, "when": when} for name, when in rules]}
    )


class SegmentsSettings(_Section):
    """Segments on the four bases the method combines (never demographics alone)."""

    demographic: SegmentBaseSettings = Field(
        default_factory=lambda: _base(
            "Unknown",
            ("Consumers", {"customer_type": ["B2C"]}),
            ("Enterprise (1000+ staff)", {"employee_count": {"min": 1000}}),
            ("Mid-market (200-999 staff)", {"employee_count": {"min": 200, "max": 999}}),
            ("SME (10-199 staff)", {"employee_count": {"min": 10, "max": 199}}),
            ("Micro (<10 staff)", {"employee_count": {"max": 9}}),
        ),
        description="age, gender, income, education, occupation; company size and industry",
    )
    geographic: SegmentBaseSettings = Field(
        default_factory=lambda: _base("Unknown"),
        description="country, region, city; with no rules, the segments come from the data: "
        "the largest countries (else regions, else cities) by customers, the rest grouped",
    )
    psychographic: SegmentBaseSettings = Field(
        default_factory=lambda: _base(
            "Unknown",
            ("Early adopters", {"attitude_to_technology": ["early adopter"]}),
            ("Mainstream", {"attitude_to_technology": ["mainstream"]}),
            ("Sceptics", {"attitude_to_technology": ["sceptic", "skeptic"]}),
        ),
        description="values, culture, attitude to technology, personality, interests",
    )
    behavioural: SegmentBaseSettings = Field(
        default_factory=lambda: _base(
            "Other",
            ("Loyal heavy buyers", {"order_count": {"min": 5}, "recency_days": {"max": 180}}),
            ("Repeat buyers", {"order_count": {"min": 2}, "recency_days": {"max": 365}}),
            ("Lapsed", {"recency_days": {"min": 366}}),
            ("One-time recent", {"order_count": {"max": 1}}),
        ),
        description="loyalty, usage level, purchase recency/frequency/value",
    )


class PersonaSettings(_Section):
    """Best customers, the profiles derived from them, and lead scoring."""

    goal: Literal["growth", "profit", "loyalty"] = Field(
        "profit", description="which customers are best: fastest adopters, most profitable, longest"
    )
    best_share: Share = Field(
        Decimal("0.20"), description="share of the key tier's customers that are best"
    )
    active_days: int = Field(
        365, ge=1, description="loyalty goal: active means an order within this many days"
    )
    min_best_customers: int = Field(
        30,
        ge=1,
        description="a best set smaller than this is too few to profile: flagged, or widened",
    )
    small_best_set: Literal["flag", "widen"] = Field(
        "flag",
        description="flag: publish the persona marked 'too few best customers to profile'; "
        "widen: take more of the key tier's buying customers, in rank order, up to "
        "min_best_customers (still flagged when the tier has fewer)",
    )
    false_discovery_rate: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="Benjamini-Hochberg q over every attribute value tested: a distinguishing "
        "value must pass it, on top of min_support and min_lift",
    )
    min_support: float = Field(
        0.3, gt=0, le=1, description="a distinguishing value is shared by at least this share"
    )
    min_lift: float = Field(1.2, gt=1, description="… and is at least this much more common")
    min_people: int = Field(
        5, ge=1, description="privacy guard: values fewer people share are never published"
    )
    company_attributes: tuple[str, ...] = Field(
        (
            "industry",
            "customer_type",
            "employee_band",
            "country",
            "region",
            "city",
            "annual_revenue_band",
            "market_position",
            "growth_stage",
        ),
        description="customer attributes of the ideal company profile (plus extra columns)",
    )
    buyer_attributes: tuple[str, ...] = Field(
        (
            "title_role",
            "title_level",
            "title",
            "age_band",
            "gender",
            "education",
            "major",
            "interests",
            "personality",
            "preferred_channel",
        ),
        description="decision-maker attributes of the buyer persona",
    )
    title_ladder: Literal["default", "method"] = Field(
        "default",
        description="title -> level below the CEO: default (CEO N, director/head N-1, manager "
        "N-2, lead N-3, staff N-4) or method (CEO N, manager N-1, lead N-2, member N-3)",
    )
    title_levels: dict[str, tuple[str, ...]] | None = Field(
        None,
        description="a ladder of your own: level = [title words], first level first "
        "(replaces title_ladder)",
    )
    employee_bands: tuple[int, ...] = Field(
        (1, 10, 50, 200, 1000), description="lower edges of employee_band"
    )
    annual_revenue_bands: tuple[Decimal, ...] = Field(
        (Decimal(0), Decimal(10**9), Decimal(10**10), Decimal(10**11), Decimal(10**12)),
        description="lower edges of annual_revenue_band",
    )
    age_bands: tuple[int, ...] = Field(
        (18, 25, 35, 45, 55, 65), description="lower edges of age_band"
    )
    compare_by: Literal["none", "tier", "goal"] = Field(
        "none",
        description="also build one persona per tier (best customers of each tier) or per goal "
        "(key tier, each goal) to compare them with the main persona P1",
    )
    lead_fit_threshold: float = Field(
        0.5, ge=0, le=1, description="a lead is a target customer from this fit score"
    )
    best_by: Literal["goal", "predicted_clv", "p_alive"] = Field(
        "goal",
        description="rank the best customers of the profit or loyalty goal by the goal's own "
        "measure, or by the predicted value or P(alive) of [clv] (needs it enabled)",
    )


class ScheduleSettings(_Section):
    """How often personas must be refreshed."""

    cadence_months: int = Field(
        6, ge=6, le=12, description="months between scheduled refreshes (marketing practice: 6-12)"
    )
    retries: int = Field(
        3, ge=0, le=10, description="retries of extract and publish after a transient failure"
    )
    retry_delay_seconds: float = Field(
        10, ge=0, description="first retry delay; each further retry waits twice as long"
    )


class QualitySettings(_Section):
    """Where each refresh's reports go and how published tables are checked."""

    reports_dir: Path = Field(
        Path("reports"),
        description="folder of the per-refresh reports (quarantine CSV, Data Docs); "
        "relative to the config file",
    )
    max_customer_change: Decimal = Field(
        Decimal("0.5"),
        ge=0,
        description="the published customer count may differ from the previous refresh's "
        "by at most this share (0.5 = ±50%); past it the refresh fails",
    )
    data_docs: bool = Field(
        False,
        description="run the checks of the published tables through Great Expectations and "
        "write its Data Docs per refresh (seconds more: GX is imported); the refresh report "
        "lists every check either way",
    )
    expectations: bool = Field(
        True,
        description="check the published tables across tables (counts that agree, share "
        "sums, the customer-count gate) before publishing; false keeps only the per-table "
        "output contracts",
    )


class StatusSettings(_Section):
    """What an order line's status means; statuses outside these lists reject the line."""

    sale: tuple[str, ...] = Field(
        DEFAULT_STATUSES["sale"], description="statuses of a sale (a blank status is one too)"
    )
    cancelled: tuple[str, ...] = Field(
        DEFAULT_STATUSES["cancelled"],
        description="statuses of lines that count for nothing (cancelled, void, failed …)",
    )
    refunded: tuple[str, ...] = Field(
        DEFAULT_STATUSES["refunded"],
        description="statuses of refunds: amount, quantity and cost count negative",
    )

    @model_validator(mode="after")
    def _each_status_once(self) -> StatusSettings:
        seen: dict[str, str] = {}
        for category in ("sale", "cancelled", "refunded"):
            for word in getattr(self, category):
                key = status_key(word)
                if seen.setdefault(key, category) != category:
                    raise ValueError(f"status {word!r} is in both {seen[key]} and {category}")
        return self

    def as_mapping(self) -> dict[str, tuple[str, ...]]:
        """The lists by category, as `transforms.statuses.status_category` takes them."""
        return {"sale": self.sale, "cancelled": self.cancelled, "refunded": self.refunded}


class PrivacySettings(_Section):
    """How contact data (e-mails, phone numbers) is kept out of outputs and reports."""

    hash_key: SecretStr | None = Field(
        None,
        description="secret key of the PII hashes (set it from the environment: "
        "PERSONAS_PRIVACY__HASH_KEY); when absent, key_file is used",
    )
    key_file: Path = Field(
        Path(".personas_pii_key"),
        description="file holding the hash key, created (mode 600) on first use; relative "
        "to the config file. Keep it: a new key gives every hashed value a new hash",
    )
    pii_columns: tuple[str, ...] = Field(
        (),
        description="source columns to hash whole, besides those named like e-mail / phone",
    )
    hash_contact_ids: bool = Field(
        True,
        description="hash key values (customer_id, contact_id …) that are e-mail addresses "
        "or phone numbers (a leading +, bracket, or 0 and a non-zero digit; 9+ digits), "
        "the same way in every source; false publishes them as they are",
    )
    phone_country_code: str = Field(
        "84",
        pattern=r"^[1-9][0-9]{0,2}$",
        description="country calling code of phone numbers written without one (84: Việt "
        "Nam): 0912 345 678 is hashed as +84912345678",
    )


class DriftSettings(_Section):
    """When the monthly drift check refreshes early."""

    psi_threshold: Decimal = Field(
        Decimal("0.2"),
        gt=0,
        description="refresh early when any measure's population stability index exceeds "
        "this (0.1 some change, 0.2 a real shift)",
    )
    check_every_months: int = Field(1, ge=1, le=6, description="how often the check runs")


class NotifySettings(_Section):
    """Where failures and staleness are announced."""

    webhook_url: SecretStr | None = Field(
        None,
        description="HTTP(S) URL that receives a JSON POST per event (secret: set it from "
        "the environment, PERSONAS_NOTIFY__WEBHOOK_URL)",
    )
    events: tuple[Literal["refresh_failed", "refresh_warning", "personas_stale"], ...] = Field(
        ("refresh_failed", "refresh_warning", "personas_stale"),
        description="which events to post (refresh_warning: published, but a step after "
        "publishing, such as the report, failed)",
    )
    timeout_seconds: float = Field(10, gt=0, description="how long to wait for the webhook")

    @field_validator("webhook_url")
    @classmethod
    def _a_web_address(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        from urllib.parse import urlsplit

        # Checked here: a webhook that cannot even be parsed would only show up when a
        # failure is being reported, and hide it. The URL itself is never echoed.
        try:
            parts = urlsplit(value.get_secret_value())
            parts.port  # noqa: B018 - raises on a port that is not a number in range
        except ValueError:
            raise ValueError("not a valid URL (check the host and port)") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value


class Settings(_Section):
    """Everything one refresh needs."""

    warehouse: WarehouseSettings = Field(default_factory=WarehouseSettings)
    sources: dict[str, SourceSettings] = Field(description="input sources; `orders` is required")
    tiers: TierSettings = Field(default_factory=TierSettings)
    pareto: ParetoSettings = Field(default_factory=ParetoSettings)
    money: MoneySettings = Field(default_factory=MoneySettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    rfm: RfmSettings = Field(default_factory=RfmSettings)
    segments: SegmentsSettings = Field(default_factory=SegmentsSettings)
    personas: PersonaSettings = Field(default_factory=PersonaSettings)
    statuses: StatusSettings = Field(default_factory=StatusSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    clv: ClvSettings = Field(default_factory=ClvSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, value: dict[str, SourceSettings]) -> dict[str, SourceSettings]:
        unknown = sorted(set(value) - set(SOURCE_NAMES))
        if unknown:
            raise ValueError(
                f"unknown source {unknown[0]!r}; known sources: {', '.join(SOURCE_NAMES)}"
            )
        if "orders" not in value:
            raise ValueError("the `orders` source is required ([sources.orders])")
        return value

    @model_validator(mode="after")
    def _line_settings_on_orders(self) -> Settings:
        for name, source in self.sources.items():
            if name == "orders":
                continue
            if source.line_key is not None or source.reject_identical_lines:
                raise ValueError(
                    f"sources.{name}: line_key and reject_identical_lines apply to "
                    "sources.orders only (other sources have a unique key)"
                )
        return self

    @model_validator(mode="after")
    def _uri_on_spark_orders(self) -> Settings:
        for name, source in self.sources.items():
            if source.uri is None:
                continue
            if name != "orders":
                raise ValueError(
                    f"sources.{name}.uri: only the orders are read by Spark; give this "
                    "source's file as `path` (it holds a row per customer or fewer)"
                )
            if self.engine.kind != "spark":
                raise ValueError(
                    "sources.orders.uri is read by Spark's executors: set [engine] kind = "
                    '"spark", or copy the files to this machine and give them as `path`'
                )
        return self

    @model_validator(mode="after")
    def _jdbc_on_spark(self) -> Settings:
        engine = self.engine
        partial = engine.jdbc_url is not None or engine.jdbc_partition_column is not None
        if partial and not engine.jdbc:
            raise ValueError("engine.jdbc_url and jdbc_partition_column need engine.jdbc")
        if engine.jdbc and engine.kind != "spark":
            raise ValueError('engine.jdbc reads through Spark: set [engine] kind = "spark"')
        if engine.jdbc and self.sources["orders"].url is None:
            raise ValueError("engine.jdbc reads a database: sources.orders needs `url`")
        return self

    @model_validator(mode="after")
    def _identity_has_its_records(self) -> Settings:
        if self.identity.enabled and "customers" not in self.sources:
            raise ValueError("identity.enabled needs the customers source ([sources.customers])")
        return self

    @model_validator(mode="after")
    def _best_by_has_its_model(self) -> Settings:
        best_by, goal = self.personas.best_by, self.personas.goal
        if best_by == "goal":
            return self
        if goal == "growth":
            raise ValueError(
                f"personas.best_by = {best_by!r} applies to the profit and loyalty goals; "
                "the growth goal ranks by days from lead to first order"
            )
        if not self.clv.enabled:
            raise ValueError(f"personas.best_by = {best_by!r} needs [clv] enabled = true")
        return self

    @model_validator(mode="after")
    def _rule_has_its_source(self) -> Settings:
        if self.tiers.rule == "package" and "products" not in self.sources:
            raise ValueError("tiers.rule = 'package' needs a [sources.products] with packages")
        return self
