"""The CLI as a user runs it: success paths, one-line errors and exit codes."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import read_view, run_cli, write


def refresh(runner: CliRunner, config: Path, *extra: str, env: dict | None = None):
    return runner.invoke(
        app, ["refresh", "--config", str(config), "--as-of", "2024-06-01", *extra], env=env
    )


def test_orders_alone_publish_metrics_tiers_and_pareto(
    runner: CliRunner, orders_only: Path
) -> None:
    result = refresh(runner, orders_only, "--reason", "first run")
    assert result.exit_code == 0, result.output
    assert "Revenue tiers as of 2024-06-01" in result.stdout
    here = orders_only.parent
    assert "report.html" in result.stdout
    (report,) = (here / "reports").glob("*/report.html")
    assert "expectations passed" in report.read_text(encoding="utf-8")  # the checks, offline
    assert not list((here / "reports").glob("*/data_docs"))  # GX only with quality.data_docs
    assert (report.parent / "quarantine.csv").exists()
    rows = read_view(
        here,
        "select customer_id, revenue, order_count, recency_days, tenure_days, tier, "
        "pareto_rank, pareto_class from personas.customer_segments order by pareto_rank",
    )
    assert rows == [
        ("00018", Decimal("500"), 1, 92, 92, "Large", 1, "A"),
        ("00017", Decimal("70"), 2, 121, 152, "Medium", 2, "B"),
        ("00019", Decimal("50"), 1, 91, 91, "Small", 3, "B"),
    ]
    summary = read_view(here, "select tier, customers, is_key_tier from personas.tier_summary")
    assert summary == [("Large", 1, True), ("Medium", 1, False), ("Small", 1, False)]
    (runs,) = read_view(here, "select status, reason, rows_in, notes from personas.refresh_runs")
    assert runs[:3] == ("succeeded", "first run", 5)
    assert "absent (outputs that need them skipped): customers, products" in runs[3]
    assert "order lines dated after as_of ignored: 0" in runs[3]


def test_rerunning_the_same_refresh_replaces_and_never_duplicates(
    runner: CliRunner, orders_only: Path
) -> None:
    for _ in range(3):
        assert refresh(runner, orders_only).exit_code == 0
    here = orders_only.parent
    counts = read_view(
        here,
        "select (select count(*) from personas.customer_segments_history), "
        "(select count(distinct customer_id) from personas.customer_segments), "
        "(select count(*) from personas.tier_summary_history), "
        "(select count(*) from personas.pareto_curve_history), "
        "(select count(*) from personas.refresh_runs_history)",
    )
    assert counts == [(3, 3, 3, 101, 3)]  # one refresh's rows; three attempts logged


def test_status_lists_refreshes_and_next_due_date(runner: CliRunner, orders_only: Path) -> None:
    assert refresh(runner, orders_only, "--reason", "quarterly check").exit_code == 0
    result = runner.invoke(app, ["status", "--config", str(orders_only)])
    assert result.exit_code == 0, result.output
    assert "quarterly check" in result.stdout
    assert "succeeded" in result.stdout
    assert "next due" in result.stdout


def test_status_before_any_refresh_says_so(runner: CliRunner, orders_only: Path) -> None:
    result = runner.invoke(app, ["status", "--config", str(orders_only)])
    assert result.exit_code == 1  # never refreshed: not fresh, for monitoring
    assert "No refresh yet" in result.stdout


def test_bad_data_exits_1_with_one_line_and_keeps_the_previous_refresh(
    runner: CliRunner, orders_only: Path
) -> None:
    assert refresh(runner, orders_only).exit_code == 0
    orders = orders_only.parent / "data" / "orders.csv"
    write(orders, "customer_id,order_date,amount\n00017,2024-02-30,10\n,2024-01-01,5\n")
    result = refresh(runner, orders_only, "--as-of", "2024-07-01")
    assert result.exit_code == 1
    errors = result.stderr.strip().splitlines()
    assert errors[-1].startswith("error: 2 problem(s) in the input, nothing published")
    assert "order_date: not a date in format ISO 8601 '2024-02-30'" in errors[-1]
    assert "Traceback" not in result.stderr
    here = orders_only.parent
    assert read_view(here, "select distinct as_of from personas.refresh_runs") == [
        (date(2024, 6, 1),)
    ]
    assert read_view(here, "select count(*) from personas.customer_segments") == [(3,)]
    statuses = read_view(here, "select status from personas.refresh_runs_history order by 1")
    assert statuses == [("failed",), ("succeeded",)]


def test_debug_shows_the_traceback(runner: CliRunner, orders_only: Path) -> None:
    write(orders_only.parent / "data" / "orders.csv", "customer_id,order_date,amount\n,x,1\n")
    result = runner.invoke(
        app, ["--debug", "refresh", "--config", str(orders_only), "--as-of", "2024-06-01"]
    )
    assert result.exit_code == 1
    assert "Traceback" in result.stderr


def test_missing_config_file_exits_2_naming_it(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["refresh", "--config", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: config file not found: {tmp_path / 'nope.toml'}"


def test_wrong_setting_from_the_environment_exits_2_naming_it(
    runner: CliRunner, orders_only: Path
) -> None:
    result = refresh(runner, orders_only, env={"PERSONAS_TIERS__RULE": "biggest"})
    assert result.exit_code == 2
    assert "setting tiers.rule: Input should be" in result.stderr


def test_invalid_toml_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    config = write(tmp_path / "broken.toml", "[sources.orders\npath = 1\n")
    result = runner.invoke(app, ["refresh", "--config", str(config)])
    assert result.exit_code == 2
    assert "invalid TOML" in result.stderr


def test_missing_orders_source_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    config = write(tmp_path / "p.toml", '[sources.customers]\npath = "c.csv"\n')
    result = runner.invoke(app, ["refresh", "--config", str(config)])
    assert result.exit_code == 2
    assert "setting sources: the `orders` source is required" in result.stderr


def test_missing_source_file_exits_2_naming_the_file(runner: CliRunner, tmp_path: Path) -> None:
    config = write(tmp_path / "p.toml", '[sources.orders]\npath = "missing.csv"\n')
    result = runner.invoke(app, ["refresh", "--config", str(config), "--as-of", "2024-01-01"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: sources.orders.path: file not found: {tmp_path / 'missing.csv'}"
    )


def test_bad_as_of_is_a_usage_error(runner: CliRunner, orders_only: Path) -> None:
    result = runner.invoke(app, ["refresh", "--config", str(orders_only), "--as-of", "01/06/2024"])
    assert result.exit_code == 2


def test_column_mapping_maps_a_foreign_layout(runner: CliRunner, tmp_path: Path) -> None:
    write(
        tmp_path / "tx.csv",
        "InvoiceNo;CustomerCode;InvoiceDate;Qty;Price\n"
        "1;0001;03/01/2024;2;1.50\n"
        "2;0001;04/01/2024;1;2.25\n"
        "3;0100;04/01/2024;10;0.10\n",
    )
    config = write(
        tmp_path / "p.toml",
        '[sources.orders]\npath = "tx.csv"\ndelimiter = ";"\ndate_format = "%d/%m/%Y"\n'
        "[sources.orders.columns]\n"
        'order_id = "InvoiceNo"\ncustomer_id = "CustomerCode"\norder_date = "InvoiceDate"\n'
        'quantity = "Qty"\nunit_price = "Price"\n',
    )
    result = runner.invoke(app, ["refresh", "--config", str(config), "--as-of", "2024-01-31"])
    assert result.exit_code == 0, result.output
    rows = read_view(
        tmp_path,
        "select customer_id, revenue, order_count, quantity, recency_days "
        "from personas.customer_segments order by customer_id",
    )
    assert rows == [("0001", Decimal("5.25"), 2, 3, 27), ("0100", Decimal("1.00"), 1, 10, 27)]


def test_mapping_to_a_column_the_file_lacks_exits_2(runner: CliRunner, orders_only: Path) -> None:
    text = orders_only.read_text() + '[sources.orders.columns]\ncustomer_id = "CustomerCode"\n'
    write(orders_only, text)
    result = refresh(runner, orders_only)
    assert result.exit_code == 2
    assert "sources.orders.columns.customer_id: column 'CustomerCode' not found" in result.stderr


def refresh_by_package(runner: CliRunner, tmp_path: Path, orders: str, products: str):
    """Refresh orders + products text with tiers.rule = package."""
    write(tmp_path / "orders.csv", orders)
    write(tmp_path / "products.csv", products)
    config = write(
        tmp_path / "p.toml",
        '[sources.orders]\npath = "orders.csv"\n[sources.products]\npath = "products.csv"\n'
        '[tiers]\nrule = "package"\n',
    )
    return runner.invoke(app, ["refresh", "--config", str(config), "--as-of", "2024-06-01"])


def test_package_rule_uses_products(runner: CliRunner, tmp_path: Path) -> None:
    result = refresh_by_package(
        runner,
        tmp_path,
        "customer_id,order_date,product_id,quantity,unit_price\n"
        "a,2024-01-01,G,1,20000000\nb,2024-01-01,B,1,5000000\nc,2024-01-01,B,2,5000000\n",
        "product_id,package\nG,Gold\nB,Bronze\n",
    )
    assert result.exit_code == 0, result.output
    tiers = read_view(tmp_path, "select tier, customers, sales_revenue from personas.tier_summary")
    assert tiers == [
        ("Large", 1, Decimal("20000000")),
        ("Medium", 0, Decimal("0")),
        ("Small", 2, Decimal("15000000")),
    ]


def test_package_rule_with_an_unknown_product_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    result = refresh_by_package(
        runner,
        tmp_path,
        "customer_id,order_date,product_id,amount\na,2024-01-01,X,5\n",
        "product_id,package\nG,Gold\n",
    )
    assert result.exit_code == 1
    assert "product_id: product not found in products, or it has no package 'X'" in result.stderr


def test_validate_prints_problems_and_exits_1(runner: CliRunner, orders_only: Path) -> None:
    write(orders_only.parent / "data" / "orders.csv", "customer_id,order_date,amount\na,x,1.5\n")
    result = runner.invoke(app, ["validate", "--config", str(orders_only)])
    assert result.exit_code == 1
    assert "not a date in format ISO 8601" in result.stdout
    assert not (orders_only.parent / "warehouse").exists()  # validate publishes nothing


def test_validate_on_good_data_exits_0(runner: CliRunner, orders_only: Path) -> None:
    result = runner.invoke(app, ["validate", "--config", str(orders_only)], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "│ orders │    5 │        5 │        0 │              0 │  1.0% │ ok      │" in (
        result.stdout
    )
    assert "All rows valid." in result.stdout


def test_validate_lists_rows_a_refresh_would_quarantine_and_exits_0_below_the_limit(
    runner: CliRunner, orders_only: Path
) -> None:
    lines = "customer_id,order_date,amount\na,2024-01-01,1\nb,2024-01-02,=1+1\n,2024-01-03,2\n"
    write(orders_only.parent / "data" / "orders.csv", lines)
    env = {"COLUMNS": "160", "PERSONAS_SOURCES__ORDERS__MAX_REJECTED_SHARE": "0.7"}
    result = runner.invoke(app, ["validate", "--config", str(orders_only)], env=env)
    assert result.exit_code == 0, result.output
    assert "│ orders │    3 │        1 │ 2 (66.7%) │              0 │ 70.0% │ ok      │" in (
        result.stdout
    )
    assert "missing value in a required column" in result.stdout
    assert "'=1+1'" in result.stdout
    assert "a refresh would quarantine 2 of 3 rows and publish the rest" in result.stdout


def test_the_quarantine_csv_neutralises_spreadsheet_formulas(
    runner: CliRunner, orders_only: Path
) -> None:
    lines = 'customer_id,order_date,amount\n=HYPERLINK("http://x"),2024-01-01,abc\n'
    write(orders_only.parent / "data" / "orders.csv", lines + "a,2024-01-02,1\n")
    result = refresh(
        runner, orders_only, env={"PERSONAS_SOURCES__ORDERS__MAX_REJECTED_SHARE": "0.5"}
    )
    assert result.exit_code == 0, result.output
    (csv,) = (orders_only.parent / "reports").glob("*/quarantine.csv")
    text = csv.read_text(encoding="utf-8-sig")
    assert '\'=HYPERLINK(""http://x"")' in text  # shown as text by a spreadsheet
    (stored,) = read_view(orders_only.parent, "select key from personas.quarantine")
    assert stored == ('=HYPERLINK("http://x")',)  # the warehouse keeps it verbatim


def test_a_parquet_source_with_typed_columns_is_read_as_text_first(
    runner: CliRunner, tmp_path: Path
) -> None:
    import polars as pl

    pl.DataFrame(
        {
            "customer_id": ["00017", "00017", "00018"],
            "order_date": [date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)],
            "amount": [2.55, 0.1, 1000000000000.25],
        }
    ).write_parquet(tmp_path / "orders.parquet")
    config = write(tmp_path / "p.toml", '[sources.orders]\npath = "orders.parquet"\n')
    result = runner.invoke(app, ["refresh", "--config", str(config), "--as-of", "2024-06-01"])
    assert result.exit_code == 0, result.output
    rows = read_view(tmp_path, "select customer_id, revenue from personas.customer_segments")
    assert sorted(rows) == [("00017", Decimal("2.65")), ("00018", Decimal("1000000000000.25"))]


def test_a_failed_refresh_in_a_real_process_ends_with_one_error_line(
    prefect_api: str, orders_only: Path
) -> None:
    write(orders_only.parent / "data" / "orders.csv", "customer_id,order_date,amount\n,x,1\n")
    result = run_cli(
        ["refresh", "--config", str(orders_only), "--as-of", "2024-06-01"],
        prefect_api=prefect_api,
        cwd=orders_only.parent,
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "orders row 1" in errors[0]
    assert "Traceback" not in result.stderr
    assert "leaked" not in result.stderr  # nothing printed after the error by DuckDB teardown


def test_a_refresh_with_no_valid_line_up_to_as_of_publishes_nothing(
    runner: CliRunner, orders_only: Path
) -> None:
    assert refresh(runner, orders_only).exit_code == 0
    result = refresh(runner, orders_only, "--as-of", "2023-01-01")
    assert result.exit_code == 1
    assert "no valid order line dated on or before as_of 2023-01-01" in result.stderr
    assert read_view(orders_only.parent, "select count(*) from personas.customer_segments") == [
        (3,)
    ]


def test_segment_movement_compares_with_the_previous_refresh(
    runner: CliRunner, orders_only: Path
) -> None:
    assert refresh(runner, orders_only, "--as-of", "2024-02-15").exit_code == 0
    (notes,) = read_view(orders_only.parent, "select notes from personas.refresh_runs")
    assert "order lines dated after as_of ignored: 3" in notes[0]  # C, D and E (March)
    # 1 customer then 3: past the default ±50% bound on the customer count, refused ...
    jumped = refresh(runner, orders_only, "--as-of", "2024-06-01")
    assert jumped.exit_code == 1
    assert (
        "1 check(s) of the published tables failed, nothing published: customer_segments: "
        "expect_table_row_count_to_be_between: observed 3" in jumped.stderr
    )
    assert read_view(orders_only.parent, "select as_of from personas.refresh_runs") == [
        (date(2024, 2, 15),)
    ]
    # ... and published once the bound allows it.
    allow = {"PERSONAS_QUALITY__MAX_CUSTOMER_CHANGE": "5"}
    assert refresh(runner, orders_only, "--as-of", "2024-06-01", env=allow).exit_code == 0
    moves = read_view(
        orders_only.parent,
        "select from_segment, to_segment, customers, revenue from personas.segment_transitions "
        "where base = 'tier' order by from_segment, to_segment",
    )
    # on 2024-02-15 only 00017 had bought (70 after its refund): the one customer is Large;
    # by 2024-06-01 00018 (500) is Large, 00017 Medium, 00019 Small.
    assert moves == [
        ("(new)", "Large", 1, Decimal("500")),
        ("(new)", "Small", 1, Decimal("50")),
        ("Large", "Medium", 1, Decimal("70")),
    ]


def test_status_after_only_failed_refreshes_says_none_is_current(
    runner: CliRunner, orders_only: Path
) -> None:
    write(orders_only.parent / "data" / "orders.csv", "customer_id,order_date,amount\n,x,1\n")
    assert refresh(runner, orders_only).exit_code == 1
    result = runner.invoke(app, ["status", "--config", str(orders_only)])
    assert result.exit_code == 1, result.output
    assert "failed" in result.stdout
    assert "No successful refresh is current." in result.stdout
    assert "Personas are never refreshed: run personas refresh." in result.stdout


def test_demo_says_when_it_reuses_regenerates_or_leaves_the_sample_data(
    tmp_path: Path, capsys
) -> None:
    from flows.cli import _prepare_sample

    data = tmp_path / "data"
    _prepare_sample(data, customers=50, order_lines=300, seed=1)
    assert (
        "Generating sample data (50 customers, 300 order lines, seed 1)" in capsys.readouterr().out
    )
    assert len((data / "orders.csv").read_text(encoding="utf-8").splitlines()) == 301
    _prepare_sample(data, customers=50, order_lines=300, seed=1)
    assert "Using the sample data" in capsys.readouterr().out
    _prepare_sample(data, customers=50, order_lines=500, seed=1)  # --order-lines changed
    out = " ".join(capsys.readouterr().out.split())
    assert "Regenerating the sample data" in out
    assert "it held 50 customers, 300 order lines, seed 1; asked for 50 customers, 500" in out
    assert len((data / "orders.csv").read_text(encoding="utf-8").splitlines()) == 501
    # data the demo did not generate is never overwritten
    (data / "sample.json").unlink()
    _prepare_sample(data, customers=10, order_lines=20, seed=2)
    assert "not generated by personas demo" in " ".join(capsys.readouterr().out.split())
    assert len((data / "orders.csv").read_text(encoding="utf-8").splitlines()) == 501


def test_help_shows_brackets_and_flags_without_values(runner: CliRunner) -> None:
    result = runner.invoke(app, ["status", "--help"])
    assert "Post to [notify] webhook_url unless fresh." in result.stdout
    json_line = next(line for line in result.stdout.splitlines() if "--json" in line)
    assert json_line.split() == ["--json", "Print", "JSON", "for", "machines."]


def test_typed_parquet_numbers_too_large_are_quarantined_as_their_text(
    runner: CliRunner, tmp_path: Path
) -> None:
    import polars as pl

    pl.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "order_date": [date(2024, 1, 1), date(2024, 1, 2)],
            "quantity": pl.Series([2, 1], dtype=pl.Int64),
            "unit_price": pl.Series([50, 2**63 + 5], dtype=pl.UInt64),  # beyond an Int64
        }
    ).write_parquet(tmp_path / "orders.parquet")
    config = write(
        tmp_path / "p.toml",
        '[sources.orders]\npath = "orders.parquet"\nmax_rejected_share = 0.5\n',
    )
    result = runner.invoke(app, ["refresh", "--config", str(config), "--as-of", "2024-06-01"])
    assert result.exit_code == 0, result.output
    rows = read_view(tmp_path, "select customer_id, revenue from personas.customer_segments")
    assert rows == [("C1", Decimal("100"))]
    problems = read_view(
        tmp_path, 'select distinct row_number, "column", value from personas.quarantine'
    )
    assert (2, "unit_price", "9223372036854775813") in problems
    assert {row for row, _, _ in problems} == {2}
