"""What the command line prints: the refresh summary and the validation tables.

Produces `print_refresh_summary` (tiers, Pareto, the persona card, leads, where
the report and the quarantine are, what is current) and `print_validation`
(per source: rows, accepted, rejected, cleared, the limit and a verdict; then
the problems by kind), and for `status` the recent refreshes (`print_runs`) or
their JSON document (`status_document`). The commands in `flows.cli` decide; these only render.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import polars as pl
from rich.console import Console
from rich.table import Table

from config.settings import Settings
from flows.freshness import Freshness
from quality.reports import unrecorded_runs_path
from schemas.quarantine import CLEARED
from warehouse.tables import OUTPUT_TABLES

if TYPE_CHECKING:
    from pipeline.refresh import RefreshResult
    from warehouse.publish import Warehouse


def print_validation(
    console: Console,
    settings: Settings,
    counts: dict[str, tuple[int, int]],
    quarantine: pl.DataFrame,
    *,
    blocking: pl.DataFrame | None = None,
) -> None:
    """Per source: rows, rejected, cleared, limit, verdict; then the problems by kind."""
    cleared = quarantine.filter(pl.col("action") == CLEARED).group_by("source").len()
    cleared_by_source = dict(cleared.iter_rows())
    unusable = (
        set()
        if blocking is None
        else set(blocking.filter(pl.col("row_number").is_null())["source"].to_list())
    )
    table = Table(title="Sources")
    for column in ("source", "rows", "accepted", "rejected", "values cleared", "limit", "verdict"):
        table.add_column(column, justify="left" if column in ("source", "verdict") else "right")
    for name, (rows_in, rejected) in counts.items():
        limit = settings.sources[name].max_rejected_share
        over = rows_in and rejected > limit * rows_in
        verdict = "unusable" if name in unusable else "over limit" if over else "ok"
        share = f" ({rejected / rows_in:.1%})" if rows_in and rejected else ""
        table.add_row(
            name, f"{rows_in:,}", f"{rows_in - rejected:,}", f"{rejected:,}{share}",
            f"{cleared_by_source.get(name, 0):,}", f"{float(limit):.1%}", verdict,
        )  # fmt: skip
    console.print(table)
    problems = (
        quarantine
        if blocking is None
        else pl.concat([quarantine.select(blocking.columns), blocking], how="vertical").unique(
            maintain_order=True
        )
    )
    if problems.is_empty():
        return
    kinds = (
        problems.group_by("source", "column", "problem", maintain_order=True)
        .agg(
            rows=pl.len(),
            first_rows=pl.col("row_number").drop_nulls().head(3),
            example=pl.col("value").drop_nulls().first(),
        )
        .sort("rows", descending=True, maintain_order=True)
    )
    table = Table(title=f"Problems ({problems.height:,})")
    for column in ("source", "column", "problem", "rows", "first rows", "example value"):
        table.add_column(column, overflow="fold", justify="right" if column == "rows" else "left")
    for row in kinds.head(30).iter_rows(named=True):
        table.add_row(
            row["source"], row["column"] or "(row)", row["problem"], f"{row['rows']:,}",
            ", ".join(str(n) for n in row["first_rows"]) or "(file)",
            "" if row["example"] is None else repr(row["example"]),
        )  # fmt: skip
    console.print(table)


def print_refresh_summary(console: Console, result: RefreshResult) -> None:
    """The refresh's headline figures, and where its tables, report and quarantine are."""
    tiers = result.tables["tier_summary"]
    pareto = result.tables["pareto_summary"].row(0, named=True)
    table = Table(title=f"Revenue tiers as of {result.as_of} (sales of each tier's purchases)")
    columns = ("tier", "from", "purchases", "sales revenue", "share", "buyers", "customers", "key")
    for column in columns:
        table.add_column(column, justify="left" if column == "tier" else "right")
    for row in tiers.iter_rows(named=True):
        share, low = row["sales_share"], row["lower_bound"]
        key = ("yes" + (" (>50%)" if row["is_majority"] else " (below 50%)")) * row["is_key_tier"]
        table.add_row(
            row["tier"],
            "" if low is None else f"{low:,.0f}",
            f"{row['purchases']:,}",
            f"{row['sales_revenue']:,.0f}",
            "" if share is None else f"{share:.1%}",
            f"{row['buying_customers']:,}",
            f"{row['customers']:,}",
            key,
        )
    console.print(table)
    key_row = tiers.filter("is_key_tier").row(0, named=True)
    console.print(f"Tiers by {key_row['bounds_basis']}", markup=False)
    console.print(
        f"Key tier {key_row['tier']} ({key_row['decided_by']}): {key_row['key_reason']}",
        markup=False,
    )
    top = pareto["top_share_revenue"]
    console.print(
        f"Pareto: the top {pareto['top_share_customers']:.0%} of customers "
        f"({pareto['top_customers']:,} of {pareto['customers']:,}) make "
        f"{'n/a' if top is None else f'{top:.1%}'} of revenue; "
        f"customers needed for 80% of revenue: {pareto['customers_for_80pct']:,}; "
        f"Gini {pareto['gini'] or 0:.2f}"
    )
    for card in result.tables["persona_cards"].iter_rows(named=True):
        console.print(
            f"Persona {card['persona_id']}: {card['name']} — {card['best_customers']:,} best "
            f"customers of the {card['key_tier']} tier ({card['best_basis']})"
        )
        if card["profile_note"]:
            console.print(f"  warning: {card['profile_note']}", markup=False)
        if card["goals"]:
            console.print(f"  goals: {card['goals']}")
        if card["pain_points"]:
            console.print(f"  pain points: {card['pain_points']}")
        if card["quote"]:
            console.print(f"  quote: “{card['quote']}”")
    leads = result.tables["lead_scores"]
    if leads.height:
        auc = "" if result.lead_score_auc is None else f"; AUC {result.lead_score_auc:.2f}"
        console.print(
            f"Leads: {int(leads['is_target'].sum()):,} of {leads.height:,} are target "
            f"customers{auc}"
        )
    _print_customer_value(console, result.tables)
    docs = result.report_dir / "data_docs" / "index.html"
    console.print(
        f"Report: {result.report_path or 'not written (see the warning above)'}"
        + (f" (Data Docs: {docs.parent.name}/{docs.name})" if docs.exists() else "")
    )
    if result.rows_rejected:
        console.print(
            f"Quarantine: {result.rows_rejected:,} of {result.rows_in:,} input rows rejected "
            f"(table quarantine; {result.report_dir / 'quarantine.csv'})"
        )
    views = ", ".join(spec.name for spec in OUTPUT_TABLES)
    if not result.is_current:
        console.print(
            f"Backfill: published refresh {result.refresh_id} (as_of {result.as_of}) to the "
            f"_history tables of {result.warehouse_url}, schema {result.schema}, only. The "
            f"current refresh stays the one as_of {result.current_as_of}, which is newer; "
            "to make this one current, run again with --make-current.",
            highlight=False,
        )
        return
    console.print(
        f"Published refresh {result.refresh_id} to {result.warehouse_url}, schema "
        f"{result.schema}: views {views} (each with a _history table). "
        f"Current as_of {result.as_of}. Next refresh due {result.next_due_at:%Y-%m-%d}."
    )


def _print_customer_value(console: Console, tables: dict[str, pl.DataFrame]) -> None:
    """The customer-value models in a line or two, when [clv] fitted (or tried to)."""
    model = {
        (row["model"], row["measure"]): row for row in tables["clv_model"].iter_rows(named=True)
    }
    if not model:
        return
    fitted = model["bg_nbd", "fitted"]
    if not fitted["value"]:
        console.print(f"Customer value: {fitted['note']}", markup=False)
        return
    customers = tables["customer_segments"]
    value = customers["predicted_clv"].sum()
    spend = (
        ""
        if customers["predicted_clv"].null_count() == customers.height
        else (f"; predicted spend of all customers {value:,.0f}")
    )
    console.print(
        f"Customer value: mean P(alive) {customers['p_alive'].mean():.2f}; "
        f"{customers['expected_purchases'].sum():,.0f} purchases expected over the horizon"
        f"{spend} (table clv_model)",
        markup=False,
    )
    if ("holdout", "mae_per_customer") in model:
        error = model["holdout", "aggregate_error"]["value"]
        console.print(
            f"  holdout: {model['holdout', 'predicted_purchases']['value']:,.0f} purchases "
            f"predicted, {model['holdout', 'actual_purchases']['value']:,.0f} made"
            f"{'' if error is None else f' ({error:+.1%})'}; MAE "
            f"{model['holdout', 'mae_per_customer']['value']:.3f} per customer",
            markup=False,
        )


def print_runs(
    console: Console,
    display_url: str,
    schema: str,
    runs: pl.DataFrame,
    current: dict[str, object] | None,
) -> None:
    """The recent refreshes, two lines each, and which one is current."""
    console.print(f"Refreshes in {display_url}, schema {schema}:")
    # Two lines per refresh instead of a table: readable on any terminal width, never cut.
    current_as_of = None if current is None else current["as_of"]
    for run in runs.iter_rows(named=True):
        marker = "▶" if run["is_current"] else " "
        kept = (
            " (history only: older as_of than the current refresh)"
            if run["status"] == "succeeded"
            and not run["is_current"]
            and current_as_of is not None
            and run["as_of"] < current_as_of
            else ""
        )
        customers = "" if run["customers"] is None else f" · {run['customers']:,} customers"
        console.print(
            f"{marker} {run['refresh_id']}  {run['status']}  as_of {run['as_of']}  "
            f"at {run['finished_at']:%Y-%m-%d %H:%M}Z{kept}",
            highlight=False,
            markup=False,
        )
        console.print(
            f"    {run['trigger']}{customers}"
            + (f" · {run['error'] or run['reason']}" if run["error"] or run["reason"] else ""),
            highlight=False,
            markup=False,
        )
    if current is None:
        console.print("No successful refresh is current.")
    else:
        console.print(
            f"Current refresh: {current['refresh_id']} (as_of {current['as_of']})",
            highlight=False,
        )


def unrecorded_failures(settings: Settings) -> list[dict[str, object]]:
    """Failed attempts the warehouse could not take, kept next to the reports."""
    path = unrecorded_runs_path(settings.quality.reports_dir)
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


STATUS_COLUMNS = (
    "refresh_id",
    "run_id",
    "status",
    "trigger",
    "reason",
    "as_of",
    "started_at",
    "finished_at",
    "next_due_at",
    "customers",
    "rows_in",
    "rows_quarantined",
    "error",
    "is_current",
)


def status_document(
    warehouse: Warehouse,
    settings: Settings,
    runs: pl.DataFrame,
    current: dict[str, object] | None,
    state: Freshness,
) -> dict[str, object]:
    """What `status --json` prints: the state, the dates and the recent refreshes."""
    present = [c for c in STATUS_COLUMNS if c in runs.columns]
    return {
        "warehouse": warehouse.display_url,
        "schema": warehouse.schema,
        "state": state.state,
        "exit_code": state.exit_code,
        "summary": state.describe(),
        "cadence_months": settings.schedule.cadence_months,
        "current_refresh_id": None if current is None else current["refresh_id"],
        "current_as_of": None if current is None else current["as_of"],
        "last_success_at": state.last_success_at,
        "next_due_at": state.next_due_at,
        "days_overdue": state.days_overdue,
        "refreshes": runs.select(present).to_dicts() if not runs.is_empty() else [],
        "unrecorded_failures": unrecorded_failures(settings),
    }
