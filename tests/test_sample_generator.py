"""Tests of the deterministic sample data generator (sampledata.generator)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from sampledata import (
    PLANTED_BUYER,
    PLANTED_ICP,
    SAMPLE_END_DATE,
    SAMPLE_START_DATE,
    generate_sample,
)

CUSTOMERS = 1000
ORDER_LINES = 20_000

COLUMNS = {
    "orders": [
        "order_id",
        "line_number",
        "customer_id",
        "order_date",
        "product_id",
        "quantity",
        "unit_price",
        "discount",
        "amount",
        "cost",
        "currency",
        "status",
        "channel",
    ],
    "customers": [
        "customer_id",
        "name",
        "customer_type",
        "industry",
        "employee_count",
        "annual_revenue",
        "country",
        "region",
        "city",
        "market_position",
        "growth_stage",
        "acquisition_channel",
        "created_at",
        "birth_date",
        "gender",
        "income",
        "education",
        "occupation",
        "interests",
        "attitude_to_technology",
        "core_values",
    ],
    "contacts": [
        "contact_id",
        "customer_id",
        "full_name",
        "title",
        "role",
        "level",
        "is_decision_maker",
        "gender",
        "birth_date",
        "education",
        "major",
        "interests",
        "personality",
        "preferred_channel",
    ],
    "products": ["product_id", "name", "package", "list_price", "category", "launched_at"],
    "leads": [
        "lead_id",
        "created_at",
        "source",
        "converted_customer_id",
        "converted_at",
        "customer_type",
        "industry",
        "employee_count",
        "annual_revenue",
        "country",
        "region",
        "city",
        "market_position",
        "growth_stage",
    ],
    "feedback": [
        "customer_id",
        "created_at",
        "channel",
        "goal",
        "pain_point",
        "motivation",
        "info_source",
        "text",
        "score",
    ],
}


def _read(path: Path) -> pl.DataFrame:
    """Read a CSV the way a careful loader does: every column as a string."""
    return pl.read_csv(path, infer_schema=False)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out_dir = tmp_path_factory.mktemp("sample")
    return generate_sample(out_dir, customers=CUSTOMERS, order_lines=ORDER_LINES, seed=7)


@pytest.fixture(scope="module")
def orders(sample: dict[str, Path]) -> pl.DataFrame:
    money = ("quantity", "unit_price", "discount", "amount", "cost")
    return _read(sample["orders"]).with_columns(pl.col(money).cast(pl.Int64))


@pytest.fixture(scope="module")
def net_revenue(orders: pl.DataFrame) -> pl.DataFrame:
    """Net revenue per customer, largest first: refunds count negative, cancellations not."""
    signed = (
        pl.when(pl.col("status") == "refunded").then(-pl.col("amount")).otherwise(pl.col("amount"))
    )
    return (
        orders.filter(pl.col("status") != "cancelled")
        .group_by("customer_id")
        .agg(signed.sum().alias("revenue"))
        .sort(["revenue", "customer_id"], descending=[True, False])
    )


@pytest.fixture(scope="module")
def top_customers(net_revenue: pl.DataFrame) -> set[str]:
    return set(net_revenue["customer_id"].head(round(0.2 * net_revenue.height)))


def _planted_shares(frame: pl.DataFrame, column: str, value: str, top: set[str]) -> list[float]:
    """Share of rows with ``column == value`` among top customers' rows and among the rest."""
    shares = (
        frame.group_by(pl.col("customer_id").is_in(list(top)).alias("top"))
        .agg((pl.col(column) == value).fill_null(False).mean().alias("share"))
        .sort("top", descending=True)
    )
    return shares["share"].to_list()


def test_same_seed_and_sizes_give_byte_identical_files(tmp_path: Path) -> None:
    first = generate_sample(tmp_path / "a", customers=300, order_lines=3000, seed=11)
    second = generate_sample(tmp_path / "b", customers=300, order_lines=3000, seed=11)
    assert first.keys() == second.keys()
    for name in first:
        assert first[name].read_bytes() == second[name].read_bytes(), name


def test_another_seed_gives_other_orders(tmp_path: Path) -> None:
    first = generate_sample(tmp_path / "a", customers=300, order_lines=3000, seed=11)
    second = generate_sample(tmp_path / "b", customers=300, order_lines=3000, seed=12)
    assert first["orders"].read_bytes() != second["orders"].read_bytes()


def test_the_six_files_exist_with_exactly_the_documented_columns(
    sample: dict[str, Path],
) -> None:
    assert list(sample) == list(COLUMNS)
    for name, path in sample.items():
        assert path.is_file()
        assert path.name == f"{name}.csv"
        assert _read(path).columns == COLUMNS[name], name


def test_csv_files_are_utf8_without_bom(sample: dict[str, Path]) -> None:
    for path in sample.values():
        raw = path.read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf")
        raw.decode("utf-8")


def test_ids_read_back_as_strings_keep_their_leading_zeros(
    sample: dict[str, Path], orders: pl.DataFrame
) -> None:
    customers = _read(sample["customers"])
    assert customers["customer_id"][0] == "000001"
    assert customers["customer_id"].str.contains(r"^\d{6}$").all()
    assert customers["customer_id"].is_unique().all()
    assert orders["order_id"].str.contains(r"^SO\d{7}$").all()
    assert orders["customer_id"].str.starts_with("0").all()
    assert _read(sample["contacts"])["contact_id"].str.contains(r"^CT\d{6}$").all()
    assert _read(sample["leads"])["lead_id"].str.contains(r"^L\d{6}$").all()
    assert _read(sample["products"])["product_id"].str.contains(r"^P\d{3}$").all()


def test_every_order_date_lies_within_the_sample_window(orders: pl.DataFrame) -> None:
    assert orders["order_date"].str.contains(r"^\d{4}-\d{2}-\d{2}$").all()
    days = orders["order_date"].str.to_date("%Y-%m-%d")
    assert days.min() >= SAMPLE_START_DATE
    assert days.max() <= SAMPLE_END_DATE


def test_amount_equals_quantity_times_unit_price_minus_discount_on_every_line(
    orders: pl.DataFrame,
) -> None:
    expected = pl.col("quantity") * pl.col("unit_price") - pl.col("discount")
    assert orders.filter(pl.col("amount") != expected).height == 0
    assert orders.filter(pl.col("quantity") == 0).height == 0
    assert (orders["currency"] == "VND").all()


def test_unit_prices_are_the_list_prices_of_the_products(
    sample: dict[str, Path], orders: pl.DataFrame
) -> None:
    products = _read(sample["products"]).with_columns(pl.col("list_price").cast(pl.Int64))
    assert products["package"].is_in(["Gold", "Silver", "Bronze"]).all()
    joined = orders.join(products, on="product_id", how="left")
    assert joined["list_price"].null_count() == 0
    assert (joined["unit_price"] == joined["list_price"]).all()
    # Nothing is sold before its launch date.
    assert (joined["order_date"] >= joined["launched_at"]).all()


def test_both_refund_forms_and_cancellations_are_present(orders: pl.DataFrame) -> None:
    statuses = orders["status"].value_counts().to_dict(as_series=False)
    counts = dict(zip(statuses["status"], statuses["count"], strict=True))
    assert set(counts) == {"completed", "refunded", "cancelled"}
    assert counts["completed"] / orders.height > 0.9

    refunded = orders.filter(pl.col("status") == "refunded")
    assert refunded.height > 0
    assert (refunded["amount"] > 0).all()

    returns = orders.filter((pl.col("status") == "completed") & (pl.col("quantity") < 0))
    assert returns.height > 0
    assert (returns["amount"] < 0).all()
    assert (returns["discount"] <= 0).all()
    assert orders.filter(pl.col("status") == "cancelled").height > 0


def test_the_top_fifth_of_customers_makes_most_of_the_net_revenue(
    net_revenue: pl.DataFrame,
) -> None:
    top = net_revenue["revenue"].head(round(0.2 * net_revenue.height)).sum()
    share = top / net_revenue["revenue"].sum()
    assert 0.65 <= share <= 0.9


def test_every_customer_has_an_order_line_and_many_buy_only_once(
    sample: dict[str, Path], orders: pl.DataFrame
) -> None:
    customers = _read(sample["customers"])
    assert set(orders["customer_id"]) == set(customers["customer_id"])
    per_customer = orders.group_by("customer_id").agg(pl.col("order_id").n_unique().alias("n"))
    assert (per_customer["n"] == 1).mean() >= 0.3
    # An order belongs to one customer on one day and has at most four lines.
    per_order = orders.group_by("order_id").agg(
        pl.col("customer_id").n_unique().alias("customers"),
        pl.col("order_date").n_unique().alias("dates"),
        pl.len().alias("lines"),
    )
    assert (per_order["customers"] == 1).all()
    assert (per_order["dates"] == 1).all()
    assert per_order["lines"].max() <= 4


def test_city_values_keep_their_vietnamese_diacritics(sample: dict[str, Path]) -> None:
    customers = _read(sample["customers"])
    cities = set(customers["city"])
    assert {"Hà Nội", "Đà Nẵng", "TP HCM"} <= cities
    assert set(customers.filter(pl.col("city") == "Hà Nội")["region"]) == {"Miền Bắc"}
    assert customers["name"].str.starts_with("Công ty").any()
    assert customers["name"].str.contains("Thị").any()
    leads = _read(sample["leads"])
    assert "Đà Nẵng" in set(leads["city"])


def test_the_top_customers_carry_the_planted_icp(
    sample: dict[str, Path], top_customers: set[str]
) -> None:
    customers = _read(sample["customers"])
    for column, value in PLANTED_ICP.items():
        top_share, rest_share = _planted_shares(customers, column, value, top_customers)
        assert top_share >= 0.5, column
        assert top_share >= rest_share + 0.3, column
        assert top_share >= 2 * rest_share, column


def test_decision_makers_at_top_customers_carry_the_planted_buyer_persona(
    sample: dict[str, Path], top_customers: set[str]
) -> None:
    deciders = _read(sample["contacts"]).filter(pl.col("is_decision_maker") == "true")
    for column, value in PLANTED_BUYER.items():
        top_share, rest_share = _planted_shares(deciders, column, value, top_customers)
        assert top_share >= 0.5, column
        assert top_share >= rest_share + 0.3, column


def test_b2b_customers_have_one_or_two_decision_makers_and_b2c_customers_are_their_own_contact(
    sample: dict[str, Path],
) -> None:
    customers = _read(sample["customers"])
    contacts = _read(sample["contacts"])
    assert set(contacts["is_decision_maker"]) == {"true", "false"}
    assert set(contacts["gender"]) == {"Nam", "Nữ"}
    per_customer = (
        contacts.group_by("customer_id")
        .agg(
            pl.len().alias("contacts"),
            (pl.col("is_decision_maker") == "true").sum().alias("deciders"),
        )
        .join(customers.select("customer_id", "customer_type", "name"), on="customer_id")
    )
    assert per_customer.height == customers.height
    b2b = per_customer.filter(pl.col("customer_type") == "B2B")
    assert b2b["contacts"].is_between(1, 4).all()
    assert b2b["deciders"].is_between(1, 2).all()
    b2c = per_customer.filter(pl.col("customer_type") == "B2C")
    assert (b2c["contacts"] == 1).all()
    assert (b2c["deciders"] == 1).all()
    b2c_contacts = contacts.join(b2c.select("customer_id", "name"), on="customer_id")
    assert (b2c_contacts["full_name"] == b2c_contacts["name"]).all()


def test_converted_leads_point_at_customers_and_convert_before_their_first_order(
    sample: dict[str, Path], orders: pl.DataFrame
) -> None:
    leads = _read(sample["leads"])
    assert leads.height == 2 * CUSTOMERS
    converted = leads.filter(pl.col("converted_customer_id").is_not_null())
    assert 0.25 <= converted.height / leads.height <= 0.35
    assert converted["converted_customer_id"].is_unique().all()
    assert leads.filter(pl.col("converted_customer_id").is_null())["converted_at"].is_null().all()

    first_orders = orders.group_by("customer_id").agg(pl.col("order_date").min().alias("first"))
    joined = converted.join(
        first_orders, left_on="converted_customer_id", right_on="customer_id", how="left"
    )
    assert joined["first"].null_count() == 0
    assert (joined["converted_at"] <= joined["first"]).all()
    assert (joined["created_at"] <= joined["converted_at"]).all()

    # Converted leads look like their customer and match the planted profile more often.
    customers = _read(sample["customers"])
    same = converted.join(
        customers, left_on="converted_customer_id", right_on="customer_id", suffix="_customer"
    )
    assert (same["city"] == same["city_customer"]).all()
    column, value = "industry", PLANTED_ICP["industry"]
    converted_share = (converted[column] == value).fill_null(False).mean()
    open_share = (
        (leads.filter(pl.col("converted_customer_id").is_null())[column] == value)
        .fill_null(False)
        .mean()
    )
    assert converted_share > open_share


def test_feedback_has_about_half_a_row_per_customer_with_scores_from_1_to_10(
    sample: dict[str, Path],
) -> None:
    feedback = _read(sample["feedback"])
    assert feedback.height == CUSTOMERS // 2
    scores = feedback["score"].cast(pl.Int64)
    assert scores.min() >= 1
    assert scores.max() <= 10
    assert feedback["text"].str.contains("[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệ]").any()
    days = feedback["created_at"].str.to_date("%Y-%m-%d")
    assert days.max() <= SAMPLE_END_DATE


def test_fewer_order_lines_than_customers_give_one_line_to_each_of_the_first_customers(
    tmp_path: Path,
) -> None:
    paths = generate_sample(tmp_path, customers=50, order_lines=20, seed=1)
    orders = _read(paths["orders"])
    assert orders.height == 20
    assert sorted(orders["customer_id"]) == [f"{i:06d}" for i in range(1, 21)]
    assert _read(paths["customers"]).height == 50


def test_parquet_output_holds_the_same_data_as_the_csv_output(
    tmp_path: Path, sample: dict[str, Path]
) -> None:
    paths = generate_sample(
        tmp_path, customers=CUSTOMERS, order_lines=ORDER_LINES, seed=7, file_format="parquet"
    )
    assert list(paths) == list(COLUMNS)
    for name, path in paths.items():
        assert path.suffix == ".parquet"
        frame = pl.read_parquet(path)
        assert frame.columns == COLUMNS[name]
        as_text = frame.select(pl.all().cast(pl.String))
        assert as_text.equals(_read(sample[name])), name
    assert pl.read_parquet(paths["orders"]).schema["order_date"] == pl.Date
    assert pl.read_parquet(paths["customers"])["customer_id"][0] == "000001"


def test_bad_arguments_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        generate_sample(tmp_path, customers=0)
    with pytest.raises(ValueError, match="file_format"):
        generate_sample(tmp_path, file_format="xlsx")  # type: ignore[arg-type]
