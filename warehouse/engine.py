"""The one place that turns a URL into a SQLAlchemy engine, and keeps its password out of sight.

Produces engines for any SQLAlchemy URL (DuckDB embedded by default,
PostgreSQL in production), creating a DuckDB file's directory on first use,
`display_url`, the one form of a URL any output shows (password and secret
query parameters such as `?password=` or `?motherduck_token=` as ***), and
`redact`, which strips those secrets from any text before it is logged or
shown.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, quote_plus

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


# Query parameters that carry a secret: ?password=, ?sslpassword=, ?motherduck_token=,
# ?api_key=, ?access_key=, ?secret=, ?auth=, ?sig= …
_SECRET_PARAMETER = re.compile(r"pass|pwd|secret|token|key|auth|credential|signature|^sig$", re.I)
HIDDEN = "***"


def _is_secret(parameter: str) -> bool:
    return bool(_SECRET_PARAMETER.search(parameter))


def display_url(url: str | URL) -> str:
    """The URL with its password and every secret query parameter replaced by ***: the one
    form of a URL that logs, messages, reports, tables and notifications show."""
    parsed = make_url(url)
    query = {
        name: ((HIDDEN,) * len(value) if isinstance(value, tuple) else HIDDEN)
        if _is_secret(name)
        else value
        for name, value in parsed.query.items()
    }
    shown = parsed.set(query=query).render_as_string(hide_password=True)
    return shown.replace("%2A%2A%2A", HIDDEN)  # the URL quoting of ***


def url_secrets(url: str | URL) -> list[str]:
    """The secret parts of a URL: its password and the values of secret query parameters."""
    parsed = make_url(url)
    found = [str(parsed.password)] if parsed.password else []
    for name, value in parsed.query.items():
        if _is_secret(name):
            found += list(value) if isinstance(value, tuple) else [value]
    return [secret for secret in found if secret]


def redact(text: str, url: str | URL) -> str:
    """`text` with every secret of the URL (password, secret parameters) replaced by ***,
    as written and as URL-quoted."""
    for secret in sorted(url_secrets(url), key=len, reverse=True):
        # longest form first, in a fixed order: a set's order follows PYTHONHASHSEED, and
        # replacing "p%" before "p%25" would leave "***25" on some seeds only
        forms = {secret, quote(secret, safe=""), quote_plus(secret)}
        for form in sorted(forms, key=lambda f: (-len(f), f)):
            text = text.replace(form, HIDDEN)
    return text
