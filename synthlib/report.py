"""The evaluation report: one self-contained HTML page with inline SVG plots."""
from __future__ import annotations

import html
import math

from synthlib.fidelity import TRANSITION_STATES, shares

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
W, H, PAD = 560, 220, 34


def _svg(title: str, body: str, w: int = W, h: int = H) -> str:
    return (f'<figure><figcaption>{html.escape(title)}</figcaption>'
            f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg">'
            f'<rect width="{w}" height="{h}" fill="#fafafa"/>{body}</svg></figure>')


def _label(x: float, y: float, text, anchor: str = "middle", size: int = 9) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}">{html.escape(str(text))}</text>'


def bars(title: str, series: list[tuple[str, dict]], keys: list | None = None) -> str:
    """Grouped bars: one colour per series ({key: value}), keys along the x axis."""
    keys = keys if keys is not None else sorted({k for _, d in series for k in d}, key=str)
    top = max([v for _, d in series for v in d.values() if v is not None] + [1e-12])
    step = (W - 2 * PAD) / max(1, len(keys))
    width = step / max(1, len(series))
    parts = []
    for i, k in enumerate(keys):
        for j, (name, d) in enumerate(series):
            v = d.get(k) or 0.0
            bh = (H - 2 * PAD) * v / top
            x = PAD + i * step + j * width
            parts.append(f'<rect x="{x:.1f}" y="{H - PAD - bh:.1f}" width="{width * 0.9:.1f}" height="{bh:.1f}" '
                         f'fill="{PALETTE[j % len(PALETTE)]}"><title>{html.escape(f"{name} {k}: {v:.4f}")}</title></rect>')
        if len(keys) <= 30 or i % max(1, len(keys) // 15) == 0:
            parts.append(_label(PAD + i * step + step / 2, H - PAD + 12, k))
    parts.append(_label(PAD, PAD - 8, f"max {top:.3g}", "start"))
    return _svg(title, "".join(parts))


def _corners(freq: list) -> list[tuple[int, int]]:
    """(rank, count) corner points of a rank-frequency curve from (count, items) pairs."""
    points, rank = [], 0
    for count, items in sorted(freq, reverse=True):
        points += [(rank + 1, count), (rank + items, count)]
        rank += items
    return points


def rank_frequency(title: str, series: list[tuple[str, list]]) -> str:
    curves = [(name, _corners(freq)) for name, freq in series]
    max_rank = max([r for _, c in curves for r, _ in c] + [10])
    max_count = max([n for _, c in curves for _, n in c] + [10])
    sx = lambda r: PAD + (W - 2 * PAD) * math.log10(r) / math.log10(max_rank)  # noqa: E731
    sy = lambda n: H - PAD - (H - 2 * PAD) * math.log10(n) / math.log10(max_count)  # noqa: E731
    lines = "".join(
        f'<polyline fill="none" stroke="{PALETTE[j % len(PALETTE)]}" stroke-width="2" points="'
        + " ".join(f"{sx(r):.1f},{sy(n):.1f}" for r, n in curve) + f'"><title>{html.escape(name)}</title></polyline>'
        for j, (name, curve) in enumerate(curves))
    axes = (_label(W / 2, H - 6, "item rank (log)", size=10)
            + f'<text x="10" y="{H / 2}" font-size="10" transform="rotate(-90 10 {H / 2})" '
              f'text-anchor="middle">events (log)</text>')
    return _svg(title, lines + axes)


def heatmap(title: str, transitions: dict) -> str:
    """The event-transition matrix, rows normalised: from-state (row) -> to-state (column)."""
    states = [s for s in TRANSITION_STATES if s in transitions or any(s in row for row in transitions.values())]
    cell, left, top = 44, 70, 40
    w, h = left + cell * len(states) + 10, top + cell * len(states) + 10
    parts = [_label(left + cell * j + cell / 2, top - 6, s) for j, s in enumerate(states)]
    for i, a in enumerate(states):
        parts.append(_label(left - 4, top + cell * i + cell / 2 + 3, a, "end"))
        row = shares(transitions.get(a, {}))
        for j, b in enumerate(states):
            p = row.get(b, 0.0)
            shade = int(255 - 200 * p)
            parts.append(f'<rect x="{left + cell * j}" y="{top + cell * i}" width="{cell - 1}" height="{cell - 1}" '
                         f'fill="rgb({shade},{shade},255)"><title>{html.escape(f"{a} -> {b}: {p:.3f}")}</title></rect>')
            if p >= 0.005:
                parts.append(_label(left + cell * j + cell / 2, top + cell * i + cell / 2 + 3, f"{p:.2f}"))
    return _svg(title, "".join(parts), w, h)


def _legend(names: list[str]) -> str:
    return '<p class="legend">' + "".join(
        f'<span style="background:{PALETTE[j % len(PALETTE)]}"></span>{html.escape(n)}' for j, n in enumerate(names)) + "</p>"


def _summary_table(result: dict) -> str:
    runs = result["runs"]
    names = sorted({m for r in runs.values() for m in r["metrics"]}, key=lambda m: (metric_kind(m), m))
    head = "".join(f"<th>{html.escape(r)} ({html.escape(str(v['model']))})</th>" for r, v in runs.items())
    rows = []
    for m in names:
        cells = []
        for v in runs.values():
            value, mark = v["metrics"].get(m), v["marks"].get(m, "")
            text = "n/a" if value is None else f"{value:.4f}"
            cells.append(f'<td class="{mark}">{text} {mark}</td>')
        rows.append(f"<tr><td>{metric_kind(m)}</td><td>{html.escape(m)}</td>{''.join(cells)}</tr>")
    return f"<table><tr><th>kind</th><th>metric</th>{head}</tr>{''.join(rows)}</table>"


TEXT_ROWS = (("bleu4", "BLEU-4 against the real strings of the category"),
             ("self_bleu", "self-BLEU (diversity: lower is more diverse)"),
             ("distinct1", "distinct-1"), ("distinct2", "distinct-2"),
             ("length_tv", "word-count distance (TV)"), ("vocabulary_coverage", "real vocabulary used"),
             ("exact_share", "share equal to a real training string"),
             ("nn_similarity_mean", "similarity to the nearest real training string (3-gram Jaccard)"),
             ("rare_events", "searches with a query fewer than k users issued"))


def _text_table(result: dict, figures: dict, prefix: str, real_name: str) -> str:
    """Text metrics (`<prefix>_*`) per run beside the real text's own self-BLEU and distinct-n."""
    runs = {r: v for r, v in result["runs"].items() if f"{prefix}_bleu4" in v["metrics"]}
    if not runs:
        return ""
    real = next(f[f"{prefix}_real"] for r, f in figures["runs"].items() if r in runs and f"{prefix}_real" in f)
    head = "".join(f"<th>{html.escape(r)}</th>" for r in runs)
    rows = []
    for key, label in TEXT_ROWS:
        if f"{prefix}_{key}" not in next(iter(runs.values()))["metrics"]:
            continue
        ref = real.get(f"{key}_real")
        cells = "".join(f"<td>{v['metrics'][f'{prefix}_{key}']:.4g}</td>" for v in runs.values())
        rows.append(f"<tr><td>{html.escape(label)}</td><td>{'' if ref is None else f'{ref:.4g}'}</td>{cells}</tr>")
    return f"<table><tr><th>{prefix} text</th><th>{real_name}</th>{head}</tr>{''.join(rows)}</table>"


def metric_kind(metric: str) -> str:
    """fidelity, privacy, utility or text."""
    if metric.endswith("_ratio"):
        return "utility"
    if metric.startswith(("query_", "title_")):
        return "text"
    return "privacy" if metric.startswith(("copy_share", "dcr_", "mia_")) else "fidelity"


def _fidelity_plots(figures: dict) -> list[str]:
    real, runs = figures["real"], figures["runs"]
    pick = lambda key: [("real", runs[next(iter(runs))][key][0])] + [(r, f[key][1]) for r, f in runs.items()]  # noqa: E731
    funnel = [("real", next(iter(runs.values()))["funnel"][0])] + [(r, f["funnel"][1]) for r, f in runs.items()]
    plots = [
        rank_frequency("Item popularity: rank-frequency, log-log",
                       [("real", next(iter(runs.values()))["rank_frequency"][0])]
                       + [(r, f["rank_frequency"][1]) for r, f in runs.items()]),
        bars("Session length (events, share of sessions)", pick("session_length")),
        bars("Events per user (share of users)", pick("events_per_user")),
        bars("Event mix (share of events)", pick("event_mix")),
        bars("Funnel: session conversion rates", [(n, {k: v for k, v in d.items() if v is not None}) for n, d in funnel]),
        bars("Hour of day (UTC)", pick("hour_of_day"), list(range(24))),
        bars("Day of week (1 = Sunday)", pick("day_of_week"), list(range(1, 8))),
        bars("Inter-event gap (log2 seconds)", pick("gap_log2_seconds")),
        heatmap("Event transitions: real", real["transitions"]),
    ]
    first = next(iter(runs.values()))
    for key, title in (("click_position", "Clicks by result position"), ("query_words", "Query length (words)")):
        if key in first:
            plots.append(bars(title, pick(key)))
    return plots + [heatmap(f"Event transitions: {r}", f["transitions"][1]) for r, f in runs.items()]


def _privacy_plots(figures: dict) -> list[str]:
    bins = lambda h: {f"{i / 10:.1f}": v for i, v in enumerate(h)}  # noqa: E731
    return [bars(f"Distance to the closest training session: {r} (Jaccard, share of sessions)",
                 [("held-out real", bins(f["dcr"]["holdout"])), (f"synthetic {r}", bins(f["dcr"]["synthetic"]))])
            for r, f in figures["runs"].items() if "dcr" in f]


def _utility_plots(utility: dict, k: int) -> list[str]:
    scores = utility["scores"]
    sources = ["real", *[s for s in scores if s not in ("real", "popularity")], "popularity"]
    plots = []
    for measure in ("recall", "ndcg", "hit_rate"):
        series = [(rec, {s: scores[s].get(rec, scores[s].get("popularity", {})).get(measure) for s in sources})
                  for rec in ("knn", "als")]
        plots.append(bars(f"{measure} @{k} on the real test sessions, by training log (kNN, ALS; "
                          "popularity in both)", series, sources))
    if utility.get("augmentation"):
        aug = utility["augmentation"]
        plots.append(bars(f"Augmentation: recall @{k} for sparse users ({aug['sparse_examples']} sessions)",
                          [(src, {rec: aug[src][rec]["recall"] for rec in ("knn", "als")})
                           for src in ("real", "real_plus_synthetic")], ["knn", "als"]))
    return plots


def write_report(path: str, result: dict, figures: dict) -> None:
    """Write the HTML report: the summary table with marks, then the plots by kind."""
    runs = result["runs"]
    names = ["real", *runs]
    th = result["thresholds"]
    sections = [("Fidelity: synthetic against the real training log", _legend(names), _fidelity_plots(figures)),
                ("Privacy", _legend(["held-out real", "synthetic"]), _privacy_plots(figures))]
    text = _text_table(result, figures, "query", "real held-out")
    if text:
        sections.append(("Search text: synthetic queries against real held-out ones", "", [text]))
    titles = _text_table(result, figures, "title", "real catalog")
    if titles:
        sections.append(("Catalog: synthetic item titles against the real catalog (which the titles model "
                         "learnt from)", "", [titles]))
    if result.get("utility"):
        sections.append(("Utility: train on the log, test on real held-out sessions",
                         _legend(["kNN", "ALS"]), _utility_plots(result["utility"], th["k"])))
    body = "".join(f"<h2>{html.escape(t)}</h2>{legend}{''.join(plots)}" for t, legend, plots in sections if plots)
    skipped = "".join(f"<p class=\"warn\">Skipped: {html.escape(s)}</p>" for s in result.get("skipped", []))
    described = ", ".join(f"{html.escape(r)}: {v['events']:,} events ({html.escape(str(v['model']))})"
                          for r, v in runs.items())
    test = result["real"]["test_events"]
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>synthlib evaluation</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1250px}} td,th{{padding:3px 10px;text-align:left}}
tr:nth-child(even){{background:#f4f4f4}} .pass{{color:#2a7a2a}} .warn{{color:#b8860b}} .fail{{color:#b22222}}
figure{{display:inline-block;margin:10px;vertical-align:top}} figcaption{{font-size:13px}}
.legend span{{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}}</style></head><body>
<h1>Synthetic against real click log</h1>
<p>Real training log: {result["real"]["train_events"]:,} events; real test split:
{f"{test:,} events" if test is not None else "none"}. Synthetic runs: {described}.</p>
<p>Fidelity distances are 0 for identical logs and 1 for disjoint ones: pass at &le; {th["pass_at"]},
warn at &le; {th["warn_at"]}. Privacy: verbatim session copies pass at &le; {th["max_copy_share"]},
membership-inference AUC at &le; {th["max_mia_auc"]}, the synthetic median distance to the closest training
session at &ge; the held-out one. Utility: recall@{th["k"]} synthetic / real passes at &ge;
{th["min_utility_ratio"]}, warns at &ge; {th["warn_utility_ratio"]}.</p>{skipped}
{_summary_table(result)}
{body}
</body></html>"""
    with open(path, "w") as fh:
        fh.write(page)

