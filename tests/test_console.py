"""What a run prints: stage lines, the closing table, training progress."""
import io

from synthlib import console
from synthlib.console import Progress, closing_table, stage_line


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_stage_line_gives_counts_and_seconds():
    profile = {"ingest": {"rows_read": 195919, "quarantined": 0, "holdout": {"sessions": 3406}},
               "users": 14851, "sessions": 40000}
    line = stage_line("profile", profile, 21.4)
    assert line.startswith("profile    195,919 rows read, 0 quarantined, 14,851 users, 40,000 sessions, "
                           "3,406 sessions held out")
    assert line.endswith(" 21 s")
    assert "2 run(s)" in stage_line("evaluate", {"runs": {"a": {"metrics": {}}, "b": {"metrics": {}}},
                                                 "spark_jobs": 40}, 3)


def test_closing_table_shows_utility_privacy_worst_fidelity_and_paths():
    metrics = {"knn_recall_ratio": 0.91, "als_recall_ratio": 0.96, "copy_share": 0.0, "mia_auc": 0.57,
               "gap_ks": 0.02, "event_mix_tv": 0.3, "hour_of_day_tv": 0.2, "day_of_week_tv": 0.1, "item_gini_difference": 0.01}
    marks = {m: "pass" for m in metrics}
    text = closing_table({"runs": {"r1": {"metrics": metrics, "marks": marks}}}, {"report": "out/eval/report.html"})
    lines = text.splitlines()
    fidelity = next(line for line in lines if line.strip().startswith("fidelity"))
    assert fidelity.index("event_mix_tv") < fidelity.index("hour_of_day_tv") < fidelity.index("day_of_week_tv")
    assert "gap_ks" not in fidelity  # only the worst three
    assert "knn_recall_ratio 0.910 pass" in text and "mia_auc 0.570 pass" in text
    assert lines[-1] == "report        out/eval/report.html"


def test_progress_updates_in_place_on_a_terminal(monkeypatch):
    out = _Terminal()
    p = Progress(stream=out)
    p.update("step 10")
    p.update("step 20")
    p.line("epoch 1 done")
    assert out.getvalue().count("\r") == 3 and out.getvalue().count("\n") == 1


def test_progress_prints_periodic_lines_without_a_terminal(monkeypatch):
    out = io.StringIO()
    p = Progress(stream=out)
    p.update("step 10")  # too soon after the start: not printed
    monkeypatch.setattr(console, "PROGRESS_EVERY_S", 0.0)
    p.update("step 20")
    p.line("epoch 1 done")
    assert out.getvalue() == "step 20\nepoch 1 done\n"
    silent = io.StringIO()
    Progress(enabled=False, stream=silent).line("x")
    assert silent.getvalue() == ""
