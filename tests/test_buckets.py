"""Order lines spilled by bucket give the same refresh as lines read whole.

An orders file of more than `[engine] lines_per_bucket` lines is written to disk
in buckets and validated a bucket at a time (`sources.buckets`). Every published
table, the quarantine, the counts and the run notes must not depend on that:
the same dirty orders (duplicate line keys, identical lines without a key, bad
values, unknown customers, refunds, cancellations, keys with stray blanks, one
customer with a fifth of all lines), read whole or in 2, 7 or 64 buckets, in
any row order, give identical tables. The spill area is removed however the
run ends.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipeline.stages as stages
from config.loader import load_config
from pipeline.refresh import run_refresh
from pipeline.runner import Stages
from pipeline.stages import DataValidationError, EmptyRefreshError, extract, validate
from schemas.reasons import joined_reason
from sources.buckets import SPILL_PREFIX, SpilledRows, bucket_count, bucket_of, by_customer
from sources.extract import SourceError
from tests.conftest import read_view, write
from tests.test_transforms import staged_orders
from transforms.customer_metrics import line_kinds, valid_order_lines
from transforms.profiles import scored_purchases
from transforms.purchases import purchases_in_parts, purchases_of_lines

AS_OF = date(2024, 12, 31)
# The run's own identity and clock, which differ between any two runs.
PER_RUN = ("run_id", "started_at", "finished_at", "published_at", "next_due_at")

CUSTOMERS = ["C01", "C02", "C03", "C04", "C05", "C06", "C07", "C08"]


def dirty_orders(seed: int) -> list[dict[str, str | None]]:
    """Order lines with every kind of trouble a real export has, in a shuffled order."""
    chance = random.Random(seed)
    rows: list[dict[str, str | None]] = []
    for number in range(1, 121):
        customer = "C01" if number % 5 == 0 else chance.choice(CUSTOMERS)  # C01: the skew
        for line in range(1, chance.randint(1, 3) + 1):
            rows.append(
                {
                    "order_id": f"SO{number:04d}",
                    "line_number": str(line),
                    "customer_id": customer,
                    "order_date": f"2024-{chance.randint(1, 12):02d}-{chance.randint(1, 28):02d}",
                    "product_id": f"P{chance.randint(1, 4)}",
                    "quantity": str(chance.randint(1, 20)),
                    "amount": str(chance.choice([120, 950, 4_000, 15_000, 80_000])),
                    "status": chance.choice(["completed"] * 8 + ["refunded", "Cancelled "]),
                }
            )
    base = list(rows)
    for row in chance.sample(base, 6):  # the same line exported twice
        rows.append(dict(row))
    for row in chance.sample(base, 4):  # a line key reused for another line
        rows.append({**row, "amount": "77"})
    for row in chance.sample(base, 2):  # ... and for another customer's
        other = CUSTOMERS[(CUSTOMERS.index(row["customer_id"]) + 1) % len(CUSTOMERS)]
        rows.append({**row, "customer_id": other})
    for row in chance.sample(base, 5):  # a till without order ids: identical twins
        twin = {**row, "order_id": None, "line_number": None}
        rows.extend([twin, dict(twin)])
    for index, row in enumerate(chance.sample(base, 4)):  # values that do not parse
        rows.append(
            {**row, "line_number": str(90 + index), "amount": ["abc", "1,2,3", "", "x"][index]}
        )
    for index, row in enumerate(chance.sample(base, 3)):  # customers nobody knows
        rows.append({**row, "line_number": str(80 + index), "customer_id": f"ZZ{index}"})
    for index, row in enumerate(chance.sample(base, 3)):  # keys with stray blanks
        customer = f" {row['customer_id']}\u00a0"
        rows.append({**row, "line_number": str(70 + index), "customer_id": customer})
    chance.shuffle(rows)
    return rows


def make_config(
    folder: Path, seed: int, *, lines_per_bucket: int = 1_000_000_000, rule: str = "order_value"
) -> Path:
    rows = dirty_orders(seed)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    columns = dict.fromkeys(rows[0], pl.String)
    pl.DataFrame(rows, schema=columns).write_csv(folder / "data" / "orders.csv")
    write(
        folder / "data" / "customers.csv",
        "customer_id,name,city\n" + "".join(f"{c},Khách {c},Hà Nội\n" for c in CUSTOMERS),
    )
    write(
        folder / "data" / "products.csv",
        "product_id,category,package\nP1,Trà,Gold\nP2,Trà,Silver\nP3,Cà phê,Bronze\n"
        "P4,Cà phê,Gold\n",
    )
    return write(
        folder / "personas.toml",
        f"""
[warehouse]
url = "duckdb:///warehouse/warehouse.duckdb"

[sources.orders]
path = "data/orders.csv"
max_rejected_share = 0.5

[sources.customers]
path = "data/customers.csv"

[sources.products]
path = "data/products.csv"

[tiers]
rule = "{rule}"

[engine]
lines_per_bucket = {lines_per_bucket}
spill_dir = "spill"
""",
    )


def refreshed(config: Path, as_of: date = AS_OF) -> dict[str, pl.DataFrame]:
    """Every table a refresh publishes into a new warehouse, without what differs between
    any two runs."""
    shutil.rmtree(config.parent / "warehouse", ignore_errors=True)
    loaded = load_config(config)
    result = run_refresh(
        loaded,
        as_of=as_of,
        reason=None,
        trigger="ad-hoc",
        stages=Stages(with_prefect=False, retries=0, retry_delay_seconds=0),
    )
    runs = read_view(config.parent, "select * from personas.refresh_runs")
    columns = read_view(
        config.parent,
        "select column_name from information_schema.columns where table_schema = 'personas' "
        "and table_name = 'refresh_runs' order by ordinal_position",
    )
    tables = {
        **result.tables,
        "refresh_runs": pl.DataFrame(runs, schema=[c for (c,) in columns], orient="row"),
    }
    # As published: each customer's reason joined from the parts the refresh keeps.
    return {
        name: joined_reason(table).drop([c for c in PER_RUN if c in table.columns])
        for name, table in tables.items()
    }


def in_any_order(table: pl.DataFrame) -> pl.DataFrame:
    """A table's rows sorted on every column: row order is not part of a table."""
    return table.sort(table.columns, nulls_last=True) if table.width else table


def buckets_forced(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    """The orders file goes into exactly `count` buckets, whatever its size."""
    monkeypatch.setattr(stages, "bucket_count", lambda *_, **__: count)


def assert_same_tables(whole: dict[str, pl.DataFrame], spilled: dict[str, pl.DataFrame]) -> None:
    assert sorted(whole) == sorted(spilled)
    for name in whole:
        assert in_any_order(whole[name]).equals(in_any_order(spilled[name])), name


def whole_and_in_buckets(
    folder: Path, seed: int, count: int, rule: str = "order_value"
) -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame]]:
    """The same config and data (so the same refresh id) refreshed with the lines read
    whole, then spilled into `count` buckets."""
    config = make_config(folder, seed, rule=rule)
    whole = refreshed(config)
    with pytest.MonkeyPatch.context() as patch:
        buckets_forced(patch, count)
        return whole, refreshed(config)


@pytest.mark.parametrize("count", [2, 7, 64])
def test_a_refresh_in_buckets_publishes_the_same_tables_as_one_read_whole(
    tmp_path: Path, count: int
) -> None:
    whole, spilled = whole_and_in_buckets(tmp_path, seed=1, count=count)
    assert_same_tables(whole, spilled)
    quarantine = spilled["quarantine"]
    # The trouble planted is all there: repeated keys, bad values, unknown customers.
    assert quarantine.filter(pl.col("problem").str.starts_with("duplicate line key")).height == 12
    assert quarantine.filter(pl.col("column") == "amount").height == 3  # abc, 1,2,3, x
    assert quarantine.filter(pl.col("problem").str.starts_with("no amount")).height == 1  # ""
    assert quarantine.filter(pl.col("problem") == "customer not found in customers").height == 3
    assert quarantine["row_number"].is_sorted()
    notes = spilled["refresh_runs"]["notes"].item()
    assert "identical order lines kept as separate purchases: 5" in notes
    assert not list((tmp_path / "spill").iterdir())  # the spill area is gone


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(0, 10_000), count=st.sampled_from([1, 2, 7, 64]))
def test_tables_do_not_depend_on_the_bucket_count_or_the_order_of_the_lines(
    tmp_path_factory: pytest.TempPathFactory, seed: int, count: int
) -> None:
    whole, spilled = whole_and_in_buckets(tmp_path_factory.mktemp("run"), seed, count)
    assert_same_tables(whole, spilled)


def test_a_large_file_is_spilled_and_a_small_one_read_whole(tmp_path: Path) -> None:
    config = make_config(tmp_path, seed=2, lines_per_bucket=100)
    settings_ = load_config(config).settings
    raw = extract(settings_)
    assert isinstance(raw["orders"], SpilledRows)  # about 350 lines of ~60 bytes
    assert isinstance(raw["customers"], pl.DataFrame)
    inputs = validate(raw, settings_)
    assert inputs.spilled is not None and inputs.spilled.parent == tmp_path / "spill"
    assert (
        inputs.orders.select(pl.len()).collect().item()
        == inputs.counts["orders"][0] - (inputs.counts["orders"][1])
    )
    # What the lines say of how they are read is found as each bucket is written: the
    # same as a pass over the written lines (the till's lines have no order id).
    assert inputs.order_kinds is not None
    read_again = line_kinds(inputs.order_parts)
    assert inputs.order_kinds.every_line_has_an_id is read_again.every_line_has_an_id is False
    assert sorted(inputs.order_kinds.statuses, key=str) == sorted(read_again.statuses, key=str)
    assert sorted(inputs.order_kinds.statuses, key=str) == ["cancelled", "completed", "refunded"]


def test_bucket_count_of_parquet_comes_from_its_row_count(tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    pl.DataFrame({"customer_id": [str(n) for n in range(2_500)]}).write_parquet(path)
    assert bucket_count(path, "parquet", lines_per_bucket=1_000) == 3
    assert bucket_count(path, "parquet", lines_per_bucket=2_500) == 1
    assert bucket_count(path, "excel", lines_per_bucket=1) == 1  # a workbook: read whole


def test_lines_of_one_order_or_of_one_customer_without_order_ids_share_a_bucket() -> None:
    lines = pl.DataFrame(
        {
            "order_id": ["A", "A", "A", None, None, "B"],
            "line_number": ["1", "1", "2", "1", None, None],
            "customer_id": ["x", "y", "x", "z", "z", "z"],
        }
    )
    found = lines.select(bucket_of(["order_id", "line_number"], 64, columns=lines.columns))[
        "_bucket"
    ].to_list()
    assert found[0] == found[1]  # one key, whoever bought it: a duplicate to find
    assert found[0] == found[2]  # one order: its lines are summed in one bucket
    assert found[3] == found[4]  # no order id: by customer (a day of theirs is an order)
    assert (
        found
        == lines.select(bucket_of(["order_id", "line_number"], 64, columns=lines.columns))[
            "_bucket"
        ].to_list()
    )


def test_a_failed_validation_leaves_no_spilled_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(tmp_path, seed=3)
    text = config.read_text().replace("max_rejected_share = 0.5", "max_rejected_share = 0.0")
    config.write_text(text)
    buckets_forced(monkeypatch, 4)
    settings_ = load_config(config).settings
    with pytest.raises(DataValidationError):
        validate(extract(settings_), settings_)
    assert [p.name for p in (tmp_path / "spill").iterdir()] == []


def test_a_broken_record_in_a_spilled_file_is_named_as_in_one_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(tmp_path, seed=4)
    orders = tmp_path / "data" / "orders.csv"
    orders.write_text(orders.read_text() + 'SO9,1,C01,2024-01-01,P1,1,"5,completed\n')
    settings_ = load_config(config).settings
    with pytest.raises(SourceError) as whole:
        extract(settings_)
    buckets_forced(monkeypatch, 3)
    with pytest.raises(SourceError) as spilled:
        extract(settings_)
    assert str(spilled.value) == str(whole.value)
    assert not [p for p in (tmp_path / "spill").iterdir() if p.name.startswith(SPILL_PREFIX)]


@settings(max_examples=40, deadline=None)
@given(
    lines=st.lists(
        st.tuples(
            st.sampled_from(["C1", "C2", "C3"]),
            st.sampled_from(["O1", "O2", "O3", None]),
            st.integers(1, 5),  # day of the month
            st.integers(-50, 500),  # amount
            st.one_of(st.none(), st.integers(-3, 9)),  # quantity
            st.one_of(st.none(), st.integers(0, 300)),  # cost
        ),
        min_size=1,
        max_size=40,
    ),
    parts=st.integers(1, 5),
    groups=st.sampled_from([0, 1, 2, 7]),
    data=st.data(),
)
def test_purchases_summed_in_parts_are_the_purchases_of_all_the_lines(
    lines: list[tuple], parts: int, groups: int, data: st.DataObject
) -> None:
    # Any split of the lines (even an order's lines across parts, as after a merge of
    # customers) gives the purchases of the whole, in groups (in memory: 0; else on disk)
    # that each hold every purchase of their customers.
    rows = {
        "customer_id": [c for c, *_ in lines],
        "order_id": [o for _, o, *_ in lines],
        "order_date": [f"2024-01-{day:02d}" for _, _, day, *_ in lines],
        "amount": [str(a) for *_, a, _, _ in lines],
        "quantity": [None if q is None else str(q) for *_, q, _ in lines],
        "cost": [None if c is None else str(c) for *_, c in lines],
    }
    staged = staged_orders(rows).collect()
    where = data.draw(st.lists(st.integers(0, parts - 1), min_size=len(lines), max_size=len(lines)))
    staged = staged.with_columns(_part=pl.Series(where))
    kinds = line_kinds(staged.lazy())
    as_of = date(2024, 1, 4)  # day 5 is after it: left out in every part alike
    whole = purchases_of_lines(valid_order_lines(staged.lazy(), as_of=as_of)).collect()
    with tempfile.TemporaryDirectory() as folder:
        found = [
            group.collect()
            for group in purchases_in_parts(
                [
                    valid_order_lines(
                        staged.lazy().filter(pl.col("_part") == n), as_of=as_of, kinds=kinds
                    )
                    for n in range(parts)
                ],
                whole=False,
                regroup=by_customer(Path(folder) if groups else None, groups),
            )
        ]
    assert len(found) <= max(groups, 1)
    split = pl.concat(found)
    assert in_any_order(split.select(whole.columns)).equals(in_any_order(whole))
    owners = [set(group["customer_id"]) for group in found]
    assert sum(len(owner) for owner in owners) == len(set().union(*owners))


def test_one_day_of_a_customer_merged_from_records_in_two_buckets_is_one_order(
    tmp_path: Path,
) -> None:
    # KH-0017 and KH-0018 are one company (one tax code); a till without order ids sold
    # to each record on 1 May: one customer's day, so one order of 100, even though the
    # records' lines were bucketed apart before anyone knew they were one customer.
    write(
        tmp_path / "data" / "customers.csv",
        "customer_id,name,tax_code,city\n"
        "KH-0017,Công ty Ánh Dương,0101234567,Hà Nội\n"
        "KH-0018,Cty Ánh Dương (chi nhánh),0101-234-567,Hà Nội\n"
        "KH-0019,Công ty Bình Minh,0309999999,Hà Nội\n",
    )
    write(
        tmp_path / "data" / "orders.csv",
        "customer_id,order_date,amount\n"
        "KH-0017,2024-05-01,60\nKH-0018,2024-05-01,40\nKH-0019,2024-05-03,100\n"
        "KH-0019,2024-05-04,20\n",
    )
    config = write(
        tmp_path / "personas.toml",
        '[warehouse]\nurl = "duckdb:///warehouse/warehouse.duckdb"\n'
        '[sources.orders]\npath = "data/orders.csv"\n'
        '[sources.customers]\npath = "data/customers.csv"\n'
        "[identity]\nenabled = true\n",
    )
    lines = pl.DataFrame({"customer_id": ["KH-0017", "KH-0018"]})
    count = next(
        n
        for n in range(2, 64)
        if lines.select(bucket_of(None, n, columns=lines.columns))["_bucket"].n_unique() == 2
    )
    whole = refreshed(config)
    with pytest.MonkeyPatch.context() as patch:
        buckets_forced(patch, count)
        spilled = refreshed(config)
    assert_same_tables(whole, spilled)
    merged = spilled["customer_segments"].filter(pl.col("revenue") == 100)
    assert merged.select("order_count").to_series().to_list() == [1]


@settings(max_examples=30, deadline=None)
@given(
    bought=st.lists(
        st.tuples(st.sampled_from(["C1", "C2", "C3", "C4"]), st.sampled_from(["P1", "P2", "P3"])),
        min_size=1,
        max_size=30,
    ),
    best=st.sets(st.sampled_from(["C1", "C2", "C3", "C4"])),
    with_category=st.booleans(),
    parts=st.integers(1, 4),
    groups=st.sampled_from([0, 1, 2, 7]),
    data=st.data(),
)
def test_products_bought_counted_in_groups_score_as_counted_whole(
    bought: list[tuple[str, str]],
    best: set[str],
    with_category: bool,
    parts: int,
    groups: int,
    data: st.DataObject,
) -> None:
    # A customer who bought a product in two buckets of lines still counts once.
    where = data.draw(
        st.lists(st.integers(0, parts - 1), min_size=len(bought), max_size=len(bought))
    )
    lines = pl.DataFrame(
        {
            "customer_id": [c for c, _ in bought],
            "product_id": [p for _, p in bought],
            "_part": where,
        }
    )
    customers = pl.LazyFrame({"customer_id": ["C1", "C2", "C3", "C4"]}).with_columns(
        is_best=pl.col("customer_id").is_in(sorted(best))
    )
    products = (
        pl.LazyFrame({"product_id": ["P1", "P2"], "category": ["tea", "tea"]})
        if with_category
        else None
    )
    whole = scored_purchases(customers, lines.lazy(), products=products).collect()
    with tempfile.TemporaryDirectory() as folder:
        split = scored_purchases(
            customers,
            [lines.lazy().filter(pl.col("_part") == n) for n in range(parts)],
            products=products,
            regroup=by_customer(Path(folder) if groups else None, groups),
        ).collect()
    assert in_any_order(split.select(whole.columns)).equals(in_any_order(whole))


@pytest.mark.parametrize("count", [1, 7])
def test_no_line_up_to_as_of_stops_a_spilled_refresh_as_one_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    # Every line is dated after as_of: no purchase in any group of customers.
    config = make_config(tmp_path, seed=3)
    buckets_forced(monkeypatch, count)
    with pytest.raises(EmptyRefreshError, match="no valid order line dated on or before"):
        run_refresh(
            load_config(config),
            as_of=date(2023, 12, 31),
            reason=None,
            trigger="ad-hoc",
            stages=Stages(with_prefect=False, retries=0, retry_delay_seconds=0),
        )
    spill = tmp_path / "spill"  # made only when the lines are spilled
    assert not spill.exists() or not list(spill.iterdir())


@pytest.mark.parametrize("rule", ["package", "quantile"])
def test_every_tier_rule_publishes_the_same_tables_in_buckets(tmp_path: Path, rule: str) -> None:
    # The package rule tiers each line (a bucket at a time, regrouped by customer); the
    # quantile rule tiers customers and their purchases follow.
    whole, spilled = whole_and_in_buckets(tmp_path, seed=4, count=7, rule=rule)
    assert_same_tables(whole, spilled)
    summary = spilled["tier_summary"]
    assert summary["purchases"].sum() > 0 and summary["buying_customers"].sum() > 0


@pytest.mark.parametrize("compare_by", ["tier", "goal"])
def test_compared_personas_in_buckets_publish_the_same_tables(
    tmp_path: Path, compare_by: str
) -> None:
    # The profile stage keeps its own frames beside the transform's: neither overwrites
    # the other's (a persona per tier reads the transform's tiered purchases again).
    config = make_config(tmp_path, seed=9)
    config.write_text(
        config.read_text(encoding="utf-8") + f'\n[personas]\ncompare_by = "{compare_by}"\n',
        encoding="utf-8",
    )
    whole = refreshed(config)
    with pytest.MonkeyPatch.context() as patch:
        buckets_forced(patch, 3)
        spilled = refreshed(config)
    assert_same_tables(whole, spilled)
    assert whole["persona_cards"].height > 1  # the compared personas are there


def test_the_pymc_rfm_preset_in_buckets_scores_as_the_log_read_whole(tmp_path: Path) -> None:
    # Each bucket's daily spend is summed, regrouped by customer, summed again: a
    # customer's day split over two buckets (lines without an order id) counts once.
    from sampledata.cdnow import cdnow_config, write_cdnow_csv

    (tmp_path / "data").mkdir()
    write_cdnow_csv(tmp_path / "data")
    config = write(
        tmp_path / "personas.toml",
        cdnow_config("data/cdnow.csv") + '\n[rfm]\npreset = "pymc"\n',
    )
    whole = refreshed(config, date(1998, 6, 30))
    with pytest.MonkeyPatch.context() as patch:
        buckets_forced(patch, 7)
        spilled = refreshed(config, date(1998, 6, 30))
    assert_same_tables(whole, spilled)
    assert whole["customer_segments"]["rfm_segment"].n_unique() > 3


def test_the_pymc_rfm_preset_counts_a_day_split_over_buckets_once(tmp_path: Path) -> None:
    # Orders have ids, so one customer's orders of one day fall in different buckets:
    # the day's spend is summed in each, regrouped by customer and summed again.
    config = make_config(tmp_path, seed=10)
    config.write_text(
        config.read_text(encoding="utf-8") + '\n[rfm]\npreset = "pymc"\n', encoding="utf-8"
    )
    whole = refreshed(config)
    with pytest.MonkeyPatch.context() as patch:
        buckets_forced(patch, 7)
        spilled = refreshed(config)
    assert_same_tables(whole, spilled)
