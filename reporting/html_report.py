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


def write_report(tables: Mapping[str, pl.DataFrame], facts: ReportFacts, folder: Path) -> Path:
    """Write `report.html` into `folder`; returns its path."""
    path = folder / "report.html"
    path.write_text(render_report(tables, facts), encoding="utf-8")
    return path


def render_report(tables: Mapping[str, pl.DataFrame], facts: ReportFacts) -> str:
    """The whole page."""
    sections = [
        _section("Revenue tiers", _tier_chart(tables["tier_summary"])),
        _section("Pareto curve", _pareto_chart(tables["pareto_curve"], tables["pareto_summary"])),
        _section("RFM grid", _rfm_grid(tables["customer_segments"])),
        _section("Segment sizes", _segment_bars(tables["segment_summary"])),
        _section("Personas", _persona_cards(tables["persona_cards"])),
        _section("Segment movement", _movement(tables["segment_transitions"])),
        _section("Data quality", _quality(tables["quarantine"], facts)),
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
.card {{ border: 1px solid #ccc; border-radius: 6px; padding: .75rem 1rem; margin: .5rem 0; }}
.meta {{ color: #555; }}
</style></head><body>
<h1>personas refresh {escape(facts.refresh_id)}</h1>
<p class="meta">as of {escape(facts.as_of)} · published {escape(facts.finished_at)} UTC ·
{escape(facts.warehouse)} · next refresh due {escape(facts.next_due_at)}</p>
{"".join(sections)}
</body></html>
"""


def _section(title: str, body: str) -> str:
    anchor = title.lower().replace(" ", "-")
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>{body}</section>\n'


def _svg(height: int, body: str, label: str) -> str:
    return (
        f'<svg class="chart" role="img" aria-label="{escape(label)}" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg">'
        f"{body}</svg>"
    )


def _tier_chart(tiers: pl.DataFrame) -> str:
    bars, rows = [], []
    for i, row in enumerate(tiers.iter_rows(named=True)):
        share = row["revenue_share"] or 0.0
        width = max(share, 0.0) * (WIDTH - 200)
        y = 10 + i * 40
        colour = TIER_COLOURS.get(row["tier"], "#888")
        bars.append(
            f'<text x="0" y="{y + 20}">{escape(row["tier"])}</text>'
            f'<rect class="bar" x="80" y="{y}" width="{width:.1f}" height="28" fill="{colour}"/>'
            f'<text x="{85 + width:.1f}" y="{y + 20}">{share:.1%}</text>'
        )
        key = " (key tier)" if row["is_key_tier"] else ""
        rows.append(
            f'<tr><td class="label">{escape(row["tier"])}{key}</td><td>{row["customers"]:,}</td>'
            f"<td>{row['revenue']:,.0f}</td><td>{share:.1%}</td></tr>"
        )
    table = (
        '<table><tr><th class="label">tier</th><th>customers</th><th>revenue</th>'
        f"<th>share</th></tr>{''.join(rows)}</table>"
    )
    return _svg(10 + 40 * tiers.height, "".join(bars), "tier revenue shares") + table


def _pareto_chart(curve: pl.DataFrame, summary: pl.DataFrame) -> str:
    height, left, bottom = 260, 40, 230
    plot_w, plot_h = WIDTH - left - 20, bottom - 10
    points = " ".join(
        f"{left + pct / 100 * plot_w:.1f},{bottom - min(max(share or 0, 0), 1) * plot_h:.1f}"
        for pct, share in curve.sort("customer_pct").iter_rows()
    )
    y80 = bottom - 0.8 * plot_h
    x20 = left + 0.2 * plot_w
    body = (
        f'<line x1="{left}" y1="{bottom}" x2="{left + plot_w}" y2="{bottom}" stroke="#999"/>'
        f'<line x1="{left}" y1="{bottom}" x2="{left}" y2="10" stroke="#999"/>'
        f'<line x1="{left}" y1="{y80:.1f}" x2="{left + plot_w}" y2="{y80:.1f}" '
        'stroke="#c62828" stroke-dasharray="4"/>'
        f'<line x1="{x20:.1f}" y1="{bottom}" x2="{x20:.1f}" y2="10" stroke="#c62828" '
        'stroke-dasharray="4"/>'
        f'<polyline class="curve" fill="none" stroke="#1565c0" stroke-width="2" points="{points}"/>'
        f'<text x="{left + 4}" y="{y80 - 4:.1f}">80% of revenue</text>'
        f'<text x="{x20 + 4:.1f}" y="{bottom - 4}">20% of customers</text>'
    )
    facts = summary.row(0, named=True) if summary.height else {}
    top = facts.get("top_share_revenue")
    text = (
        f"<p>The top {facts.get('top_share_customers', 0.2):.0%} of customers "
        f"({facts.get('top_customers', 0):,}) make "
        f"{'n/a' if top is None else f'{top:.1%}'} of revenue; "
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
    parts = []
    for (base,), rows in segments.group_by("base", maintain_order=True):
        total = rows["customers"].sum() or 1
        body = []
        for i, (segment, customers) in enumerate(rows.select("segment", "customers").iter_rows()):
            width = customers / total * (WIDTH - 260)
            y = 5 + i * 24
            body.append(
                f'<text x="0" y="{y + 15}">{escape(str(segment))[:28]}</text>'
                f'<rect class="bar" x="200" y="{y}" width="{width:.1f}" height="18" '
                'fill="#6a1b9a"/>'
                f'<text x="{205 + width:.1f}" y="{y + 15}">{customers:,}</text>'
            )
        parts.append(f"<h3>{escape(str(base))}</h3>")
        parts.append(_svg(10 + 24 * rows.height, "".join(body), f"{base} segment sizes"))
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
        for field in ("goals", "pain_points", "motivations", "info_sources", "preferred_channels"):
            if card[field]:
                lines.append(f"<p><b>{field.replace('_', ' ')}</b>: {escape(card[field])}</p>")
        if card["quote"]:
            lines.append(f"<blockquote>“{escape(card['quote'])}”</blockquote>")
        parts.append(f'<div class="card">{"".join(lines)}</div>')
    return "".join(parts)


def _movement(moves: pl.DataFrame) -> str:
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
