"""A database orders source read by Spark's executors through JDBC (`[engine] jdbc`).

Produces:
- `jdbc_location(url)`: the JDBC URL and connection properties of a SQLAlchemy URL
  (PostgreSQL, MySQL, MariaDB, SQL Server, Oracle, SQLite; the URL's query
  parameters, such as `sslmode`, become properties);
- `jdbc_rows(session, source, ...)`: the table or query as a Spark DataFrame, read by
  one task in the database's order, or with a partition column by `parts` tasks side
  by side (its range, found by one query, cut into equal parts), and the columns the
  database types as numbers.

The database's JDBC driver must be on Spark's classpath (`[engine] conf`
`"spark.jars"` or `"spark.jars.packages"`): Spark, not this module, loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from engines.spark_lines import cause
from sources.errors import SourceError
from warehouse.engine import redact

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from config.settings import SourceSettings

# The JDBC form of each SQLAlchemy dialect (its driver name after `+` does not matter).
_JDBC = {
    "postgresql": "jdbc:postgresql://{host}:{port}/{database}",
    "mysql": "jdbc:mysql://{host}:{port}/{database}",
    "mariadb": "jdbc:mariadb://{host}:{port}/{database}",
    "mssql": "jdbc:sqlserver://{host}:{port};databaseName={database}",
    "oracle": "jdbc:oracle:thin:@//{host}:{port}/{database}",
}
_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433, "oracle": 1521}
# The driver class of each JDBC subprotocol: a jar given to Spark (`spark.jars`) is loaded
# by Spark's own class loader, where Java's DriverManager does not look by itself.
_DRIVERS = {
    "postgresql": "org.postgresql.Driver",
    "mysql": "com.mysql.cj.jdbc.Driver",
    "mariadb": "org.mariadb.jdbc.Driver",
    "sqlserver": "com.microsoft.sqlserver.jdbc.SQLServerDriver",
    "oracle": "oracle.jdbc.OracleDriver",
    "sqlite": "org.sqlite.JDBC",
}


def jdbc_location(url: str) -> tuple[str, dict[str, str]]:
    """The JDBC URL of SQLAlchemy `url` and its properties (user, password, the URL's
    query parameters).

    Raises:
        SourceError: no JDBC form is known for the URL's database (give
            `[engine] jdbc_url`).
    """
    parsed = make_url(url)
    dialect = parsed.get_backend_name()
    properties = {key: str(value) for key, value in sorted(parsed.query.items())}
    if parsed.username:
        properties["user"] = parsed.username
    if parsed.password:
        properties["password"] = str(parsed.password)
    if dialect == "sqlite":
        return f"jdbc:sqlite:{parsed.database}", properties
    if dialect not in _JDBC:
        raise SourceError(
            f"engine.jdbc: no JDBC URL is known for a {dialect} database: give it as "
            "[engine] jdbc_url"
        )
    location = _JDBC[dialect].format(
        host=parsed.host or "localhost",
        port=parsed.port or _PORTS[dialect],
        database=parsed.database or "",
    )
    return location, properties


def jdbc_rows(
    session: SparkSession,
    name: str,
    source: SourceSettings,
    *,
    jdbc_url: str | None,
    partition_column: str | None,
    parts: int,
) -> tuple[DataFrame, set[str]]:
    """Source `name`'s table or query read by Spark through JDBC, and its columns the
    database types as numbers.

    Raises:
        SourceError: the database cannot be reached, the driver is not on Spark's
            classpath, the table or query fails, or the partition column is not in it.
    """
    from pyspark.sql.types import NumericType

    assert source.url is not None
    secret = source.url.get_secret_value()
    location, properties = jdbc_location(secret) if jdbc_url is None else (jdbc_url, {})
    relation = source.table if source.table is not None else f"({source.query}) personas_source"
    # Timestamps without a zone stay so (as SQLAlchemy reads them), not moved to UTC.
    options = {"url": location, "preferTimestampNTZ": "true", "dbtable": relation, **properties}
    subprotocol = location.split(":")[1] if location.startswith("jdbc:") else ""
    if subprotocol in _DRIVERS:
        options.setdefault("driver", _DRIVERS[subprotocol])
    try:
        frame = session.read.format("jdbc").options(pushDownAggregate="true", **options).load()
        if partition_column is not None:
            if partition_column not in frame.columns:
                raise SourceError(
                    f"engine.jdbc_partition_column: {partition_column!r} is not a column of "
                    f"sources.{name} (its columns: {', '.join(frame.columns)})"
                )
            low, high = _bounds(frame, partition_column)
            if low is not None:
                frame = (
                    session.read.format("jdbc")
                    .options(
                        partitionColumn=partition_column,
                        lowerBound=str(low),
                        upperBound=str(high),
                        numPartitions=str(parts),
                        **options,
                    )
                    .load()
                )
        typed = {
            field.name for field in frame.schema.fields if isinstance(field.dataType, NumericType)
        }
    except SourceError:
        raise
    except Exception as exc:  # Spark's own error, however it wraps it
        raise SourceError(
            f"sources.{name}: Spark cannot read from the database: {redact(cause(exc), secret)}"
        ) from None
    return frame, typed


def _bounds(frame: DataFrame, column: str) -> tuple[object, object]:
    """The least and greatest value of `column`: the database computes them (Spark pushes
    the aggregate down, quoting the column as the database quotes it)."""
    from pyspark.sql import functions as F

    (row,) = frame.agg(F.min(F.col(f"`{column}`")), F.max(F.col(f"`{column}`"))).collect()
    return row[0], row[1]
