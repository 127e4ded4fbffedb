"""Helpers the tests share: paths, small canonical logs, checksums, report plots."""
from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

import pytest
from pyspark.sql import functions as F

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def needs_data(*parts: str):
    """Skip a test cleanly when the shared logs are absent."""
    return pytest.mark.skipif(not DATA.joinpath(*parts).exists(), reason=f"{DATA.joinpath(*parts)} absent")


# The tests' Spark settings for small data: expressions interpreted, not compiled (compiling
# each query costs more than running it on a few thousand rows).
INTERPRETED = {"spark.sql.codegen.wholeStage": "false", "spark.sql.codegen.factoryMode": "NO_CODEGEN"}


@contextmanager
def generated_code(spark):
    """Spark's generated code on for a block that runs on much data: the tests' session
    interprets expressions (cheaper on small data), which is slower on a million rows."""
    wanted = {"spark.sql.codegen.wholeStage": "true", "spark.sql.codegen.factoryMode": "FALLBACK"}
    before = {key: spark.conf.get(key) for key in wanted}
    for key, value in wanted.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            spark.conf.set(key, value)


COLORS = ["red", "blue", "grey", "green", "black", "white"]


def log(spark, rows):
    """A canonical event frame from (user, session, minute, event_type, item[, category, price]) rows."""
    from datetime import datetime, timedelta

    from synthlib.schema import EVENTS_DDL

    full = []
    for user, session, minute, event, item, *attrs in rows:
        category, price = (list(attrs) + [None, None])[:2]
        full.append((user, session, datetime(2024, 1, 1) + timedelta(minutes=minute), event, item, category, price,
                     None, None, None))
    return spark.createDataFrame(full, EVENTS_DDL)


def checksum(df):
    """Order-independent content checksum."""
    cols = [c for c in df.columns]
    return df.agg(F.count(F.lit(1)), F.sum(F.xxhash64(*cols).cast("decimal(38,0)"))).first()


TICK = re.compile(r'<g id="xtick_\d+">.*?<use [^>]*? x="([\d.]+)".*?<text [^>]*>([^<]*)</text>', re.S)


def x_axis_labels(svg: str) -> list[str]:
    """The x tick labels of one plot, left to right."""
    return [label for _, label in sorted((float(x), label) for x, label in TICK.findall(svg))]


def figures(page: str) -> dict[str, str]:
    """{caption: svg} of every plot of a report page."""
    return dict(re.findall(r"<figure><figcaption>(.*?)</figcaption>(<svg.*?</svg>)\s*</figure>", page, re.S))


def assert_numeric_axes_ascend(page: str) -> int:
    """Every plot whose x labels are all numbers shows them in ascending order; returns how many."""
    checked = 0
    for caption, svg in figures(page).items():
        labels = x_axis_labels(svg)
        try:
            values = [float(v.replace("\u2212", "-")) for v in labels]
        except ValueError:
            continue
        assert values == sorted(values), (caption, labels)
        checked += bool(values)
    return checked


def simulated_log(spark, folder, conf_yaml: str, *, train: bool = False):
    """A simulated log, profiled (and its model trained): writes `conf_yaml` with `output`
    under `folder`, runs simulate and profile (and train); returns the loaded conf."""
    from synthlib.config import load_config
    from synthlib.data.profile import profile
    from synthlib.data.simulate import simulate
    from synthlib.train import train as fit

    path = Path(folder) / "run.yaml"
    path.write_text(f"output: {Path(folder) / 'out'}\n" + conf_yaml)
    conf = load_config(str(path))
    simulate(spark, conf)
    profile(spark, conf)
    if train:
        fit(spark, conf)
    return conf
