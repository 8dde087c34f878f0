"""A password in a warehouse or source URL never shows in output, logs, errors or tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import ORDERS_CSV, run_cli, write

CANARY = "Canary-pw-7f3e9b"

pytestmark = pytest.mark.postgres


def with_password(url: str, form: str = "userinfo") -> str:
    # The local server trusts 127.0.0.1, so any password is accepted and ignored.
    parsed = sa.engine.make_url(url)
    if form == "query":  # libpq reads ?password= too
        parsed = parsed.set(query={"password": CANARY, "application_name": "personas-test"})
    else:
        parsed = parsed.set(password=CANARY)
    return parsed.render_as_string(hide_password=False)


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


@pytest.mark.parametrize("form", ["userinfo", "query"])
def test_the_canary_password_appears_nowhere(
    postgres_url: str, prefect_api: str, tmp_path: Path, form: str, webhook
) -> None:
    hook, received = webhook
    warehouse_url = with_password(postgres_url, form)
    write(tmp_path / "data" / "orders.csv", ORDERS_CSV)
    config = write(tmp_path / "p.toml", '[sources.orders]\npath = "data/orders.csv"\n')
    env = {"PERSONAS_WAREHOUSE__URL": warehouse_url, "PERSONAS_NOTIFY__WEBHOOK_URL": hook}
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
    shown = "postgres:***@" if form == "userinfo" else "password=***"
    (error,) = [line for line in down.stderr.splitlines() if line.startswith("error:")]
    assert error.startswith("error: warehouse postgresql+psycopg://") and shown in error
    outputs += [down.stdout, down.stderr]
    reports = [p.read_text(encoding="utf-8") for p in tmp_path.glob("reports/*/*.html")]
    assert reports  # the refresh report was written and is scanned too
    events = [json.dumps(event) for event in received]
    assert any('"refresh_failed"' in event for event in events)  # the bad run notified
    everything = "\n".join([*outputs, *reports, *events]) + all_text_in(postgres_url)
    assert CANARY not in everything
    assert "canary" in everything  # the reason was recorded: the scan did read the tables


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://u:s3cr%40t@h/db", "postgresql+psycopg://u:***@h/db"),
        (
            "postgresql+psycopg://u@h/db?password=s3cr%40t&sslmode=require",
            "postgresql+psycopg://u@h/db?password=***&sslmode=require",
        ),
        (
            "duckdb:///md.duckdb?motherduck_token=s3cr%40t",
            "duckdb:///md.duckdb?motherduck_token=***",
        ),
        (
            "snowflake://u@acct/db?private_key=s3cr%40t&warehouse=w",
            "snowflake://u@acct/db?private_key=***&warehouse=w",
        ),
    ],
)
def test_every_url_form_is_shown_without_its_secrets(url: str, shown: str) -> None:
    from warehouse.engine import display_url, redact

    assert display_url(url) == shown
    message = f"could not connect with s3cr@t (quoted: s3cr%40t) to {url}"
    assert "s3cr" not in redact(message, url)


@pytest.mark.parametrize("seed", ["0", "1", "2", "3", "4"])
def test_redaction_does_not_depend_on_the_hash_seed(seed: str) -> None:
    # "p%" is part of its own quoted form "p%25": the longer form must go first on any
    # seed, or "***25" would be left on some
    code = (
        "from warehouse.engine import redact; "
        "print(redact('pw p%25 and p%', 'postgresql://u:p%25@h/db'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONHASHSEED": seed},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == "pw *** and ***"
