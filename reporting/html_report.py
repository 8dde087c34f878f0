"""The refresh report: one self-contained HTML file per refresh, charts included.

Produces `render_report(tables, facts) -> str` and `write_report(...)`, the
page written to `reports/<refresh_id>/report.html`: the tier revenue shares,
the Pareto curve, the RFM grid, segment sizes per base, the persona cards, the
segment movement and the data-quality summary. Charts are inline SVG drawn
here from the small summary tables (at most a few hundred points), so the file
needs no script, no network and no CDN: it renders offline, in any browser,
and in a mail attachment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from pathlib import Path

import polars as pl

TIER_COLOURS = {"Large": "#1b5e20", "Medium": "#43a047", "Small": "#a5d6a7"}
WIDTH = 640


@dataclass(frozen=True)
class ReportFacts:
    """What the page says about the run itself."""

    refresh_id: str
    as_of: str
    finished_at: str
    warehouse: str
    rows_in: int
    rows_rejected: int
    next_due_at: str
    currency: str = ""
    current_as_of: str = ""  # the current refresh's as_of after this run (a backfill: newer)
    # the checks the published tables passed ("table: expectation(columns)"); empty: not run
    checks: tuple[str, ...] = ()


def write_report(tables: Mapping[str, pl.DataFrame], facts: ReportFacts, folder: Path) -> Path:
    """Write `report.html` into `folder`; returns its path."""
    path = folder / "report.html"
    path.write_text(render_report(tables, facts), encoding="utf-8")
    return path


def render_report(tables: Mapping[str, pl.DataFrame], facts: ReportFacts) -> str:
    """The whole page."""
    sections = [
        _section("Revenue tiers", _tier_chart(tables["tier_summary"], facts.currency)),
        _section("Pareto curve", _pareto_chart(tables["pareto_curve"], tables["pareto_summary"])),
        _section("RFM grid", _rfm_grid(tables["customer_segments"])),
        _section("Segment sizes", _segment_bars(tables["segment_summary"])),
        _section("Personas", _persona_cards(tables["persona_cards"])),
        _section("Segment movement", _movement(tables["segment_transitions"])),
        _section("Data quality", _quality(tables["quarantine"], facts)),
        _section("Checks of the published tables", _checks(facts.checks)),
    ]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>personas refresh {escape(facts.refresh_id)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }}
h1 {{ font-size: 1.5rem; }} h2 {{ font-size: 1.2rem; border-bottom: 1px solid #ccc; }}
table {{ border-collapse: collapse; margin: .5rem 0; }}
td, th {{ border: 1px solid #ddd; padding: .25rem .5rem; text-align: right; }}
th {{ background: #f4f4f4; }} td.label, th.label {{ text-align: left; }}
svg text {{ font-size: 12px; }} svg text.tick {{ fill: #444; font-size: 11px; }}
.card {{ border: 1px solid #ccc; border-radius: 6px; padding: .75rem 1rem; margin: .5rem 0; }}
.warning {{ color: #8a3b00; }}
.note {{ color: #444; }}
.meta {{ color: #555; }}
</style></head><body>
<h1>personas refresh {escape(facts.refresh_id)}</h1>
<p class="meta">as of {escape(facts.as_of)} · published {escape(facts.finished_at)} UTC ·
{escape(facts.warehouse)} · next refresh due {escape(facts.next_due_at)}</p>
{_current_note(facts)}
{"".join(sections)}
</body></html>
"""


def _current_note(facts: ReportFacts) -> str:
    """Which refresh is current: this one, or (a backfill) a newer one."""
    if not facts.current_as_of or facts.current_as_of == facts.as_of:
        return f'<p class="meta">This refresh is current (as of {escape(facts.as_of)}).</p>'
    return (
        f'<p class="meta"><b>Backfill</b>: this refresh as of {escape(facts.as_of)} is kept '
        f"in history; the current refresh is the newer one as of "
        f"{escape(facts.current_as_of)}.</p>"
    )


def _money(value: object, currency: str) -> str:
    amount = f"{value:,.0f}" if value is not None else "0"
    return f"{amount} {escape(currency)}".strip()


def _section(title: str, body: str) -> str:
    anchor = title.lower().replace(" ", "-")
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>{body}</section>\n'


def _svg(height: int, body: str, label: str) -> str:
    return (
        f'<svg class="chart" role="img" aria-label="{escape(label)}" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg">'
        f"{body}</svg>"
    )


def _tier_chart(tiers: pl.DataFrame, currency: str = "") -> str:
    bars, rows = [], []
    for i, row in enumerate(tiers.iter_rows(named=True)):
        share = row["sales_share"] or 0.0
        width = max(share, 0.0) * (WIDTH - 200)
        y = 10 + i * 40
        colour = TIER_COLOURS.get(row["tier"], "#888")
        bars.append(
            f'<text x="0" y="{y + 20}">{escape(row["tier"])}</text>'
            f'<rect class="bar" x="80" y="{y}" width="{width:.1f}" height="28" fill="{colour}"/>'
            f'<text x="{85 + width:.1f}" y="{y + 20}">{share:.1%}</text>'
        )
        key = " (key tier)" if row["is_key_tier"] else ""
        low = row["lower_bound"]
        rows.append(
            f'<tr><td class="label">{escape(row["tier"])}{key}</td>'
            f"<td>{'' if low is None else _money(low, currency)}</td>"
            f"<td>{row['purchases']:,}</td><td>{_money(row['sales_revenue'], currency)}</td>"
            f"<td>{share:.1%}</td><td>{row['buying_customers']:,}</td>"
            f"<td>{row['customers']:,}</td></tr>"
        )
    table = (
        '<table><tr><th class="label">tier</th><th>from</th><th>purchases</th>'
        "<th>sales revenue</th><th>share</th><th>buying customers</th><th>own customers</th>"
        f"</tr>{''.join(rows)}</table>"
    )
    key_rows = tiers.filter("is_key_tier")
    decision = ""
    if key_rows.height:
        key_row = key_rows.row(0, named=True)
        decision = (
            f'<p class="note">Tiers by {escape(key_row["bounds_basis"])}.</p>'
            f'<p class="note">Key tier {escape(key_row["tier"])} '
            f"({escape(key_row['decided_by'])}): {escape(key_row['key_reason'])}</p>"
        )
    return _svg(10 + 40 * tiers.height, "".join(bars), "tier sales shares") + table + decision


def _pareto_chart(curve: pl.DataFrame, summary: pl.DataFrame) -> str:
    """The Pareto curve with its axes: percent of customers (x) against percent of revenue
    (y), ticks every 20%, and the 20% / 80% guides labelled outside the plot."""
    height, left, top, right, bottom = 300, 56, 14, 120, 250
    plot_w, plot_h = WIDTH - left - right, bottom - top

    def x(pct: float) -> float:
        return left + pct / 100 * plot_w

    def y(share: float) -> float:
        return bottom - min(max(share, 0.0), 1.0) * plot_h

    points = " ".join(
        f"{x(pct):.1f},{y(share or 0):.1f}" for pct, share in curve.sort("customer_pct").iter_rows()
    )
    ticks = []
    for step in range(0, 101, 20):
        ticks.append(
            f'<line x1="{x(step):.1f}" y1="{bottom}" x2="{x(step):.1f}" y2="{bottom + 5}" '
            'stroke="#666"/>'
            f'<text class="tick" x="{x(step):.1f}" y="{bottom + 18}" '
            f'text-anchor="middle">{step}%</text>'
            f'<line x1="{left - 5}" y1="{y(step / 100):.1f}" x2="{left}" '
            f'y2="{y(step / 100):.1f}" stroke="#666"/>'
            f'<text class="tick" x="{left - 8}" y="{y(step / 100) + 4:.1f}" '
            f'text-anchor="end">{step}%</text>'
        )
    body = (
        f'<line x1="{left}" y1="{bottom}" x2="{left + plot_w}" y2="{bottom}" stroke="#666"/>'
        f'<line x1="{left}" y1="{bottom}" x2="{left}" y2="{top}" stroke="#666"/>'
        + "".join(ticks)
        + f'<line x1="{left}" y1="{y(0.8):.1f}" x2="{left + plot_w}" y2="{y(0.8):.1f}" '
        'stroke="#c62828" stroke-dasharray="4"/>'
        f'<line x1="{x(20):.1f}" y1="{bottom}" x2="{x(20):.1f}" y2="{top}" stroke="#c62828" '
        'stroke-dasharray="4"/>'
        f'<polyline class="curve" fill="none" stroke="#1565c0" stroke-width="2" points="{points}"/>'
        # guide labels right of the plot and above it: never on the curve
        f'<text x="{left + plot_w + 6}" y="{y(0.8) + 4:.1f}" fill="#c62828">80% of revenue</text>'
        f'<text x="{x(20):.1f}" y="{top - 2}" text-anchor="middle" fill="#c62828">'
        "20% of customers</text>"
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle">'
        "customers, ranked by revenue (%)</text>"
        f'<text x="14" y="{top + plot_h / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {top + plot_h / 2:.1f})">cumulative revenue (%)</text>'
    )
    facts = summary.row(0, named=True) if summary.height else {}
    top_share = facts.get("top_share_revenue")
    text = (
        f"<p>The top {facts.get('top_share_customers', 0.2):.0%} of customers "
        f"({facts.get('top_customers', 0):,}) make "
        f"{'n/a' if top_share is None else f'{top_share:.1%}'} of revenue; "
        f"{facts.get('customers_for_80pct', 0):,} customers make 80%.</p>"
    )
    return _svg(height, body, "Pareto curve") + text


def _rfm_grid(customers: pl.DataFrame) -> str:
    fm = ((pl.col("f_score") + pl.col("m_score") + 1) // 2).alias("fm")
    grid = customers.group_by("r_score", fm).len().drop_nulls()
    counts = {(r, f): n for r, f, n in grid.iter_rows()}
    peak = max(counts.values(), default=1)
    header = "".join(f"<th>FM {f}</th>" for f in range(1, 6))
    rows = []
    for r in range(5, 0, -1):
        cells = []
        for f in range(1, 6):
            n = counts.get((r, f), 0)
            shade = int(255 - 155 * n / peak)
            cells.append(f'<td style="background: rgb({shade},{shade},255)">{n:,}</td>')
        rows.append(f'<tr><th class="label">R {r}</th>{"".join(cells)}</tr>')
    return (
        f'<table class="rfm"><tr><th></th>{header}</tr>{"".join(rows)}</table>'
        "<p>Customers per recency score (rows) and frequency-monetary score (columns).</p>"
    )


def _segment_bars(segments: pl.DataFrame) -> str:
    """Per base, its segments as bars, largest first, each with its customers and share;
    the label column is as wide as the longest label, so no name is cut."""
    parts = []
    for (base,), rows in segments.group_by("base", maintain_order=True):
        ordered = rows.sort(["customers", "segment"], descending=[True, False])
        total = ordered["customers"].sum() or 1
        longest = max((len(str(s)) for s in ordered["segment"].to_list()), default=8)
        label_w = min(max(longest * 8 + 16, 80), WIDTH // 2)
        bar_room = WIDTH - label_w - 130
        body = []
        for i, (segment, customers) in enumerate(
            ordered.select("segment", "customers").iter_rows()
        ):
            share = customers / total
            width = share * bar_room
            y = 5 + i * 24
            body.append(
                f'<text x="0" y="{y + 15}">{escape(str(segment))}</text>'
                f'<rect class="bar" x="{label_w}" y="{y}" width="{width:.1f}" height="18" '
                'fill="#6a1b9a"/>'
                f'<text x="{label_w + 5 + width:.1f}" y="{y + 15}">'
                f"{customers:,} ({share:.1%})</text>"
            )
        parts.append(f"<h3>{escape(str(base))}</h3>")
        parts.append(_svg(10 + 24 * ordered.height, "".join(body), f"{base} segment sizes"))
    return "".join(parts) or "<p>No segments.</p>"


def _persona_cards(cards: pl.DataFrame) -> str:
    if cards.is_empty():
        return "<p>No persona: too few best customers.</p>"
    parts = []
    for card in cards.iter_rows(named=True):
        lines = [
            f"<h3>{escape(card['persona_id'])}: {escape(card['name'] or '')}</h3>",
            f"<p>{card['best_customers']:,} best customers of the {escape(card['key_tier'])} "
            f"tier ({escape(card['best_basis'] or '')}); "
            f"{card['decision_makers']:,} decision makers</p>",
        ]
        if card.get("profile_note"):
            lines.append(f'<p class="warning"><b>warning</b>: {escape(card["profile_note"])}</p>')
        for field in ("goals", "pain_points", "motivations", "info_sources", "preferred_channels"):
            if card[field]:
                lines.append(f"<p><b>{field.replace('_', ' ')}</b>: {escape(card[field])}</p>")
        if card["quote"]:
            lines.append(f"<blockquote>“{escape(card['quote'])}”</blockquote>")
        parts.append(f'<div class="card">{"".join(lines)}</div>')
    return "".join(parts)


def _movement(moves: pl.DataFrame) -> str:
    if moves.is_empty():
        return "<p>First refresh: there is no earlier refresh to compare with.</p>"
    moved = moves.filter(pl.col("from_segment") != pl.col("to_segment"))
    if moved.is_empty():
        return "<p>No customer changed segment since the previous refresh.</p>"
    top = moved.sort("customers", descending=True).head(20)
    rows = "".join(
        f'<tr><td class="label">{escape(b)}</td><td class="label">{escape(f)}</td>'
        f'<td class="label">{escape(t)}</td><td>{n:,}</td></tr>'
        for b, f, t, n in top.select("base", "from_segment", "to_segment", "customers").iter_rows()
    )
    return (
        '<table><tr><th class="label">base</th><th class="label">from</th>'
        f'<th class="label">to</th><th>customers</th></tr>{rows}</table>'
    )


def _checks(checks: tuple[str, ...]) -> str:
    """Every expectation the tables passed before they went live, counted per table."""
    if not checks:
        return "<p>Only the output contracts were checked (quality.expectations = false).</p>"
    per_table: dict[str, list[str]] = {}
    for line in checks:
        table, _, expectation = line.partition(": ")
        per_table.setdefault(table, []).append(expectation)
    rows = "".join(
        f'<tr><td class="label">{escape(table)}</td><td>{len(expectations):,}</td>'
        f'<td class="label">{"<br>".join(escape(e) for e in expectations)}</td></tr>'
        for table, expectations in per_table.items()
    )
    return (
        f"<p>All {len(checks):,} expectations passed (output contracts, counts that agree "
        "across tables, shares summing to 1, the customer-count gate), or the refresh would "
        "not have been published.</p>"
        '<table><tr><th class="label">table</th><th>passed</th>'
        f'<th class="label">expectations</th></tr>{rows}</table>'
    )


def _quality(quarantine: pl.DataFrame, facts: ReportFacts) -> str:
    text = (
        f"<p>{facts.rows_in:,} input rows; {facts.rows_in - facts.rows_rejected:,} accepted, "
        f"{facts.rows_rejected:,} set aside in the quarantine.</p>"
    )
    if quarantine.is_empty():
        return text + "<p>No problems found.</p>"
    kinds = (
        quarantine.group_by("source", "column", "problem", "action")
        .len()
        .sort("len", descending=True)
        .head(20)
    )
    rows = "".join(
        f'<tr><td class="label">{escape(s)}</td><td class="label">{escape(c or "(row)")}</td>'
        f'<td class="label">{escape(p)}</td><td class="label">{escape(a)}</td><td>{n:,}</td></tr>'
        for s, c, p, a, n in kinds.iter_rows()
    )
    return text + (
        '<table><tr><th class="label">source</th><th class="label">column</th>'
        '<th class="label">problem</th><th class="label">action</th><th>rows</th></tr>'
        f"{rows}</table>"
    )
