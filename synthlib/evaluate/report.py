"""The evaluation report: one self-contained HTML page, its plots drawn by matplotlib as inline SVG."""
from __future__ import annotations

import html
import io
import math
import re

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from synthlib.config import EvaluateConf
from synthlib.evaluate.fidelity import TRANSITION_STATES, shares
from synthlib.marks import TEXT_MEANINGS, kind, meaning, rule

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
SIZE = (6.4, 2.8)  # inches, one plot
MAX_TICKS = 24  # x labels shown at most; the bars stay


def _svg(fig: Figure) -> str:
    """The figure as an inline <svg> element: text kept as text, no XML prologue or metadata."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "synthlib"}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = buf.getvalue()
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg[svg.index("<svg"):], flags=re.S)
    return svg


def _figure(title: str, fig: Figure) -> str:
    return f"<figure><figcaption>{html.escape(title)}</figcaption>{_svg(fig)}</figure>"


def axis_order(keys) -> list:
    """Keys in numeric order when they all read as numbers (1, 2, 10, not 1, 10, 2), else by name."""
    try:
        return sorted(keys, key=float)
    except (TypeError, ValueError):
        return sorted(keys, key=str)


def bars(title: str, series: list[tuple[str, dict]], keys: list | None = None, *, ylabel: str = "share",
         ymax: float | None = None) -> str:
    """Grouped bars: one colour per series ({key: value}), keys along the x axis in numeric
    order where they are numbers; `ymax` fixes the scale (rates: 1)."""
    keys = keys if keys is not None else axis_order({k for _, d in series for k in d})
    fig = Figure(figsize=SIZE)
    ax = fig.add_subplot()
    x = np.arange(len(keys))
    width = 0.85 / max(1, len(series))
    for j, (name, d) in enumerate(series):
        values = [d.get(k) or 0.0 for k in keys]
        ax.bar(x + (j - (len(series) - 1) / 2) * width, values, width, label=name, color=PALETTE[j % len(PALETTE)])
    every = max(1, -(-len(keys) // MAX_TICKS))
    ax.set_xticks(x[::every], [str(k) for k in keys][::every], fontsize=8, rotation=90 if len(keys) > 12 else 0)
    ax.set_ylabel(ylabel)
    if ymax is not None:
        ax.set_ylim(0, ymax)
    ax.grid(axis="y", alpha=0.3)
    return _figure(title, fig)


def lines(title: str, series: list[tuple[str, dict]], *, xlabel: str, ylabel: str, log_x: bool = False,
          ymax: float | None = None) -> str:
    """One line per series ({x: y}, x numeric, points marked), a legend naming them; `log_x`
    for scales such as epsilon, `ymax` to fix the scale (ratios: 1)."""
    fig = Figure(figsize=SIZE)
    ax = fig.add_subplot()
    for j, (name, d) in enumerate(series):
        xs = sorted(d)
        ax.plot(xs, [d[x] for x in xs], marker="o", label=name, color=PALETTE[j % len(PALETTE)])
    if log_x:
        ax.set_xscale("log", base=2)
        ax.minorticks_off()
    ticks = sorted({x for _, d in series for x in d})
    ax.set_xticks(ticks, [f"{x:g}" for x in ticks])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ymax is not None:
        ax.set_ylim(0, ymax)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    return _figure(title, fig)


def _corners(freq: list) -> tuple[list[int], list[int]]:
    """(ranks, counts) corner points of a rank-frequency curve from (count, items) pairs."""
    ranks, counts, rank = [], [], 0
    for count, items in sorted(freq, reverse=True):
        ranks += [rank + 1, rank + items]
        counts += [count, count]
        rank += items
    return ranks, counts


def rank_frequency(title: str, series: list[tuple[str, list]]) -> str:
    fig = Figure(figsize=SIZE)
    ax = fig.add_subplot()
    for j, (name, freq) in enumerate(series):
        if freq:
            ax.plot(*_corners(freq), color=PALETTE[j % len(PALETTE)], linewidth=2, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("item rank")
    ax.set_ylabel("events")
    ax.grid(alpha=0.3)
    return _figure(title, fig)


def heatmap(title: str, transitions: dict) -> str:
    """The event-transition matrix, rows normalised: from-state (row) -> to-state (column)."""
    states = [s for s in TRANSITION_STATES if s in transitions or any(s in row for row in transitions.values())]
    grid = np.array([[shares(transitions.get(a, {})).get(b, 0.0) for b in states] for a in states])
    side = 0.45 * len(states) + 1.2
    fig = Figure(figsize=(side + 0.8, side))
    ax = fig.add_subplot()
    image = ax.imshow(grid, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(states)), states, fontsize=8, rotation=45, ha="right")
    ax.set_yticks(range(len(states)), states, fontsize=8)
    ax.set_xlabel("to")
    ax.set_ylabel("from")
    for i in range(len(states)):
        for j in range(len(states)):
            if grid[i, j] >= 0.005:
                ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if grid[i, j] > 0.6 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the row")
    return _figure(title, fig)


def _legend(names: list[str]) -> str:
    return '<p class="legend">' + "".join(
        f'<span style="background:{PALETTE[j % len(PALETTE)]}"></span>{html.escape(n)}' for j, n in enumerate(names)) + "</p>"


def _summary_table(result: dict, ev: EvaluateConf) -> str:
    runs = result["runs"]
    names = sorted({m for r in runs.values() for m in r["metrics"]}, key=lambda m: (kind(m), m))
    head = "".join(f"<th>{html.escape(r)} ({html.escape(str(v['model']))})</th>" for r, v in runs.items())
    rows = []
    for m in names:
        cells = []
        for v in runs.values():
            value, mark = v["metrics"].get(m), v["marks"].get(m, "")
            text = "n/a" if value is None else f"{value:.4f}"
            cells.append(f'<td class="{mark}">{text} {mark}</td>')
        rows.append(f"<tr><td>{kind(m)}</td><td><code>{html.escape(m)}</code><br><small>{html.escape(meaning(m))}"
                    f"</small></td><td>{html.escape(rule(m, ev))}</td>{''.join(cells)}</tr>")
    return f"<table><tr><th>kind</th><th>metric</th><th>thresholds</th>{head}</tr>{''.join(rows)}</table>"


def _text_table(result: dict, figures: dict, prefix: str, real_name: str) -> str:
    """Text metrics (`<prefix>_*`) per run beside the real text's own self-BLEU and distinct-n."""
    runs = {r: v for r, v in result["runs"].items() if f"{prefix}_bleu4" in v["metrics"]}
    if not runs:
        return ""
    real = next(f[f"{prefix}_real"] for r, f in figures["runs"].items() if r in runs and f"{prefix}_real" in f)
    head = "".join(f"<th>{html.escape(r)}</th>" for r in runs)
    rows = []
    for key, label in TEXT_MEANINGS.items():
        if f"{prefix}_{key}" not in next(iter(runs.values()))["metrics"]:
            continue
        ref = real.get(f"{key}_real")
        cells = "".join(f"<td>{v['metrics'][f'{prefix}_{key}']:.4g}</td>" for v in runs.values())
        rows.append(f"<tr><td>{html.escape(label)}</td><td>{'' if ref is None else f'{ref:.4g}'}</td>{cells}</tr>")
    return f"<table><tr><th>{prefix} text</th><th>{real_name}</th>{head}</tr>{''.join(rows)}</table>"


def _fidelity_plots(figures: dict) -> list[str]:
    real, runs = figures["real"], figures["runs"]
    first = next(iter(runs.values()))
    pick = lambda key: [("real", first[key][0])] + [(r, f[key][1]) for r, f in runs.items()]  # noqa: E731
    funnel = [(n, {k: v for k, v in d.items() if v is not None}) for n, d in pick("funnel")]
    plots = [
        rank_frequency("Item popularity: rank-frequency, log-log", pick("rank_frequency")),
        bars("Session length (events, share of sessions)", pick("session_length")),
        bars("Events per user (share of users)", pick("events_per_user")),
        bars("Event mix (share of events)", pick("event_mix")),
        bars("Funnel: session conversion rates", funnel, ylabel="rate", ymax=1.0),
        bars("Hour of day (UTC)", pick("hour_of_day"), list(range(24))),
        bars("Day of week (1 = Sunday)", pick("day_of_week"), list(range(1, 8))),
        bars("Inter-event gap (log2 seconds)", pick("gap_log2_seconds")),
        heatmap("Event transitions: real", real["transitions"]),
    ]
    for key, title in (("click_position", "Clicks by result position"), ("query_words", "Query length (words)")):
        if key in first:
            plots.append(bars(title, pick(key)))
    return plots + [heatmap(f"Event transitions: {r}", f["transitions"][1]) for r, f in runs.items()]


def _privacy_plots(figures: dict) -> list[str]:
    bins = lambda h: {f"{i / 10:.1f}": v for i, v in enumerate(h)}  # noqa: E731
    return [bars(f"Distance to the closest training session: {r} (Jaccard, share of sessions)",
                 [("held-out real", bins(f["dcr"]["holdout"])), (f"synthetic {r}", bins(f["dcr"]["synthetic"]))],
                 ylabel="share of sessions")
            for r, f in figures["runs"].items() if "dcr" in f]


def _utility_plots(utility: dict, k: int) -> list[str]:
    scores = utility["scores"]
    sources = ["real", *[s for s in scores if s not in ("real", "popularity")], "popularity"]
    plots = []
    for measure in ("recall", "ndcg", "hit_rate"):
        series = [(rec, {s: scores[s].get(rec, scores[s].get("popularity", {})).get(measure) for s in sources})
                  for rec in ("knn", "als")]
        plots.append(bars(f"{measure} @{k} on the real test sessions, by training log (kNN, ALS; "
                          "popularity in both)", series, sources, ylabel=measure))
    if utility.get("augmentation"):
        aug = utility["augmentation"]
        plots.append(bars(f"Augmentation: recall @{k} for sparse users ({aug['sparse_examples']} sessions)",
                          [(src, {rec: aug[src][rec]["recall"] for rec in ("knn", "als")})
                           for src in ("real", "real_plus_synthetic")], ["knn", "als"], ylabel="recall"))
    return plots


def _exposure_plots(exposure: dict) -> list[str]:
    """Shown lists: position bias, list lengths, and the CTR model's scores."""
    pick = lambda key: [("real", exposure["real"][key])] + [  # noqa: E731
        (r, v["summary"][key]) for r, v in exposure["runs"].items()]
    plots = [bars("Click-through rate by position", pick("ctr_by_position"), ylabel="click-through rate"),
             bars("Shown list length (share of requests)", pick("list_length")),
             bars("Share of requests without a click", [(n, {"no click": d}) for n, d in pick("no_click_share")],
                  ymax=1.0)]
    if exposure.get("utility"):
        scores = exposure["utility"]["scores"]
        plots.append(bars("Click-through model on the real held-out impressions, by training log",
                          [(m, {s: v[m] for s, v in scores.items()}) for m in ("auc", "ndcg")],
                          list(scores), ylabel="score", ymax=1.0))
    return plots


def _shares(privacy: dict) -> str:
    """A DP statement's split: "profile 0.3, pairs 0.68, network 0.02"."""
    return ", ".join(f"{p} {privacy['split'][p]:.3g}" for p in ("profile", "pairs", "network"))


def _privacy_line(privacy: dict | None) -> str:
    """What a run's release guarantees: its DP statement, or that its checks are empirical."""
    if not privacy:
        return "; no DP guarantee (the privacy checks below are empirical)"
    b = privacy["bounds"]
    derived = privacy.get("budget", {}).get("delta_from")
    rule = f" = 1/(10 x {derived['users_upper']:,} users)" if isinstance(derived, dict) else ""
    derived_split = privacy.get("split_from", "train.dp.split") != "train.dp.split"
    which = f"the default split for epsilon {privacy['budget']['epsilon']:g}" if derived_split else "split"
    return html.escape(f"; user-level DP, epsilon {privacy['epsilon']:.3g}, delta {privacy['delta']:.2g}{rule} "
                       f"({which}: {_shares(privacy)}; composition: {privacy.get('composition', 'sequential')}; "
                       f"a user's at most {b['max_sessions']} sessions, {b['max_events']} events, "
                       f"{b['max_items']} items, {b['max_pairs']} pairs)")


def _guarantee(run: str, privacy: dict | None) -> str:
    """What a run's release guarantees, in words: its DP statement, or that its checks are empirical."""
    if not privacy:
        return (f"<p><b>{html.escape(run)}</b>: no formal guarantee. Its protections are the generator's rules "
                "(verbatim copies of training sessions left out, item pairs and queries kept only where several "
                "users held them) and the empirical checks below.</p>")
    eps, delta, b = privacy["epsilon"], privacy["delta"], privacy["bounds"]
    factor = f"{math.exp(eps):,.0f}" if eps < 50 else "astronomical"
    text = (f"user-level differential privacy at epsilon {eps:.3g}, delta {delta:.2g}. Whether or not any one "
            f"user's whole history (at most {b['max_sessions']} sessions and {b['max_events']} events, as bounded "
            f"at ingest) was in the real log changes the probability of any synthetic output by at most a factor "
            f"of e^{eps:.3g} (about {factor}), except with a probability of at most {delta:.2g}. It covers "
            f"everything the release learnt from the real log: the profile, the item pairs and the network "
            f"({_shares(privacy)}), composed as {privacy.get('composition', 'sequential')}. The catalog's "
            "attributes and the log's date span are taken as public. The empirical checks below measure what "
            "the noise left.")
    return f"<p><b>{html.escape(run)}</b>: {html.escape(text)}</p>"


def _privacy_utility(result: dict) -> list[str]:
    """The kNN and ALS ratios to real of each run, labelled by its epsilon (none: no DP), in
    epsilon order: the privacy-utility curve of runs evaluated side by side."""
    runs = result["runs"]
    if not result.get("utility") or not any(v.get("dp") for v in runs.values()):
        return []
    label = {r: (f"{r} (epsilon {v['dp']['epsilon']:.3g})" if v.get("dp") else f"{r} (no DP)") for r, v in runs.items()}
    order = sorted(runs, key=lambda r: runs[r]["dp"]["epsilon"] if runs[r].get("dp") else math.inf)
    series = [(name, {label[r]: runs[r]["metrics"].get(f"{rec}_recall_ratio") for r in order})
              for name, rec in (("kNN", "knn"), ("ALS", "als"))]
    return [bars("Utility by privacy: recall ratio to real of each run, by its epsilon", series,
                 [label[r] for r in order], ylabel="ratio to real")]


def write_report(path: str, result: dict, figures: dict, ev: EvaluateConf) -> None:
    """Write the HTML report: the summary table with meanings and thresholds, then the plots by kind."""
    runs = result["runs"]
    # (title, text, legend, plots): a section shows when it has plots or text
    sections = [("Fidelity: synthetic against the real training log", "", _legend(["real", *runs]),
                 _fidelity_plots(figures)),
                ("Privacy", "".join(_guarantee(r, v.get("dp")) for r, v in runs.items()),
                 _legend(["held-out real", "synthetic"]), _privacy_plots(figures))]
    text = _text_table(result, figures, "query", "real held-out")
    if text:
        sections.append(("Search text: synthetic queries against real held-out ones", "", "", [text]))
    titles = _text_table(result, figures, "title", "real catalog")
    if titles:
        sections.append(("Catalog: synthetic item titles against the real catalog (which the titles model "
                         "learnt from)", "", "", [titles]))
    if result.get("utility"):
        sections.append(("Utility: train on the log, test on real held-out sessions", "",
                         _legend(["kNN", "ALS"]), _utility_plots(result["utility"], ev.k) + _privacy_utility(result)))
    if result.get("impressions"):
        sections.append(("Shown lists: synthetic impressions against the real ones", "", _legend(["real", *runs]),
                         _exposure_plots(result["impressions"])))
    body = "".join(f"<h2>{html.escape(t)}</h2>{text}{legend if plots else ''}{''.join(plots)}"
                   for t, text, legend, plots in sections if plots or text)
    skipped = "".join(f"<p class=\"warn\">Skipped: {html.escape(s)}</p>" for s in result.get("skipped", []))
    described = ", ".join(f"{html.escape(r)}: {v['events']:,} events ({html.escape(str(v['model']))})"
                          + (f", measured on a seeded share of its users, {v['evaluated_events']:,} events"
                             if v["evaluated_events"] < v["events"] else "") + _privacy_line(v.get("dp"))
                          for r, v in runs.items())
    test = result["real"]["test_events"]
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>synthlib evaluation</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1400px}} td,th{{padding:3px 10px;text-align:left;
vertical-align:top}} tr:nth-child(even){{background:#f4f4f4}} small{{color:#555}}
.pass{{color:#2a7a2a}} .warn{{color:#b8860b}} .fail{{color:#b22222}}
figure{{display:inline-block;margin:10px;vertical-align:top}} figcaption{{font-size:13px}}
figure svg{{max-width:640px;height:auto}}
.legend span{{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}}</style></head><body>
<h1>Synthetic against real click log</h1>
<p>Real training log: {result["real"]["train_events"]:,} events; real test split:
{f"{test:,} events" if test is not None else "none"}. Synthetic runs: {described}.</p>
<p>Fidelity distances are 0 for identical logs and 1 for disjoint ones. Privacy compares the synthetic log
with the real training sessions and with fresh real ones. Utility trains recommenders on each log and tests
them on the real held-out sessions.</p>{skipped}
{_summary_table(result, ev)}
{body}
</body></html>"""
    with open(path, "w") as fh:
        fh.write(page)
