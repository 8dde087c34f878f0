"""Probabilistic record linkage of customers records with Splink, on DuckDB or Spark.

Produces `scored_pairs(records, ...)` (grain: one pair of customers records that
blocking put side by side and the model scored at least `min_probability`): the
two ids and the probability that they are one customer, from a Fellegi-Sunter
model that Splink trains on the records themselves (u by random sampling, m by
expectation maximisation, seeded, so reruns agree). It compares

- the name, normalised (lower case, accents and legal forms such as "Công ty
  TNHH", "Cty", "JSC" removed, also when typed with a letter missing: "Côngty",
  "TNH"): Jaro-Winkler at 0.97, 0.92 and 0.85;
- the address, normalised the same way: Jaro-Winkler at 0.95 and 0.85;
- the city, the tax code, the e-mail and the phone (hashed): equal or not;

u (how often unrelated records agree) comes from random pairs; m (how often one
customer's records agree) from the records the exact keys already joined
(`same_customer`), or by expectation maximisation when none were;

and scores only the pairs that agree on one of the blocking rules (by default:
the normalised name, the normalised address, the tax code, the e-mail, the
phone, or the city and the name's last twelve letters), so a million records
are never compared pairwise.

Imported only when `[identity] probabilistic = true`: Splink takes a second to
import.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from splink import Linker
    from splink.internals.database_api import DatabaseAPI

# Words of a company's legal form: they say nothing about which company it is.
LEGAL_FORMS = (
    "cong ty",
    "cty",
    "tnhh",
    "trach nhiem huu han",
    "mtv",
    "mot thanh vien",
    "ho kinh doanh",
    "hkd",
    "co phan",
    "cp",
    "tap doan",
    "doanh nghiep tu nhan",
    "dntn",
    "jsc",
    "co ltd",
    "ltd",
    "limited",
    "joint stock",
    "inc",
    "company",
    "corp",
    "llc",
)


def _one_slip(form: str) -> set[str]:
    """`form` with one letter or space after its first left out: a legal form typed in a
    hurry ("congty", "cong y", "tnh") is still a legal form. The first letter stays ("ong
    ty" is a name: Mr Tý), and forms of fewer than four letters are only as written: one
    letter less would be a word of the name."""
    if len(form.replace(" ", "")) < 4:
        return {form}
    slips = {form[:i] + form[i + 1 :] for i in range(1, len(form))}
    return {form} | {slip for slip in slips if len(slip.replace(" ", "")) >= 3}


def _slip_pattern(forms: Sequence[str]) -> str:
    """A regex matching any of `forms` as whole words, each also with one slip
    (`_one_slip`), the longest first."""
    variants = sorted({variant for form in forms for variant in _one_slip(form)})
    ordered = sorted(variants, key=lambda variant: -len(variant))
    return r"\b(?:" + "|".join(re.escape(variant) for variant in ordered) + r")\b"


LEGAL_FORM = _slip_pattern(LEGAL_FORMS)
KEY_COLUMNS = ("tax_code", "email", "phone")
PAIR_SCHEMA = {"left_id": pl.String, "right_id": pl.String, "probability": pl.Float64}


def _folded(text: pl.Expr) -> pl.Expr:
    """Lower case, no accents (đ → d), no punctuation, single spaces."""
    return (
        text.str.to_lowercase()
        .str.replace_all("đ", "d", literal=True)
        .str.normalize("NFD")
        .str.replace_all(r"\p{M}", "")
        .str.replace_all(r"[^a-z0-9 ]", " ")
    )


def _tidy(text: pl.Expr) -> pl.Expr:
    """Single spaces, trimmed; null when nothing is left."""
    tidy = text.str.replace_all(r"\s+", " ").str.strip_chars()
    return pl.when(tidy != "").then(tidy)


# A title before a person's full name ("Anh Nguyễn Văn Nam", "Chị Lan Anh"), read on the
# lower-case text with its accents ("Ánh Dương Phát" is a name); "Anh Tuấn" keeps its
# "Anh": a lone word after it may be the name itself. Not "chú": Chu is a family name.
TITLE = r"^(?:ông|bà|anh|chị|cô|em|ong|ba|chi|co|mr|mrs|ms|miss|dr)\.?\s+\S+\s+\S+"


# Trade words of a company's name, and the letters they are shortened to ("Công ty TNHH
# TM-DV Ánh Dương" is "Thương mại Dịch vụ Ánh Dương"): compared in the short form.
TRADE_WORDS = (
    ("xuat nhap khau", "xnk"),
    ("thuong mai", "tm"),
    ("dich vu", "dv"),
    ("xay dung", "xd"),
    ("san xuat", "sx"),
    ("dau tu", "dt"),
    ("phat trien", "pt"),
    ("cong nghe", "cn"),
    ("van tai", "vt"),
    ("ky thuat", "kt"),
)


# Each trade also typed with a letter missing ("Con nghe"): shortened all the same, so a
# typo inside it costs one letter of the name, not the whole trade.
_TRADE_PATTERNS = [(_slip_pattern([words]), letters) for words, letters in TRADE_WORDS]


def plain_text(text: pl.Expr) -> pl.Expr:
    """A name as compared: lower case, no accents (đ → d), no legal form, no punctuation,
    single spaces; a company's trades in their short form (TRADE_WORDS), a person's
    title before a full name dropped; null when nothing is left."""
    folded = _folded(text)
    plain = folded.str.replace_all(LEGAL_FORM, " ").str.replace_all(r"\s+", " ")
    plain = plain.str.strip_chars()
    trades = plain
    for pattern, letters in _TRADE_PATTERNS:
        trades = trades.str.replace_all(pattern, letters)
    # Only a company, a name with a legal form, has trades ("Văn Tài" is a person, not
    # "vận tải"); only a person has a title, read before the accents go ("Ánh" is a name).
    company = folded.str.contains(LEGAL_FORM)
    titled = text.str.to_lowercase().str.normalize("NFC").str.strip_chars().str.contains(TITLE)
    untitled = plain.str.replace(r"^\S+ (\S+ \S+)", "$1")
    return _tidy(pl.when(company).then(trades).when(titled).then(untitled).otherwise(plain))


# The same place written the ways Vietnamese addresses are, in one form. First (on the
# lower-case text, accents kept, so "Quán" is not "Quận") the numbered wards and
# districts as p5 and q1, and the words saying what kind of place follows dropped where
# they stand for it: at the start of a part of the address or after a house number
# ("Số 12 Đường Lê Lợi, Phường 5" but not "Bình Dương" or "Lạc Long Quân"); then, folded,
# the big cities one way.
_WARD = r"(?:phường|phuong|p)"
_DISTRICT = r"(?:quận|quan|q)"
_KIND = (
    r"(?:số|so|đường|duong|đ|d|phường|phuong|p|quận|quan|q|huyện|huyen|h|tỉnh|tinh|"
    r"thành phố|thanh pho|tp|thị xã|thi xa|tx|thị trấn|thi tran|tt|xã|xa)"
)
PLACE_FORMS = (
    (rf"\b{_WARD}\.?\s*0*(\d+)\b", "p$1"),
    (rf"\b{_DISTRICT}\.?\s*0*(\d+)\b", "q$1"),
    (rf"(^|[,;/]\s*|\d[a-z]?\s+){_KIND}(?:\.\s*|\s+)", "$1"),
    (rf"(^|[,;/]\s*|\d[a-z]?\s+){_KIND}(?:\.\s*|\s+)", "$1"),  # "Số 12 Đường …": twice
)
CITY_FORMS = (
    (
        r"\b(?:tp ?hcm|thanh pho ho chi minh|ho chi minh(?: city)?|hcm(?: city)?|sai gon|saigon)\b",
        "hcm",
    ),
    (r"\b(?:ha noi|hanoi|hn)\b", "ha noi"),
    (r"\b(?:da nang|danang)\b", "da nang"),
)


def place_text(text: pl.Expr) -> pl.Expr:
    """An address or a city as compared: the numbered wards and districts written one way
    ("Phường 05", "P.5" are p5; "Quận 1", "Q1" are q1), the words for the kind of place
    ("Số", "Đường", "Tỉnh", "TP") dropped where they stand before one, folded like a name,
    and the big cities one way ("TP HCM", "Hồ Chí Minh", "Sài Gòn" are hcm); null when
    nothing is left."""
    place = text.str.to_lowercase().str.normalize("NFC").str.strip_chars()
    for pattern, replacement in PLACE_FORMS:
        place = place.str.replace_all(pattern, replacement)
    place = _folded(place).str.replace_all(r"\s+", " ")
    for pattern, replacement in CITY_FORMS:
        place = place.str.replace_all(pattern, replacement)
    return _tidy(place)


# The fields a blocking rule may name, and the compared column each stands for.
BLOCKING_FIELDS = {
    "name": "name_key",
    "address": "address_key",
    "city": "city_key",
    "name_end": "name_end",
    "tax_code": "tax_code",
    "email": "email",
    "phone": "phone",
}
DEFAULT_BLOCKING: tuple[tuple[str, ...], ...] = (
    ("name",),
    ("address",),
    ("tax_code",),
    ("email",),
    ("phone",),
    ("city", "name_end"),
)


def scored_pairs(
    records: pl.DataFrame,
    *,
    min_probability: float,
    blocking: Sequence[Sequence[str]] = DEFAULT_BLOCKING,
    seed: int = 1,
    spark: SparkSession | None = None,
    every_pair_sharing: Sequence[str] = (),
) -> pl.DataFrame:
    """Pairs of `records` (customer_id, name, address, city, tax_code, email, phone; any
    may be null or absent) scored at least `min_probability` (PAIR_SCHEMA), among the
    pairs that agree on every field of one of the `blocking` rules (BLOCKING_FIELDS).

    `same_customer`, when present, names the customer the exact keys already resolved a
    record to (null: none): the model learns what a match looks like from those
    records; without such pairs, by expectation maximisation. With a `spark` session
    Splink runs there (the Spark engine), otherwise on an in-process DuckDB.
    `every_pair_sharing` names keys (tax_code, email, phone) whose sharing pairs are all
    returned, at any probability: so a shared key the rest of the records contradicts
    can be found."""
    import splink.comparison_library as cl
    from splink import Linker, SettingsCreator, block_on
    from splink.internals.exceptions import SplinkException

    logging.getLogger("splink").setLevel(logging.ERROR)
    present = set(records.columns)
    text = {
        c: normalise(pl.col(c)) if c in present else pl.lit(None, pl.String)
        for c, normalise in (("name", plain_text), ("address", place_text), ("city", place_text))
    }
    keys = {
        c: pl.col(c).cast(pl.String) if c in present else pl.lit(None, pl.String)
        for c in ("tax_code", "email", "phone")
    }
    table = records.select(
        pl.col("customer_id").alias("unique_id"),
        text["name"].alias("name_key"),
        text["address"].alias("address_key"),
        text["city"].alias("city_key"),
        keys["tax_code"].str.to_uppercase().str.replace_all(r"[\s.\-]", "").alias("tax_code"),
        keys["email"].alias("email"),
        keys["phone"].alias("phone"),
        (pl.col("same_customer") if "same_customer" in present else pl.lit(None, pl.String))
        .cast(pl.String)
        .alias("same_customer"),
    ).with_columns(
        # the name's last 12 letters: with the city, a block a typo early in the name (or a
        # legal form written another way) does not break
        name_end=pl.col("name_key").str.replace_all(" ", "").str.slice(-12)
    )
    if table.height < 2:
        return pl.DataFrame(schema=PAIR_SCHEMA)
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.JaroWinklerAtThresholds("name_key", [0.97, 0.92, 0.85]),
            cl.JaroWinklerAtThresholds("address_key", [0.95, 0.85]),
            cl.ExactMatch("city_key"),
            cl.ExactMatch("tax_code"),
            cl.ExactMatch("email"),
            cl.ExactMatch("phone"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on(*(BLOCKING_FIELDS[field] for field in rule)) for rule in blocking
        ],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )
    database = _database(spark)
    linker = Linker(database.register(table.to_arrow()), settings, log_level=logging.ERROR)
    training = linker.training
    # Training steps that find nothing to learn from (no two records share a key, an
    # address or a name: a small or a clean file) leave Splink's starting values.
    untrainable = (ValueError, SplinkException)
    with contextlib.suppress(*untrainable):
        training.estimate_probability_two_random_records_match(
            [block_on("tax_code"), block_on("email"), block_on("phone")], recall=0.6
        )
    _usable_prior(linker, table.height)
    training.estimate_u_using_random_sampling(max_pairs=1e6, seed=seed)
    _exact_u_from_counts(linker, table)
    if table["same_customer"].drop_nulls().is_duplicated().any():
        # The records the exact keys already joined are one customer each: how their
        # names, addresses and cities compare is a first idea of what a match looks like.
        training.estimate_m_from_label_column("same_customer")
    for rule in (block_on("address_key"), block_on("name_key")):
        # Then expectation maximisation refines it on the records that share an address
        # (or a name), those the keys did not join among them. A level no pair in a block
        # reaches leaves it an m of 0, which Splink refuses: that session is skipped and
        # the comparison keeps what it had.
        with contextlib.suppress(*untrainable):
            training.estimate_parameters_using_expectation_maximisation(rule)
    pairs = _predicted(linker, min_probability, spark)
    shared = [key for key in every_pair_sharing if key in KEY_COLUMNS]
    if shared:
        # Every pair sharing a key, however unlikely: the caller checks its key links.
        model = linker.misc.save_model_to_json()
        model["blocking_rules_to_generate_predictions"] = [block_on(key) for key in shared]
        keyed = Linker(database.register(table.to_arrow()), model, log_level=logging.ERROR)
        pairs = pl.concat([pairs, _predicted(keyed, 0.0, spark)]).unique(
            ["left_id", "right_id"], keep="first", maintain_order=True
        )
    if spark is not None:
        # Splink persists its intermediate tables on the cluster and leaves them there: a
        # worker that refreshes again and again would keep every run's.
        spark.catalog.clearCache()
    return pairs


def _predicted(linker: Linker, min_probability: float, spark: SparkSession | None) -> pl.DataFrame:
    """The linker's scored pairs at or above `min_probability` (PAIR_SCHEMA)."""
    predicted = linker.inference.predict(threshold_match_probability=min_probability)
    arrow = (
        predicted.as_duckdbpyrelation().arrow()
        if spark is None
        else predicted.as_spark_dataframe().toArrow()
    )
    if hasattr(arrow, "read_all"):  # a stream of batches (none when nothing matched)
        arrow = arrow.read_all()
    pairs = pl.from_arrow(arrow)
    assert isinstance(pairs, pl.DataFrame)
    return pairs.select(
        pl.col("unique_id_l").alias("left_id"),
        pl.col("unique_id_r").alias("right_id"),
        # The engines sum in parallel, so the last bits of a probability vary from run to
        # run; nine significant digits are the same every time.
        pl.col("match_probability").round_sig_figs(9).alias("probability"),
    ).cast(PAIR_SCHEMA)  # type: ignore[arg-type]


def _database(spark: SparkSession | None) -> DatabaseAPI:
    """Splink's backend: the Spark session's cluster, or DuckDB in this process."""
    if spark is None:
        from splink.backends.duckdb import DuckDBAPI

        return DuckDBAPI()
    from splink.backends.spark import SparkAPI

    # persisted, not written to a checkpoint folder: a cluster needs none configured
    return SparkAPI(spark_session=spark, break_lineage_method="persist")


def _usable_prior(linker: Linker, records: int) -> None:
    """The chance that two random records are one customer kept strictly between 0 and
    1: with no key shared by two records it is estimated as 0, and Splink cannot score
    on a prior of 0; at least one pair in all of them is taken instead."""
    model = linker._settings_obj.core_model_settings  # type: ignore[attr-defined]
    pairs = max(records * (records - 1) / 2, 1)
    model.probability_two_random_records_match = min(
        max(model.probability_two_random_records_match, 1 / pairs), 0.5
    )


def _exact_u_from_counts(linker: object, table: pl.DataFrame) -> None:
    """u of every exact-match level counted, not sampled: the share of pairs of records
    (both with a value) that agree on it, from how often each value occurs. A million
    random pairs of a million records hold no two with the same address, and Splink
    would then take a fixed one in a million for it, whatever the data."""
    for comparison in linker._settings_obj.comparisons:  # type: ignore[attr-defined]
        column = comparison.output_column_name
        counts = table.get_column(column).drop_nulls().value_counts()["count"]
        known = int(counts.sum())
        if known < 2:
            continue
        agreeing = int((counts * (counts - 1)).sum())
        u = max(agreeing, 1) / (known * (known - 1))
        for level in comparison.comparison_levels:
            if not level.is_null_level and level._is_exact_match:
                level.u_probability = u
