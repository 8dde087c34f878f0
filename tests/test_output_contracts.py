"""The pandera contracts of the published tables (`schemas.outputs`).

The real pipeline's tables must keep them (its stages run as plain functions on small
inputs, including the unusual ones: net refunds, a quarantine, no optional sources,
revenue that nets to zero), and each kind of broken table gives its exact line.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import get_args

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.loader import load_config
from config.settings import PersonaSettings, Settings
from pipeline.profile import profile, transitions
from pipeline.stages import (
    NonPositiveRevenueError,
    extract,
    resolve_customers,
    transform,
    validate,
)
from sampledata import SAMPLE_END_DATE, generate_sample
from schemas.inputs import SOURCE_COLUMNS
from schemas.outputs import _SPECS, _failures, check_outputs, keeps_contract, output_schema
from schemas.reasons import joined_reason
from schemas.vocabulary import GOALS, SOURCES
from warehouse.tables import DATA_TABLES, PERSONA_CARDS, TIER_SUMMARY

SCALE = 4


def refresh_tables(settings: Settings, config_hash: str, as_of: date) -> dict[str, pl.DataFrame]:
    """The tables the `refresh` flow publishes, from its own stages (no Prefect run)."""
    inputs = resolve_customers(validate(extract(settings), settings), settings)
    computed = transform(inputs, settings, as_of, config_hash)
    profiles = profile(computed, inputs, settings, as_of)
    # compared with itself, so the movement table has rows to check
    moves = transitions(computed, computed.tables["customer_segments"])
    return {
        **computed.tables,
        **profiles.tables,
        "segment_transitions": moves,
        "quarantine": inputs.quarantine,
        "customer_identity": inputs.identity,
        "identity_review": inputs.review,
    }


def append_rows(path: Path, *rows: dict[str, str]) -> None:
    """Append rows to a generated CSV, by column name (the others left empty)."""
    header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
    with path.open("a", encoding="utf-8") as file:
        for row in rows:
            file.write(",".join(row.get(column, "") for column in header) + "\n")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, str]:
    """The demo's configuration over 200 sample customers, with a few unusual rows."""
    directory = tmp_path_factory.mktemp("contracts")
    data = directory / "data"
    generate_sample(data, customers=200, order_lines=1_000, seed=7)
    append_rows(
        data / "orders.csv",
        # a customer whose refund outweighs everything it bought: negative revenue, so
        # revenue shares leave 0..1 legitimately
        {
            "order_id": "X1",
            "customer_id": "REFUND1",
            "order_date": "2025-01-01",
            "quantity": "1",
            "unit_price": "9000000000",
            "amount": "9000000000",
            "currency": "VND",
            "status": "refunded",
        },
        # rejected into the quarantine
        {"order_id": "X2", "customer_id": "000018", "order_date": "2025-01-02", "amount": "abc"},
    )
    append_rows(
        data / "customers.csv",
        {"customer_id": "REFUND1", "name": "Refund Co"},
        {"customer_id": "BAD1", "name": "Bad Count", "employee_count": "many"},  # value cleared
    )
    template = resources.files("config").joinpath("demo.toml").read_text(encoding="utf-8")
    (directory / "personas.toml").write_text(template, encoding="utf-8")
    config = load_config(directory / "personas.toml")
    return config.settings, config.config_hash


ORDERS_ONLY = """customer_id,order_id,order_date,amount,status
00017,A,2024-01-01,100,completed
00017,B,2024-02-01,30,refunded
00018,C,2024-03-01,500,completed
00019,D,2024-03-02,50,completed
00019,E,2024-03-05,999,cancelled
00020,F,2024-03-05,{refund},refunded
"""


def orders_only(directory: Path, refund: str) -> tuple[Settings, str]:
    (directory / "data").mkdir(parents=True)
    (directory / "data" / "orders.csv").write_text(
        ORDERS_ONLY.format(refund=refund), encoding="utf-8"
    )
    (directory / "personas.toml").write_text(
        '[sources.orders]\npath = "data/orders.csv"\n', encoding="utf-8"
    )
    config = load_config(directory / "personas.toml")
    return config.settings, config.config_hash


@pytest.fixture(scope="module")
def sample_tables(sample: tuple[Settings, str]) -> dict[str, pl.DataFrame]:
    """The sample refresh's tables as they are published: each customer's reason joined
    from the parts the refresh keeps (the contract is the published table's)."""
    settings, config_hash = sample
    tables = refresh_tables(settings, config_hash, SAMPLE_END_DATE)
    return {name: joined_reason(frame) for name, frame in tables.items()}


def test_the_sample_refresh_keeps_every_contract(sample_tables: dict[str, pl.DataFrame]) -> None:
    tables = sample_tables
    # the unusual rows did what they are there for
    assert tables["quarantine"]["action"].to_list() == ["row rejected", "value cleared"]
    assert tables["customer_segments"]["revenue"].min() < 0
    assert tables["customer_segments"]["cumulative_share"].max() > 1
    assert set(tables) == {spec.name for spec in DATA_TABLES}
    assert check_outputs(tables, scale=SCALE) == []


def test_the_pymc_preset_compared_personas_and_scale_2_keep_every_contract(
    sample: tuple[Settings, str],
) -> None:
    settings, config_hash = sample
    settings = settings.model_copy(
        update={
            "rfm": settings.rfm.model_copy(update={"preset": "pymc"}),
            "personas": settings.personas.model_copy(update={"compare_by": "tier"}),
            "money": settings.money.model_copy(update={"scale": 2}),
        }
    )
    tables = refresh_tables(settings, config_hash, SAMPLE_END_DATE)
    assert tables["persona_cards"].height == 4
    assert tables["customer_segments"]["revenue"].dtype == pl.Decimal(38, 2)
    assert check_outputs(tables, scale=2) == []
    assert check_outputs(tables, scale=4) != []  # money at another scale is a failure


@pytest.mark.parametrize(
    ("refund", "total"),
    [("900", "-280"), ("620", "0")],
    ids=["net-negative", "nets-to-zero"],
)
def test_a_refresh_whose_refunds_exceed_its_sales_publishes_nothing(
    tmp_path: Path, refund: str, total: str
) -> None:
    settings, config_hash = orders_only(tmp_path, refund)
    with pytest.raises(NonPositiveRevenueError, match=f"total revenue as of 2024-06-01 is {total}"):
        refresh_tables(settings, config_hash, date(2024, 6, 1))


def test_a_customer_whose_refunds_exceed_its_purchases_keeps_every_contract(
    tmp_path: Path,
) -> None:
    settings, config_hash = orders_only(tmp_path, "200")  # 00020 nets −200; the total is 420
    tables = refresh_tables(settings, config_hash, date(2024, 6, 1))
    assert tables["pareto_summary"]["revenue"].item() == Decimal(420)
    gini = tables["pareto_summary"]["gini"].item()
    assert 0 <= gini <= 1  # negative revenue counts as none of it
    assert check_outputs(tables, scale=settings.money.scale) == []


def test_empty_tables_of_the_published_dtypes_keep_every_contract() -> None:
    empty = {
        spec.name: pl.DataFrame(
            schema={
                name: column.dtype.type
                for name, column in output_schema(spec, scale=SCALE).columns.items()
            }
        )
        for spec in DATA_TABLES
    }
    assert check_outputs(empty, scale=SCALE) == []


def test_the_contract_is_the_declared_one_column_for_column() -> None:
    for spec in DATA_TABLES:
        schema = output_schema(spec, scale=SCALE)
        assert schema.strict is True
        assert list(schema.columns) == spec.column_names
        for column in spec.columns:
            contract = schema.columns[column.name]
            assert contract.description == column.description
            assert (contract.nullable, contract.unique) == (
                column.rule.nullable,
                column.rule.unique,
            ), f"{spec.name}.{column.name}"
            assert len(contract.checks) == len(column.rule.checks)
        assert set(spec.key) <= set(spec.column_names), spec.name
        assert schema.unique == (list(spec.key) or None)


def test_the_vocabulary_is_the_configurations() -> None:
    # The goals a persona may be chosen by are the config's; the sources are the inputs'.
    goal = PersonaSettings.model_fields["goal"].annotation
    assert set(get_args(goal)) == set(GOALS)
    assert set(SOURCE_COLUMNS) == set(SOURCES)


def test_a_table_without_a_contract_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="no output contract for \\['refresh_runs'\\]"):
        check_outputs({"refresh_runs": pl.DataFrame()}, scale=SCALE)


# --- one failure of each kind, with its exact line ---------------------------------------------


def tier_summary(**columns: list) -> pl.DataFrame:
    """A valid tier_summary, with the given columns replaced."""
    money = pl.Decimal(38, SCALE)
    frame = pl.DataFrame(
        {
            "tier": ["Large", "Medium", "Small"],
            "lower_bound": [Decimal("20"), Decimal("10"), None],
            "upper_bound": [None, Decimal("20"), Decimal("10")],
            "bounds_basis": ["order value (configured)"] * 3,
            "purchases": [4, 5, 6],
            "sales_revenue": [Decimal("500"), Decimal("300"), Decimal("200")],
            "sales_share": [0.5, 0.3, 0.2],
            "buying_customers": [2, 3, 3],
            "customers": [1, 2, 3],
            "deal_days": [10.0, 20.0, None],
            "deal_days_basis": ["first to second order"] * 3,
            "paid_on_time_share": [None, 0.5, 1.0],
            "repeat_rate": [1.0, 0.5, 0.0],
            "is_key_tier": [True, False, False],
            "is_majority": [False, False, False],
            "decided_by": ["largest sales"] * 3,
            "key_reason": ["Large brings the most sales"] * 3,
        },
        schema_overrides={"sales_revenue": money, "lower_bound": money, "upper_bound": money},
    )
    return frame.with_columns(
        pl.Series(name, values, dtype=frame.schema[name]) for name, values in columns.items()
    )


@pytest.fixture
def customers(sample_tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Three rows of a real customer_segments: the top two and the refunding customer.

    The last one's negative revenue is what lets the others' cumulative shares exceed 1;
    without it, three rows of a real table would not be valid on their own.
    """
    table = sample_tables["customer_segments"]
    rows = table.filter(pl.col("pareto_rank").is_in([1, 2, table.height]))
    assert check_outputs({"customer_segments": rows}, scale=SCALE) == []
    return rows


def test_a_valid_hand_made_table_passes() -> None:
    assert check_outputs({"tier_summary": tier_summary()}, scale=SCALE) == []


def test_a_wrong_dtype() -> None:
    frame = tier_summary().with_columns(pl.col("sales_revenue").cast(pl.Float64))
    assert check_outputs({"tier_summary": frame}, scale=SCALE) == [
        "tier_summary.sales_revenue: dtype Float64, expected Decimal(precision=38, scale=4)"
    ]


def test_a_null_key(customers: pl.DataFrame) -> None:
    frame = customers.with_columns(customer_id=pl.Series(["C1", None, "C3"]))
    assert check_outputs({"customer_segments": frame}, scale=SCALE) == [
        "customer_segments.customer_id: null in a not-null column (row 2)"
    ]


def test_a_duplicate_key(customers: pl.DataFrame) -> None:
    frame = customers.with_columns(customer_id=pl.Series(["C1", "C2", "C1"]))
    assert check_outputs({"customer_segments": frame}, scale=SCALE) == [
        "customer_segments.customer_id: duplicate 'C1' (rows 1, 3)"
    ]


def test_a_label_outside_its_set() -> None:
    frame = tier_summary(tier=["Large", "Medium", "Huge"])
    assert check_outputs({"tier_summary": frame}, scale=SCALE) == [
        "tier_summary.tier: isin(['Large', 'Medium', 'Small']) failed for 'Huge' (row 3)"
    ]


def test_a_share_above_1() -> None:
    scores = pl.DataFrame(
        {
            "lead_id": ["L1", "L2", "L3"],
            "fit_score": [0.2, 1.5, 1.0000000000000002],  # the last is 1, rounded
            "is_target": [False, True, True],
            "matched_persona_id": [None, "P1", "P1"],
            "matched_attributes": ["", "city=Huế", "city=Huế"],
        }
    )
    assert check_outputs({"lead_scores": scores}, scale=SCALE) == [
        "lead_scores.fit_score: in_range(0, 1) ± 1e-09 failed for 1.5 (row 2)"
    ]


def test_a_revenue_share_above_1_only_fails_while_no_revenue_is_negative() -> None:
    shares = [1.5, 0.3, -0.8]
    assert check_outputs({"tier_summary": tier_summary(sales_share=shares)}, scale=SCALE) == [
        "tier_summary.sales_share: in_range(0, 1) ± 1e-09 while none of the table's revenue "
        "is negative failed for 1.5 (row 1)",
        "tier_summary.sales_share: in_range(0, 1) ± 1e-09 while none of the table's revenue "
        "is negative failed for -0.8 (row 3)",
    ]
    refunded = tier_summary(
        sales_revenue=[Decimal("750"), Decimal("150"), Decimal("-400")], sales_share=shares
    )
    assert check_outputs({"tier_summary": refunded}, scale=SCALE) == []


def test_a_score_outside_1_to_5(customers: pl.DataFrame) -> None:
    frame = customers.with_columns(r_score=pl.Series([6, 1, 2]))
    assert check_outputs({"customer_segments": frame}, scale=SCALE) == [
        "customer_segments.r_score: in_range(1, 5) failed for 6 (row 1)"
    ]


def test_a_duplicate_compound_key() -> None:
    segments = pl.DataFrame(
        {
            "base": ["demographic", "demographic", "demographic"],
            "segment": ["SME", "Enterprise", "SME"],
            "customers": [2, 1, 1],
            "revenue": [Decimal("60"), Decimal("30"), Decimal("10")],
            "revenue_share": [0.6, 0.3, 0.1],
        },
        schema_overrides={"revenue": pl.Decimal(38, SCALE)},
    )
    assert check_outputs({"segment_summary": segments}, scale=SCALE) == [
        "segment_summary (base, segment): duplicate ('demographic', 'SME') (rows 1, 3)"
    ]


def test_a_missing_column_of_a_compound_key_is_its_line_not_a_crash() -> None:
    segments = pl.DataFrame(
        {
            "base": ["demographic", "demographic"],
            "customers": [2, 1],
            "revenue": [Decimal("60"), Decimal("40")],
            "revenue_share": [0.6, 0.4],
        },
        schema_overrides={"revenue": pl.Decimal(38, SCALE)},
    )
    assert check_outputs({"segment_summary": segments}, scale=SCALE) == [
        "segment_summary: missing column 'segment'"
    ]


def test_an_extra_column() -> None:
    frame = tier_summary().with_columns(note=pl.lit("hand-made"))
    assert check_outputs({"tier_summary": frame}, scale=SCALE) == [
        "tier_summary: unexpected column 'note' (not in the contract)"
    ]


def test_a_missing_column() -> None:
    frame = tier_summary().drop("is_majority")
    assert check_outputs({"tier_summary": frame}, scale=SCALE) == [
        "tier_summary: missing column 'is_majority'"
    ]


def test_a_quarantine_action_outside_its_set() -> None:
    quarantine = pl.DataFrame(
        {
            "source": ["orders", "customers"],
            "row_number": [4, 7],
            "key": ["C1 / O1", "C9"],
            "column": ["amount", "age"],
            "problem": ["not a decimal amount", "age outside 0-120"],
            "value": ["abc", "130"],
            "action": ["row dropped", "value cleared"],
            "sheet": [None, "Khách hàng"],
        }
    )
    assert check_outputs({"quarantine": quarantine}, scale=SCALE) == [
        "quarantine.action: isin(['row rejected', 'value cleared']) failed for 'row dropped' "
        "(row 1)"
    ]


def test_many_rows_with_one_bad_value_share_a_line() -> None:
    quarantine = pl.DataFrame(
        {
            "source": ["spreadsheet"] * 8,
            "row_number": list(range(1, 9)),
            "key": [None] * 8,
            "column": [None] * 8,
            "problem": ["missing key"] * 8,
            "value": [None] * 8,
            "action": ["row rejected"] * 8,
            "sheet": [None] * 8,
        },
        schema_overrides={
            "key": pl.String,
            "column": pl.String,
            "value": pl.String,
            "sheet": pl.String,
        },
    )
    assert check_outputs({"quarantine": quarantine}, scale=SCALE) == [
        "quarantine.source: isin(['orders', 'customers', 'contacts', 'products', 'leads', "
        "'feedback']) failed for 'spreadsheet' (rows 1, 2, 3, 4, 5 and 3 more)"
    ]


def test_an_all_null_column_must_still_have_its_dtype() -> None:
    card_schema = output_schema(PERSONA_CARDS, scale=SCALE)
    assert str(card_schema.columns["quote"].dtype) == "String"
    frame = tier_summary().with_columns(sales_share=pl.lit(None))
    assert check_outputs({"tier_summary": frame}, scale=SCALE) == [
        "tier_summary.sales_share: dtype Null, expected Float64"
    ]
    assert output_schema(TIER_SUMMARY, scale=SCALE).columns["sales_share"].nullable


# --- the one-pass screen ---------------------------------------------------------------------


def test_the_screen_passes_every_table_of_a_real_refresh_without_pandera(
    sample_tables: dict[str, pl.DataFrame],
) -> None:
    """A refresh that keeps its contracts is told so by the one-pass screen alone: pandera
    runs only where it fails."""
    for name, frame in sample_tables.items():
        assert keeps_contract(frame, output_schema(_SPECS[name], scale=SCALE)), name


MUTATIONS = ("null", "copy", "low", "high", "nan", "label", "drop", "extra", "dtype")


def mutated(frame: pl.DataFrame, column: str, mutation: str, row: int, other: int) -> pl.DataFrame:
    """`frame` with one thing changed: row `row` of `column` (null, another row's value, a
    value far below or above anything valid, NaN, an unknown label), or the column
    dropped, a column added, or `column` in another dtype."""
    dtype = frame.schema[column]
    at_row = pl.int_range(pl.len()) == row
    if mutation == "drop":
        return frame.drop(column)
    if mutation == "extra":
        return frame.with_columns(extra=pl.lit(1))
    if mutation == "dtype":
        return frame.with_columns(
            pl.col(column).cast(pl.Categorical if dtype == pl.String else pl.String)
        )
    if mutation == "copy":
        value = pl.lit(frame[column][other], dtype)
    elif mutation == "null":
        value = pl.lit(None, dtype)
    elif mutation == "nan" and dtype.is_float():
        value = pl.lit(float("nan"), dtype)
    elif mutation == "label" and dtype == pl.String:
        value = pl.lit("??", dtype)
    elif mutation in ("low", "high") and dtype.is_numeric():
        far = -(10**9) if mutation == "low" else 10**9
        value = pl.lit(Decimal(far) if dtype.is_decimal() else far).cast(dtype)
    else:
        return frame
    return frame.with_columns(pl.when(at_row).then(value).otherwise(pl.col(column)).alias(column))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_the_screen_passes_a_table_only_where_pandera_passes_it(
    sample_tables: dict[str, pl.DataFrame], data: st.DataObject
) -> None:
    """Whatever one thing is wrong with a real table, the screen's verdict is pandera's:
    never a pass where pandera fails (a broken table would be published), and a failure
    only where pandera fails too (else pandera would run on every good refresh)."""
    names = sorted(name for name, frame in sample_tables.items() if frame.height > 1)
    name = data.draw(st.sampled_from(names))
    frame = sample_tables[name]
    column = data.draw(st.sampled_from(frame.columns))
    mutation = data.draw(st.sampled_from(MUTATIONS))
    row, other = data.draw(st.integers(0, frame.height - 1)), data.draw(st.integers(0, 1))
    broken = mutated(frame, column, mutation, row, other)
    schema = output_schema(_SPECS[name], scale=SCALE)
    # pandera's own verdict: the lines of every failure it finds, every check run
    assert keeps_contract(broken, schema) == (_failures(name, broken, schema) == []), (
        name,
        column,
        mutation,
    )
