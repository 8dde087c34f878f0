"""The data dictionary of the published tables, rendered as Markdown from the table specs.

Produces the README's "Output tables" reference: one section per table with
its grain and a row per column (name, SQL type, meaning). Run
`python -m warehouse.dictionary` to print it; a test keeps the README in step.
"""

from __future__ import annotations

import sqlalchemy as sa

from warehouse.tables import OUTPUT_TABLES, REFRESH_ID

MONEY_SCALE_SHOWN = 4  # the default [money] scale, for the types shown


def render_markdown() -> str:
    """Markdown tables describing every published view and its columns."""
    dialect = sa.create_engine("postgresql+psycopg://").dialect  # types shown as PostgreSQL's
    parts: list[str] = []
    for spec in OUTPUT_TABLES:
        parts.append(f"#### `{spec.name}` (and `{spec.name}_history`)\n\nGrain: {spec.grain}.\n")
        parts.append("| column | type | meaning |\n|---|---|---|")
        for column in (REFRESH_ID, *spec.columns):
            sql_type = column.type(MONEY_SCALE_SHOWN).compile(dialect=dialect)
            parts.append(f"| `{column.name}` | {sql_type} | {column.description} |")
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")
