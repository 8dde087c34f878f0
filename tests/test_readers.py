"""A BI reader polling the current views while 50 refreshes publish back to back.

Every poll is one statement (one snapshot, as a dashboard query is) over the
pointer, `customer_segments` and `refresh_runs`: it must always see one whole
refresh, with exactly that refresh's rows, never a mix, a gap or a partial load.
"""

from __future__ import annotations

import threading

import sqlalchemy as sa

from tests.publish_worker import run_for, tables_for
from warehouse.publish import Warehouse

REFRESHES = 50


def customers_in(refresh_id: str) -> int:
    """How many customers refresh `r<k>` publishes: 1 to 7, so a torn load shows."""
    return int(refresh_id[1:]) % 7 + 1


def test_a_reader_never_sees_a_torn_refresh_during_50_back_to_back_refreshes(
    warehouse_url: str,
) -> None:
    writer = Warehouse(warehouse_url, schema="personas", scale=4)
    writer.ensure_schema()
    writer.publish(tables_for({"c0": "1"}), run_for("r0", "r0-run"))
    reader = Warehouse(warehouse_url, schema="personas", scale=4)
    q = reader._qualified
    poll = sa.text(
        f"SELECT p.refresh_id, "
        f"(SELECT count(*) FROM {q('customer_segments')}), "
        f"(SELECT count(DISTINCT refresh_id) FROM {q('customer_segments')}), "
        f"(SELECT min(refresh_id) FROM {q('customer_segments')}), "
        f"(SELECT count(*) FROM {q('refresh_runs')}), "
        f"(SELECT min(refresh_id) FROM {q('refresh_runs')}) "
        f"FROM {q('_current_refresh')} AS p"
    )
    failures: list[BaseException] = []

    def publish_back_to_back() -> None:
        try:
            for k in range(1, REFRESHES + 1):
                refresh_id = f"r{k}"
                customers = {f"{refresh_id}-c{i}": str(i) for i in range(customers_in(refresh_id))}
                writer.publish(tables_for(customers), run_for(refresh_id, f"{refresh_id}-run"))
        except BaseException as exc:  # surfaced by the main thread's assertion
            failures.append(exc)

    thread = threading.Thread(target=publish_back_to_back)
    seen: list[tuple] = []
    with reader.engine.connect() as connection:
        thread.start()
        while thread.is_alive() or not seen:
            seen.append(tuple(connection.execute(poll).one()))
            connection.rollback()  # end the snapshot: the next poll sees newer refreshes
        thread.join()
        seen.append(tuple(connection.execute(poll).one()))
    assert not failures, failures
    torn = [row for row in seen if row != (row[0], customers_in(row[0]), 1, row[0], 1, row[0])]
    assert torn == [], torn[:5]
    distinct = {row[0] for row in seen}
    assert seen[-1][0] == f"r{REFRESHES}"
    # It really ran alongside them: on both backends it sees most of the 51 refreshes.
    assert len(distinct) >= REFRESHES // 5, distinct
    writer.dispose()
    reader.dispose()
