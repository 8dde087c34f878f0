"""The one place that turns a URL into a SQLAlchemy engine, and keeps its password out of sight.

Produces engines for any SQLAlchemy URL (DuckDB embedded by default,
PostgreSQL in production), creating a DuckDB file's directory on first use,
and `redact`, which strips a URL's password from any text before it is
logged or shown.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url


def create_engine_from_url(url: str | URL) -> sa.Engine:
    """An engine for `url`; for a DuckDB file, its directory is created if missing."""
    parsed = make_url(url)
    if is_duckdb(parsed) and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return sa.create_engine(parsed)


def is_duckdb(url: str | URL) -> bool:
    """True when the URL names a DuckDB database."""
    return make_url(url).get_backend_name() == "duckdb"


def display_url(url: str | URL) -> str:
    """The URL with its password replaced by ***, for logs and messages."""
    return make_url(url).render_as_string(hide_password=True)


def redact(text: str, url: str | URL) -> str:
    """`text` with the URL's password (if any) replaced by ***."""
    password = make_url(url).password
    return text.replace(str(password), "***") if password else text
