"""The data dictionary of the published tables, rendered as Markdown from the table specs.

Produces the README's "Output tables" reference: one section per table with
its grain and key, and a row per column (name, SQL type, what it may hold,
meaning), all from the one declaration of each table. Run
`python -m warehouse.dictionary` to print it; a test keeps the README in step.
"""

from __future__ import annotations

import sqlalchemy as sa

from warehouse.tables import (
    OUTPUT_TABLES,
    REFRESH_ID,
    AtLeast,
    Between,
    InSet,
    RevenueShare,
    Rule,
    Share,
    ValueCheck,
)

MONEY_SCALE_SHOWN = 4  # the default [money] scale, for the types shown


def render_markdown() -> str:
    """Markdown tables describing every published view and its columns."""
    dialect = sa.create_engine("postgresql+psycopg://").dialect  # types shown as PostgreSQL's
    parts: list[str] = []
    for spec in OUTPUT_TABLES:
        key = f" Key: {', '.join(f'`{c}`' for c in spec.key)}." if spec.key else ""
        parts.append(
            f"#### `{spec.name}` (and `{spec.name}_history`)\n\nGrain: {spec.grain}.{key}\n"
        )
        parts.append("| column | type | holds | meaning |\n|---|---|---|---|")
        for column in (REFRESH_ID, *spec.columns):
            sql_type = column.type(MONEY_SCALE_SHOWN).compile(dialect=dialect)
            parts.append(
                f"| `{column.name}` | {sql_type} | {holds(column.rule)} | {column.description} |"
            )
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def holds(rule: Rule) -> str:
    """What a column may hold, in words: key, never null or null allowed, and its checks."""
    presence = "key" if rule.unique else "never null" if not rule.nullable else "null allowed"
    return "; ".join([presence, *(_check_words(check) for check in rule.checks)])


def _check_words(check: ValueCheck) -> str:
    if isinstance(check, InSet):
        return "one of " + ", ".join(check.values)
    if isinstance(check, AtLeast):
        return f"≥ {check.minimum}"
    if isinstance(check, Between):
        return f"{check.low}–{check.high}"
    if isinstance(check, Share):
        return "0–1"
    if isinstance(check, RevenueShare):
        return "0–1 unless some revenue is negative"
    raise TypeError(f"no words for {check!r}")


if __name__ == "__main__":
    print(render_markdown(), end="")
