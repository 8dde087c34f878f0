"""A password in a warehouse or source URL never shows in output, logs, errors or tables."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import ORDERS_CSV, run_cli, write

CANARY = "Canary-pw-7f3e9b"

pytestmark = pytest.mark.postgres


def with_password(url: str) -> str:
    # The local server trusts 127.0.0.1, so any password is accepted and ignored.
    return sa.engine.make_url(url).set(password=CANARY).render_as_string(hide_password=False)


def all_text_in(url: str) -> str:
    engine = sa.create_engine(url)
    texts = []
    with engine.connect() as connection:
        tables = connection.exec_driver_sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'personas'"
        ).scalars()
        for table in list(tables):
            rows = connection.exec_driver_sql(f'SELECT * FROM personas."{table}"').all()
            texts.extend(str(value) for row in rows for value in row)
    engine.dispose()
    return "\n".join(texts)


def test_the_canary_password_appears_nowhere(
    postgres_url: str, prefect_api: str, tmp_path: Path
) -> None:
    warehouse_url = with_password(postgres_url)
    write(tmp_path / "data" / "orders.csv", ORDERS_CSV)
    config = write(tmp_path / "p.toml", '[sources.orders]\npath = "data/orders.csv"\n')
    env = {"PERSONAS_WAREHOUSE__URL": warehouse_url}
    outputs = []
    good = run_cli(
        ["refresh", "--config", str(config), "--as-of", "2024-06-01", "--reason", "canary"],
        prefect_api=prefect_api,
        cwd=tmp_path,
        env=env,
    )
    assert good.returncode == 0, good.stderr[-2000:]
    outputs += [good.stdout, good.stderr]
    write(tmp_path / "data" / "orders.csv", "customer_id,order_date,amount\n,x,1\n")
    bad = run_cli(
        ["refresh", "--config", str(config), "--as-of", "2024-06-02"],
        prefect_api=prefect_api,
        cwd=tmp_path,
        env=env,
    )
    assert bad.returncode == 1
    outputs += [bad.stdout, bad.stderr]
    status = run_cli(
        ["status", "--config", str(config)], prefect_api=prefect_api, cwd=tmp_path, env=env
    )
    assert status.returncode == 0
    outputs += [status.stdout, status.stderr]
    # a warehouse that refuses the connection: the error names it without the password
    unreachable = sa.engine.make_url(warehouse_url).set(port=1).render_as_string(False)
    down = run_cli(
        ["status", "--config", str(config)],
        prefect_api=prefect_api,
        cwd=tmp_path,
        env={"PERSONAS_WAREHOUSE__URL": unreachable},
    )
    assert down.returncode == 1
    assert (
        down.stderr.strip()
        .splitlines()[-1]
        .startswith("error: warehouse postgresql+psycopg://postgres:***@")
    )
    outputs += [down.stdout, down.stderr]
    everything = "\n".join(outputs) + all_text_in(postgres_url)
    assert CANARY not in everything
    assert "canary" in everything  # the reason was recorded: the scan did read the tables
