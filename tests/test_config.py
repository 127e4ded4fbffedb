import pytest

from synthlib.config import ConfigError, load_config

SOURCE = {"path": "x.csv", "format": "csv", "event_type": "view",
          "columns": {"user_id": "u", "item_id": "i", "timestamp": "t"}}


def test_shipped_confs_are_valid():
    for name in ("demo", "taobao", "yoochoose", "diginetica", "otto"):
        conf = load_config(f"conf/{name}.yaml")
        assert conf.seed == 42


def test_unknown_key_names_key_file_and_suggestion(write_conf):
    path = write_conf({"seed": 1, "simulate": {"evnts": 5000}})
    with pytest.raises(ConfigError) as e:
        load_config(path)
    msg = str(e.value)
    assert path in msg and "simulate.evnts" in msg and "did you mean 'events'" in msg


def test_unknown_nested_key_in_list(write_conf):
    path = write_conf({"input": {"sources": [{**SOURCE, "colums": {}}]}})
    with pytest.raises(ConfigError, match=r"input\.sources\[0\]\.colums.*did you mean 'columns'"):
        load_config(path)


def test_mistyped_value_names_key(write_conf):
    path = write_conf({"seed": "abc", "simulate": {}})
    with pytest.raises(ConfigError, match="'seed'.*integer"):
        load_config(path)


def test_overrides_apply_and_are_validated(write_conf):
    path = write_conf({"simulate": {}})
    conf = load_config(path, ["seed=7", "generate.users=12", "simulate.start=2025-02-01"])
    assert (conf.seed, conf.generate.users, str(conf.simulate.start)) == (7, 12, "2025-02-01")
    with pytest.raises(ConfigError, match="generate.user'.*did you mean 'users'"):
        load_config(path, ["generate.user=3"])
    with pytest.raises(ConfigError, match="dotted.key=value"):
        load_config(path, ["seed"])


def test_source_rules(write_conf):
    bad = {**SOURCE, "event_type": "clickk"}
    with pytest.raises(ConfigError, match="unknown event type"):
        load_config(write_conf({"input": {"sources": [bad]}}))
    both = {**SOURCE, "table": "db.t"}
    with pytest.raises(ConfigError, match="exactly one of 'path' or 'table'"):
        load_config(write_conf({"input": {"sources": [both]}}))


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(str(tmp_path / "nope.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(bad))


def test_needs_input_or_simulate(write_conf):
    with pytest.raises(ConfigError, match="set 'input'"):
        load_config(write_conf({"seed": 1}))


def test_yaml_is_data_not_code(write_conf, tmp_path):
    path = write_conf({"simulate": {}})
    with open(path, "a") as fh:
        fh.write("spark: !!python/object/apply:os.system ['touch pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


@pytest.mark.parametrize("generate, message", [
    ({"users": 5, "events": 100}, "set one of generate.users, generate.sessions and generate.events"),
    ({"days": 3, "end": "2024-01-09"}, "set generate.days or generate.end, not both"),
    ({"start": "2024-01-09", "end": "2024-01-01"}, "generate.end 2024-01-01 is before generate.start"),
    ({"category_mix": {"a": -1}}, "category_mix: weights must be >= 0"),
    ({"follow_transitions": 1.5}, "follow_transitions"),
    ({"follow_min_events": 0}, "follow_min_events"),
    ({"segment": {"min_sessions": 5, "max_sessions": 2}}, "max_sessions is below min_sessions"),
    ({"zorder_by": ["user_id"]}, "zorder_by needs generate.optimize: true"),
    ({"optimize": True, "zorder_by": ["price"]}, "generate.zorder_by"),
])
def test_generation_requests_are_checked(write_conf, generate, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write_conf({"simulate": {}, "generate": generate}))


def test_holdout_needs_days_or_sources(write_conf):
    for holdout in ({}, {"days": 1, "sources": [SOURCE]}):
        with pytest.raises(ConfigError, match="evaluate.holdout.*set one of 'days'"):
            load_config(write_conf({"simulate": {}, "evaluate": {"holdout": holdout}}))
    assert load_config(write_conf({"simulate": {}, "evaluate": {"holdout": {"sources": [SOURCE]}}})).evaluate.holdout
