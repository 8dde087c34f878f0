"""The `refresh` flow under a real temporary Prefect API, and its stages as plain functions."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from prefect.client.orchestration import get_client

from config.loader import load_config
from flows.refresh import refresh
from pipeline.refresh import refresh_id_for
from pipeline.stages import DataValidationError, extract, validate
from tests.conftest import read_view, write


async def _task_names(flow_run_id: str) -> list[str]:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    async with get_client() as client:
        runs = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
            sort=TaskRunSort.EXPECTED_START_TIME_ASC,
            limit=50,
        )
    return sorted(run.name.rsplit("-", 1)[0] for run in runs)


def test_the_flow_runs_each_stage_as_a_task_and_publishes(
    prefect_api: str, orders_only: Path
) -> None:
    # Data Docs asked for: the checks run through Great Expectations, which writes them.
    with orders_only.open("a", encoding="utf-8") as config_file:
        config_file.write("\n[quality]\ndata_docs = true\n")
    state = refresh(
        config_path=orders_only, as_of=date(2024, 6, 1), reason="flow test", return_state=True
    )
    assert state.is_completed()
    result = state.result()
    config = load_config(orders_only)
    assert result.refresh_id == refresh_id_for(date(2024, 6, 1), config.config_hash)
    assert result.tables["customer_segments"].height == 3
    names = asyncio.run(_task_names(str(state.state_details.flow_run_id)))
    assert names == [
        "check published tables",
        "extract",
        "open warehouse",
        "profile",
        "publish",
        "report",
        "resolve identities",
        "segment movement",
        "transform",
        "validate",
    ]
    assert read_view(orders_only.parent, "select reason from personas.refresh_runs") == [
        ("flow test",)
    ]
    assert (result.report_dir / "data_docs" / "index.html").is_file()  # GX wrote its docs
    assert "expectations passed" in (result.report_dir / "report.html").read_text("utf-8")


def test_a_failed_flow_run_is_marked_failed_and_publishes_nothing(
    prefect_api: str, orders_only: Path
) -> None:
    write(orders_only.parent / "data" / "orders.csv", "customer_id,order_date\n,2024-01-01\n")
    state = refresh(config_path=orders_only, as_of=date(2024, 6, 1), return_state=True)
    assert state.is_failed()
    with pytest.raises(DataValidationError):
        state.result()
    assert read_view(orders_only.parent, "select count(*) from personas.customer_segments") == [
        (0,)
    ]


def test_validate_task_collects_every_problem_in_one_pass(orders_only: Path) -> None:
    write(
        orders_only.parent / "data" / "orders.csv",
        "customer_id,order_date,amount\n"
        "a,2024-01-01,1\n"
        ",2024-01-02,2\n"
        "c,yesterday,3\n"
        "d,2024-01-04,3.14159\n",
    )
    settings = load_config(orders_only).settings
    raw = extract(settings)
    with pytest.raises(DataValidationError) as caught:
        validate(raw, settings)
    problems = caught.value.problems.select("row_number", "column", "value")
    assert problems.sort("row_number").rows() == [
        (2, "customer_id", None),
        (3, "order_date", "yesterday"),
        (4, "amount", "3.14159"),
    ]


def test_extract_keeps_leading_zeros_and_the_row_number(orders_only: Path) -> None:
    raw = extract(load_config(orders_only).settings)
    orders = raw["orders"]
    assert orders["customer_id"].to_list()[:2] == ["00017", "00017"]
    assert orders["_row_number"].to_list() == [1, 2, 3, 4, 5]
    assert orders.schema["amount"] == pl.String
