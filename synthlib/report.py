"""The evaluation report: one self-contained HTML page with inline SVG plots."""
from __future__ import annotations

import html
import math

REAL, SYNTH = "#1f77b4", "#ff7f0e"


def _bars(title: str, real: dict, synthetic: dict, keys: list) -> str:
    w, h, pad = 560, 200, 30
    top = max([*real.values(), *synthetic.values(), 1e-12])
    step = (w - 2 * pad) / max(1, len(keys))
    parts = []
    for i, k in enumerate(keys):
        for j, (dist, color) in enumerate(((real, REAL), (synthetic, SYNTH))):
            v = dist.get(k, 0.0)
            bh = (h - 2 * pad) * v / top
            x = pad + i * step + j * step / 2
            parts.append(f'<rect x="{x:.1f}" y="{h - pad - bh:.1f}" width="{step / 2 * 0.9:.1f}" '
                         f'height="{bh:.1f}" fill="{color}"><title>{html.escape(str(k))}: {v:.4f}</title></rect>')
        if len(keys) <= 30 or i % max(1, len(keys) // 15) == 0:
            parts.append(f'<text x="{pad + i * step + step / 2:.1f}" y="{h - pad + 12}" font-size="9" '
                         f'text-anchor="middle">{html.escape(str(k))}</text>')
    return _svg(title, w, h, "".join(parts))


def _rank_frequency(title: str, real: list, synthetic: list) -> str:
    w, h, pad = 560, 240, 34
    curves = [_curve(real), _curve(synthetic)]
    max_rank = max([r for c in curves for r, _ in c] + [10])
    max_count = max([n for c in curves for _, n in c] + [10])
    sx = lambda r: pad + (w - 2 * pad) * math.log10(r) / math.log10(max_rank)  # noqa: E731
    sy = lambda n: h - pad - (h - 2 * pad) * math.log10(n) / math.log10(max_count)  # noqa: E731
    lines = "".join(
        f'<polyline fill="none" stroke="{color}" stroke-width="2" points="'
        + " ".join(f"{sx(r):.1f},{sy(n):.1f}" for r, n in curve) + '"/>'
        for curve, color in zip(curves, (REAL, SYNTH)))
    axes = (f'<text x="{w / 2}" y="{h - 6}" font-size="10" text-anchor="middle">item rank (log)</text>'
            f'<text x="10" y="{h / 2}" font-size="10" transform="rotate(-90 10 {h / 2})" '
            f'text-anchor="middle">events (log)</text>')
    return _svg(title, w, h, lines + axes)


def _curve(freq: list) -> list[tuple[int, int]]:
    """(rank, count) corner points of a rank-frequency curve from (count, items) pairs."""
    points, rank = [], 0
    for count, items in sorted(freq, reverse=True):
        points += [(rank + 1, count), (rank + items, count)]
        rank += items
    return points


def _svg(title: str, w: int, h: int, body: str) -> str:
    return (f'<figure><figcaption>{html.escape(title)}</figcaption>'
            f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg">'
            f'<rect width="{w}" height="{h}" fill="#fafafa"/>{body}</svg></figure>')


def write_report(path: str, result: dict, figures: dict) -> None:
    """Write the HTML report: a summary table with marks and the comparison plots."""
    rows = "".join(
        f'<tr><td>{html.escape(k)}</td><td>{v:.4f}</td><td class="{result["marks"][k]}">'
        f'{result["marks"][k]}</td></tr>' for k, v in result["metrics"].items())
    ev = figures["event_mix"]
    hours = figures["hour_of_day"]
    lengths = figures["session_length"]
    plots = [
        _rank_frequency("Item popularity: rank-frequency, log-log", *figures["rank_frequency"]),
        _bars("Session length (events)", *lengths, sorted(set(lengths[0]) | set(lengths[1]))),
        _bars("Event mix (funnel)", *ev, sorted(set(ev[0]) | set(ev[1]))),
        _bars("Hour of day (UTC)", *hours, list(range(24))),
    ]
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>synthlib evaluation</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}} td,th{{padding:4px 10px;text-align:left}}
.pass{{color:#2a7a2a}} .warn{{color:#b8860b}} .fail{{color:#b22222}} figure{{display:inline-block;margin:10px;vertical-align:top}}
.legend span{{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}}</style></head><body>
<h1>Synthetic vs real click log</h1>
<p>Run <b>{html.escape(str(result["run_id"]))}</b>: {result["events"]["synthetic"]:,} synthetic events
against {result["events"]["real"]:,} real events. Distances: 0 is identical, 1 is disjoint; marked pass at
&le; {result["thresholds"]["pass"]}, warn at &le; {result["thresholds"]["warn"]}.</p>
<table><tr><th>metric</th><th>value</th><th>mark</th></tr>{rows}</table>
<p class="legend"><span style="background:{REAL}"></span>real<span style="background:{SYNTH}"></span>synthetic</p>
{"".join(plots)}
</body></html>"""
    with open(path, "w") as fh:
        fh.write(page)
