"""Fixtures: one Spark session for the whole test run, a text model, small confs."""
from __future__ import annotations

import pytest
import yaml

from tests.helpers import COLORS, INTERPRETED, ROOT


@pytest.fixture(scope="session")
def spark():
    from synthlib.config import SparkConf
    from synthlib.spark import get_spark

    # Small data: compiling generated code costs more than interpreting the few rows it
    # would run on, and adaptive execution only splits each query into more jobs. Tests on
    # much data turn generated code back on (helpers.generated_code); the spark-submit tests
    # (test_cli, test_reliability) run with the product's settings, but for the reliability
    # runs on a small log (standalone.INTERPRETED).
    session = get_spark(SparkConf(master="local[2]", app_name="synthlib-tests", conf={
        "spark.sql.shuffle.partitions": "2", "spark.databricks.delta.snapshotPartitions": "2",
        "spark.ui.enabled": "false", "spark.default.parallelism": "2",
        "spark.sql.adaptive.enabled": "false", **INTERPRETED}))
    yield session
    session.stop()


@pytest.fixture(scope="session")
def text_model(spark, tmp_path_factory):
    """A text model trained through the Petastorm loader on "<colour> sofa" and "<colour> lamp"
    (sofas by acme at 500, lamps by lumo at 30) and one rare string."""
    from synthlib.train.loop import FitConfig
    from synthlib.text.model import TextConfig
    from synthlib.train.text import TEXT_DDL, train_text

    rows = [(f"{c} {kind}", kind, brand, price) for _ in range(12) for c in COLORS
            for kind, brand, price in (("sofa", "acme", 500.0), ("lamp", "lumo", 30.0))]
    rows.append(("jane doe 12 elm st", "rare", None, None))
    cfg = TextConfig(vocab_size=40, dim=32, dropout=0.0, max_pieces=12, price_bands=2)
    fit = FitConfig(epochs=12, lr=1e-2, patience=12, max_minutes=2, seed=3, progress=False)
    # No validation split: of a dozen distinct strings it would hold out one or two whole, and
    # training would stop at the epoch that guesses them best, before the categories are learnt.
    return train_text(spark, spark.createDataFrame(rows, TEXT_DDL), cfg, fit,
                      cache_dir=str(tmp_path_factory.mktemp("text") / "cache"), seed=3, batch_size=8, validation=0.0)


@pytest.fixture
def write_conf(tmp_path):
    """write_conf(dict) -> path of a YAML conf whose output defaults to a temp folder."""
    def write(tree: dict, name: str = "run.yaml") -> str:
        tree = {"output": str(tmp_path / "out"), **tree}
        path = tmp_path / name
        path.write_text(yaml.safe_dump(tree, sort_keys=False))
        return str(path)
    return write


@pytest.fixture(scope="session")
def exposure_run(spark, tmp_path_factory):
    """A simulated log with its searches' impressions, profiled, a stats model (and the
    exposure model) trained and one run generated; the last two days held out."""
    from synthlib.generate import generate
    from tests.helpers import simulated_log

    conf = simulated_log(spark, tmp_path_factory.mktemp("exposure"),
                         "seed: 5\nsimulate: {events: 50000, partitions: 2, impressions: true}\n"
                         "train: {model: stats}\nevaluate: {holdout: {days: 2}}\n", train=True)
    generate(spark, conf)
    return conf


@pytest.fixture(scope="session")
def shared_log_run(spark, tmp_path_factory):
    """shared_log_run(name) -> (conf, steps): the whole pipeline on a shared log with its
    shipped conf (`conf/<name>.yaml`), run once per test session: the ingest checks and the
    end-to-end check read the same output. The network trains one epoch on a share of the
    users (the evaluation's membership attack then takes the users left out as non-members),
    and evaluation measures a 20,000-event share of the synthetic log, fits ALS for two
    iterations and takes a few thousand test sessions and privacy records: no check here
    reads a utility or privacy figure, and each costs Spark work per log."""
    from synthlib.config import load_config
    from synthlib.pipeline import run_pipeline

    runs = {}

    def run(name: str):
        if name not in runs:
            sample = {"taobao": 0.25, "yoochoose": 0.25, "diginetica": 0.5}.get(name, 1.0)
            conf = load_config(str(ROOT / "conf" / f"{name}.yaml"),
                               [f"output={tmp_path_factory.mktemp(name)}", "train.epochs=1",
                                f"train.sample_fraction={sample}", "evaluate.als.iterations=2",
                                "evaluate.test_sessions=2000", "evaluate.privacy_records=2000",
                                "evaluate.reference_records=20000", "evaluate.max_events=20000"])
            runs[name] = conf, run_pipeline(spark, conf)
        return runs[name]

    return run
