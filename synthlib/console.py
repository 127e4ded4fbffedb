"""What a run prints: one line per stage with its key counts and seconds, training progress,
and the closing table (utility, privacy, the worst fidelity distances, the paths)."""
from __future__ import annotations

import sys
import time

from synthlib.marks import kind

PROGRESS_EVERY_S = 30.0  # without a terminal (CI logs): one progress line this often


def _n(value) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def stage_facts(stage: str, result: dict) -> list[str]:
    """The key counts of one stage's result, in words."""
    r = result
    if stage == "simulate":
        return [f"{_n(r['simulated_events'])} events simulated", f"{_n(r['users'])} users"]
    if stage == "profile":
        ingest = r["ingest"]
        facts = [f"{_n(ingest['rows_read'])} rows read", f"{_n(ingest['quarantined'])} quarantined",
                 f"{_n(r['users'])} users", f"{_n(r['sessions'])} sessions"]
        if ingest.get("holdout"):
            facts.append(f"{_n(ingest['holdout']['sessions'])} sessions held out")
        if r.get("impressions"):
            shown = r["impressions"]["ingest"]
            facts.append(f"{_n(shown['requests_read'])} shown lists read, {_n(shown['requests_quarantined'])} "
                         "quarantined")
        return facts
    if stage == "train":
        facts = [f"{r['model']} model", f"{_n(r['items'])} items"]
        training = r.get("training") or {}
        if training.get("history"):
            facts.append(f"{len(training['history'])} epochs" + (" (stopped by train.max_minutes: the model "
                         "depends on the machine's load)" if training.get("stopped_by") == "max_minutes" else ""))
        if training.get("validation_nll") is not None:
            facts.append(f"validation nll {training['validation_nll']:.3f}")
        return facts + [f"{r['size_mb']} MB"]
    if stage == "generate":
        facts = [f"{_n(r['events'])} events", f"{_n(r['users'])} users", f"run {r['run_id']}"]
        if r.get("copies_dropped"):
            facts.append(f"{_n(r['copies_dropped']['sessions'])} copied sessions left out")
        if r.get("impressions"):
            facts.append(f"{_n(r['impressions']['requests'])} shown lists")
        return facts
    if stage == "evaluate":
        metrics = sum(len(v["metrics"]) for v in r["runs"].values())
        return [f"{len(r['runs'])} run(s)", f"{metrics} metrics", f"{r.get('spark_jobs', '?')} Spark jobs"]
    return []


def stage_line(stage: str, result: dict, seconds: float) -> str:
    return f"{stage:<10} {', '.join(stage_facts(stage, result)):<88} {seconds:>5.0f} s"


def closing_table(evaluation: dict, paths: dict[str, str], worst: int = 3) -> str:
    """Utility ratios, privacy marks, the `worst` fidelity distances per run, then the paths."""
    lines = []
    for run, v in evaluation["runs"].items():
        metrics, marks = v["metrics"], v["marks"]
        lines.append(f"\nrun {run}")

        def row(label, names):
            cells = [f"{m} {metrics[m]:.3f} {marks[m]}" for m in names if metrics.get(m) is not None]
            if cells:
                lines.append(f"  {label:<10} " + "   ".join(cells))

        row("utility", [m for m in metrics if kind(m) == "utility"])
        row("privacy", ["copy_share", "dcr_median_synthetic", "dcr_median_holdout", "mia_auc",
                        "impression_copy_share"])
        fidelity = [m for m in metrics if kind(m) == "fidelity" and metrics[m] is not None]
        row("fidelity", sorted(fidelity, key=lambda m: -metrics[m])[:worst])
    lines.append("")
    lines += [f"{name:<13} {path}" for name, path in paths.items()]
    return "\n".join(lines)


class Progress:
    """Training progress on stderr: updated in place on a terminal, one line every
    PROGRESS_EVERY_S seconds otherwise, so that a log file holds readable lines."""

    def __init__(self, enabled: bool = True, stream=None):
        self.enabled, self.stream = enabled, stream or sys.stderr
        self.tty = self.enabled and self.stream.isatty()
        self.last = time.time()

    def update(self, text: str) -> None:
        """A transient state (the step), shown in place or now and then."""
        if not self.enabled:
            return
        if self.tty:
            print(f"\r{text}\033[K", end="", file=self.stream, flush=True)
        elif time.time() - self.last >= PROGRESS_EVERY_S:
            print(text, file=self.stream, flush=True)
            self.last = time.time()

    def line(self, text: str) -> None:
        """A lasting state (an epoch done), always on a line of its own."""
        if self.enabled:
            print(f"\r{text}\033[K" if self.tty else text, file=self.stream, flush=True)
            self.last = time.time()
