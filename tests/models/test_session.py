"""The session network and its artifact, in torch alone (no Spark)."""
import dataclasses
import json
import os
from datetime import date

import numpy as np
import pandas as pd
import pytest
import torch

from synthlib import rng
from synthlib.models import item_scores
from synthlib.models.artifact import ModelArtifactError
from synthlib.models.session import SessionModel
from synthlib.models.session_net import SessionConfig, SessionNet, build, model_args
from synthlib.models.session_baseline import CountBaseline
from synthlib.models.timeline import Conditions, ItemTable, NextItems, follow_items, to_codes
from synthlib.models.tokens import END, FIELDS, build_vocab
from synthlib.schema import EVENT_TYPES
from synthlib.train.loader import memory_batches
from synthlib.train.loop import FitConfig, fit

CFG = SessionConfig(dim=16, max_events=6, sessions_per_row=2, vocab_items=6, max_categories=3, candidates=4)
PROFILE = {"sessions_per_user": {"bins": [1, 2, 3], "counts": [5, 3, 2]},
           "hour_of_day": {"10": 5, "20": 5}, "day_of_week": {str(d): 1 for d in range(1, 8)},
           "session_length": {"bins": [1, 2, 4], "counts": [3, 3, 2]}, "gap_log2_seconds": {"3": 5, "6": 2}}


def vocab():
    items = pd.DataFrame({"item_id": [f"i{k}" for k in range(10)],
                          "category": ["a", "a", "a", "a", "b", "b", "c", "c", None, "d"],
                          "weight": [50, 40, 30, 20, 25, 15, 9, 8, 3, 2], "mean_price": np.arange(10.0)})
    return build_vocab(items, ["a", "b", "c"], ["shoes", "red shoes"], vocab_items=CFG.vocab_items,
                       max_categories=CFG.max_categories, candidates=CFG.candidates, max_position=5)


def rows(n=24, seed=0):
    """Token rows like `encode` writes: per user, 2 sessions of up to 6 events, END, padding."""
    v, gen = vocab(), np.random.default_rng(seed)
    table = v.candidate_table()
    L = CFG.max_events + 1
    out = {f: np.zeros((n, CFG.sessions_per_row * L), dtype=np.int64) for f in FIELDS}
    for r in range(n):
        for s in range(CFG.sessions_per_row):
            length = gen.integers(1, CFG.max_events + 1)
            for t in range(length):
                i = s * L + t
                cat = int(gen.integers(1, 4))
                out["type"][r, i] = gen.choice([1, 2, 3, 3, 3, 6])
                out["gap"][r, i] = 0 if t == 0 else gen.integers(1, 10)
                out["cat"][r, i] = cat
                if out["type"][r, i] != 1:
                    cands = table[cat][table[cat] > 0]
                    out["item"][r, i] = cands[0] if gen.random() < 0.6 else gen.choice(cands)
                out["pos"][r, i] = gen.integers(1, 6) if out["type"][r, i] == 2 else 0
                out["query"][r, i] = gen.integers(0, 4) if out["type"][r, i] == 1 else 0
            out["type"][r, s * L + length] = END
    t = {k: torch.as_tensor(x) for k, x in out.items()}
    t.update(user_key=torch.arange(n), chunk=torch.zeros(n, dtype=torch.long),
             activity=torch.full((n,), 2), home_cat=torch.ones(n, dtype=torch.long))
    return t


def trained_net(seed=1, epochs=3, **fit_kw):
    torch.manual_seed(seed)
    v = vocab()
    net = build(model_args(CFG, v), torch.as_tensor(v.candidate_table()))
    data = rows()
    loss = lambda b: net(*SessionNet.sessions(b, CFG.max_events))  # noqa: E731
    result = fit(net, loss, lambda e: memory_batches(data, batch_size=8, seed=seed, epoch=e), None,
                 FitConfig(epochs=epochs, seed=seed, progress=False, **fit_kw), dp_rows=data if fit_kw else None)
    return net, result


def model(net):
    v = vocab()
    spec = {"model": "session", "version": "test", "args": model_args(CFG, v), "profile": PROFILE,
            "home_by_activity": {"2": {"1": 3, "2": 1}}, "lineage": {}, "training": {},
            "vocab": {"categories": list(v.categories), "queries": list(v.queries), "max_position": 5}}
    return SessionModel(spec, v.items, net.state_dict())


def test_vocabulary_keeps_popular_items_and_tail_slots():
    v = vocab()
    table = v.candidate_table()
    # Category a keeps its 3 most popular items (candidates - 1), then its tail slot.
    assert [v.items.set_index("token").loc[t, "item_id"] for t in table[1][:3]] == ["i0", "i1", "i2"]
    assert table[1][3] == v.tail_token(1)
    assert v.items.set_index("item_id").loc["i3", "token"] == 0  # a tail item of a
    assert v.items.set_index("item_id").loc["i9", "cat_token"] == 4  # category d is "other"


def test_training_lowers_the_loss_and_the_baseline_counts():
    _, result = trained_net(epochs=4)
    losses = [h["train_nll"] for h in result.history]
    assert losses[-1] < losses[0]
    base = CountBaseline(vocab().n_cats, vocab().n_items, vocab().n_queries, 6, torch.as_tensor(vocab().candidate_table()))
    tok = SessionNet.sessions(rows(), CFG.max_events)[0]
    base.update(tok)
    parts, events = base.nll(tok)
    assert events == int(((tok["type"] > 0) & (tok["type"] != END)).sum()) and all(v >= 0 for v in parts.values())


def test_same_seed_same_weights_other_seed_other_weights():
    a, _ = trained_net(seed=1, epochs=1)
    b, _ = trained_net(seed=1, epochs=1)
    c, _ = trained_net(seed=2, epochs=1)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    assert any(not torch.equal(v, c.state_dict()[k]) for k, v in a.state_dict().items())


def test_generation_is_deterministic_and_well_formed():
    m = model(trained_net(epochs=1)[0])
    a = m.sample_block(0, 20, seed=5, start=date(2024, 1, 1), days=7)
    b = m.sample_block(0, 20, seed=5, start=date(2024, 1, 1), days=7)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(m.sample_block(0, 20, seed=6, start=date(2024, 1, 1), days=7))
    assert set(a["user"]) <= set(range(20)) and len(a) > 20
    assert set(a["event"]) <= set(range(len(EVENT_TYPES)))
    search = a["event"] == EVENT_TYPES.index("search")
    assert (a.loc[~search, "item"] >= 0).all() and (a.loc[search, "item"] == -1).all()
    assert a.groupby(["user", "session"])["ts"].is_monotonic_increasing.all()
    # A user's events are the same whether generated alone or within a larger block.
    alone = m.sample_block(5, 6, seed=5, start=date(2024, 1, 1), days=7)
    pd.testing.assert_frame_equal(alone, a[a["user"] == 5].reset_index(drop=True))


def test_the_recurrent_core_steps_through_each_session_only():
    net, _ = trained_net(epochs=1)
    net.eval()
    tok, ctx = SessionNet.sessions(rows(), CFG.max_events)
    from synthlib.models.session_net import targets
    x = net._inputs(targets(tok)["prev"], net._context(**ctx))
    lengths = (tok["type"] > 0).sum(1)
    full, _ = net._run(x)
    packed, _ = net._run(x, lengths=lengths)
    valid = torch.arange(x.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
    assert torch.allclose(full[valid], packed[valid], atol=1e-5)
    assert (packed[~valid] == net.norm(torch.zeros(1, x.shape[-1]))).all()  # padding never stepped through
    # The loss of a batch does not depend on how much padding its rows carry.
    wide = {f: torch.nn.functional.pad(v, (0, 9)) for f, v in tok.items()}
    assert torch.allclose(net(tok, ctx)[0], net(wide, ctx)[0], atol=1e-5)


def test_generation_never_draws_what_training_never_held():
    net, _ = trained_net(epochs=1)
    net.eval()
    base = CountBaseline(vocab().n_cats, vocab().n_items, vocab().n_queries, 6, torch.as_tensor(vocab().candidate_table()))
    views = {f: v.clone() for f, v in SessionNet.sessions(rows(), CFG.max_events)[0].items()}
    views["type"][(views["type"] > 0) & (views["type"] != END)] = EVENT_TYPES.index("view") + 1  # a view-only log
    base.update(views)
    support = base.support()
    view = EVENT_TYPES.index("view") + 1
    assert [t for t, seen in enumerate(support["type"][view]) if seen] == [view, END]
    net.set_support(support)
    ctx = {k: torch.ones(400, dtype=torch.long) for k in ("activity", "home_cat", "index")}
    gen = torch.Generator().manual_seed(0)
    u = torch.rand(CFG.max_events, 8, 400, generator=gen)
    out = net.generate(ctx, lambda t, f, rows: u[t, f, rows])
    assert set(out["type"].unique().tolist()) <= {0, view}  # no search, click, cart or purchase
    net.set_support(None)
    assert len(set(net.generate(ctx, lambda t, f, rows: u[t, f, rows])["type"].unique().tolist())) > 2


def test_generation_steps_the_recurrent_core_as_training_runs_it():
    two_layers = SessionNet(dataclasses.replace(CFG, layers=2, max_events=3), n_cats=4, n_items=8, n_queries=3,
                            n_positions=6, candidates=torch.zeros(4, 4))
    for net in (trained_net(epochs=1)[0], two_layers):
        net.eval()
        x, state = torch.randn(30, 3, CFG.dim, generator=torch.Generator().manual_seed(0)), None
        full, _ = net._run(x)
        for t in range(3):  # one step at a time, as generation does
            h, state = net._step(x[:, t], state)
            torch.testing.assert_close(h, full[:, t])


def test_items_drawn_by_the_mixtures_parts_follow_the_whole_mixture():
    net, _ = trained_net(epochs=2)
    net.eval()
    n, cats = 20_000, net.candidates.shape[0] - 1
    h = torch.randn(1, CFG.dim, generator=torch.Generator().manual_seed(1)).expand(n * cats, -1)  # one context
    cat = torch.arange(1, cats + 1).repeat_interleave(n)  # every category, many uniforms each
    with torch.no_grad():
        u = torch.rand(n * cats, generator=torch.Generator().manual_seed(0))
        drawn = net._draw_items(h, cat, net._prior_table(), u)
        for c in range(1, cats + 1):
            probs, cands = net._item_probs(h[:1], torch.tensor([c]))
            expected = dict(zip(cands[0].tolist(), probs[0].tolist()))
            seen = pd.Series(drawn[cat == c].numpy()).value_counts(normalize=True).to_dict()
            assert set(seen) <= {k for k, p in expected.items() if p > 0}
            assert 0.5 * sum(abs(seen.get(k, 0.0) - p) for k, p in expected.items()) < 0.02


def scores_of(net, query, cat):
    return item_scores.candidate_scores(query, cat, net.candidates[cat], net.candidates, net.item_out, net.item_bias)


def test_item_scores_grouped_by_category_equal_the_gathered_ones(monkeypatch):
    net = trained_net(epochs=1)[0]
    query = torch.randn(40, CFG.dim, requires_grad=True)
    cat = torch.as_tensor(np.random.default_rng(0).integers(1, 4, 40))
    found = {}
    for name, bar in (("gathered", float("inf")), ("grouped", 0)):
        monkeypatch.setitem(item_scores.GROUPED_MIN_SCORES, "cpu", bar)
        net.zero_grad()
        query.grad = None
        scores = scores_of(net, query, cat)
        scores.sin().sum().backward()
        found[name] = (scores.detach(), query.grad.clone(), net.item_out.weight.grad.clone())
        assert scores_of(net, query[:0], cat[:0]).shape == (0, CFG.candidates)  # a batch without item events
    for a, b in zip(found["gathered"], found["grouped"]):
        torch.testing.assert_close(a, b)
    # Grouped, a user's events are still the same alone or within a larger block.
    m = model(net)
    block = m.sample_block(0, 20, seed=5, start=date(2024, 1, 1), days=7)
    alone = m.sample_block(5, 6, seed=5, start=date(2024, 1, 1), days=7)
    pd.testing.assert_frame_equal(alone, block[block["user"] == 5].reset_index(drop=True))


def test_conditions_shape_what_is_generated():
    m = model(trained_net(epochs=1)[0])
    day = dict(seed=5, start=date(2024, 1, 1), days=7)
    target = m.spec["vocab"]["categories"][1]
    mixed = m.sample_block(0, 60, **day, conditions=Conditions(category_mix={target: 1.0}))
    first = mixed.groupby(["user", "session"]).head(1)
    assert (first["category"] == 2).all()  # token of the second category
    heavy = m.sample_block(0, 60, **day, conditions=Conditions(min_sessions=3, max_sessions=4))
    assert heavy.groupby("user")["session"].nunique().between(3, 4).all()
    with pytest.raises(ValueError, match="category_mix.*not among the model's categories"):
        m.sample_block(0, 5, **day, conditions=Conditions(category_mix={"no such category": 1.0}))
    with pytest.raises(ValueError, match="no real user has between 500 and 600 sessions"):
        m.sample_block(0, 5, **day, conditions=Conditions(min_sessions=500, max_sessions=600))


def test_item_power_below_one_lifts_the_long_tail_slots():
    table = model(trained_net(epochs=1)[0]).item_table
    tail_of_c = table.n_vocab + 3  # category c's tail slot: items i6 (weight 9) and i7 (weight 8) ...
    u = np.linspace(0, 1, 1000, endpoint=False)

    def share_of_i6(power):
        rows = table.resolve(np.full(1000, tail_of_c), np.full(1000, 3), u, power)
        return np.mean(table.ids[rows] == "i6")

    assert share_of_i6(1.0) == pytest.approx(9 / 17, abs=0.01)
    assert share_of_i6(0.01) == pytest.approx(0.5, abs=0.01)


def test_save_load_round_trips_exactly(tmp_path):
    m = model(trained_net(epochs=1)[0])
    m.save(str(tmp_path / "m"))
    again = SessionModel.load(str(tmp_path / "m"))
    for k, v in m.net.state_dict().items():
        assert torch.equal(v, again.net.state_dict()[k])
    assert again.to_bytes()["model.json"] == m.to_bytes()["model.json"]
    pd.testing.assert_frame_equal(again.sample_block(0, 5, seed=1, start=date(2024, 1, 1), days=3),
                                  m.sample_block(0, 5, seed=1, start=date(2024, 1, 1), days=3))


def test_tampered_or_pickled_weights_are_refused(tmp_path):
    m = model(trained_net(epochs=1)[0])
    folder = str(tmp_path / "m")
    m.save(folder)
    with open(os.path.join(folder, "model.pt"), "r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00\x01")
    with pytest.raises(ModelArtifactError, match="model.pt does not match the hash"):
        SessionModel.load(folder)
    # A pickled module with a matching hash is still refused: weights_only never unpickles code.
    torch.save(m.net, os.path.join(folder, "model.pt"))
    spec = json.load(open(os.path.join(folder, "model.json")))
    import hashlib
    spec["files"]["model.pt"] = hashlib.sha256(open(os.path.join(folder, "model.pt"), "rb").read()).hexdigest()
    json.dump(spec, open(os.path.join(folder, "model.json"), "w"))
    with pytest.raises(ModelArtifactError, match="not a plain state dict"):
        SessionModel.load(folder)


def test_dp_training_reports_the_epsilon_spent():
    net, result = trained_net(epochs=2, epsilon=8.0, delta=1e-5, max_grad_norm=1.0, expected_users_per_step=6)
    assert result.privacy == "user-level DP-SGD"
    assert 0 < result.epsilon <= 8.0 * 1.05
    assert all(torch.isfinite(p).all() for p in net.parameters())
    assert result.history[-1]["epsilon"] == pytest.approx(result.epsilon)


def test_unknown_architecture_is_refused():
    with pytest.raises(ValueError, match="arch.*'gru' or 'transformer'"):
        SessionConfig(arch="lstm")


def test_transformer_variant_trains_and_generates():
    v = vocab()
    cfg = SessionConfig(**{**CFG.__dict__, "arch": "transformer", "heads": 2})
    net = build(model_args(cfg, v), torch.as_tensor(v.candidate_table()))
    loss, _, n = net(*SessionNet.sessions(rows(), cfg.max_events))
    assert torch.isfinite(loss) and n > 0
    net.eval()
    ctx = {k: torch.ones(3, dtype=torch.long) for k in ("activity", "home_cat", "index")}
    out = net.generate(ctx, lambda t, f, rows: torch.full((len(rows),), 0.5))
    assert out["type"].shape == (3, cfg.max_events)


def test_end_calibration_matches_the_mean_session_length():
    net, _ = trained_net(epochs=1)
    net.eval()
    ctx = {k: torch.ones(300, dtype=torch.long) for k in ("activity", "home_cat", "index")}
    gen = torch.Generator().manual_seed(0)
    u = torch.rand(CFG.max_events, 8, 300, generator=gen)

    def mean_length():
        out = net.generate(ctx, lambda t, f, rows: u[t, f, rows])
        return float(((out["type"] > 0) & (out["type"] != END)).sum(1).float().mean())

    for target in (2.0, 4.5):
        net.calibrate_end(ctx, target, seed=0)
        assert abs(mean_length() - target) < 0.5


def test_next_items_follow_real_transitions_with_their_shares():
    ids = np.array(["a", "b", "c", "d"], dtype=object)
    items = pd.DataFrame({"item_id": ["a", "c", "d", "b"], "next_items": [["b", "c", "zz"], ["a"], None, ["zz"]],
                          "next_counts": [[3, 1, 4], [2], None, [1]], "transitions": [8, 2, 0, 1]})
    follow = NextItems(items, ids)  # "zz" is not in the table: dropped, its share not followed (b has no other)
    u = (np.arange(100) + 0.5) / 100
    after_a = follow.draw(np.zeros(100, dtype=np.int64), u)
    assert [(after_a == r).sum() for r in (1, 2, -1)] == [37, 13, 50]  # u < 3/8, u < 4/8, the rest
    assert (follow.draw(np.full(100, 2), u) == 0).all()  # c -> a always
    assert (follow.draw(np.full(100, 1), u) == -1).all() and (follow.draw(np.full(100, -1), u) == -1).all()


def test_follow_strength_moves_the_transitions_not_kept_onto_the_kept_ones():
    ids = np.array(["a", "b", "c", "d"], dtype=object)
    items = pd.DataFrame({"item_id": ["a", "c"], "next_items": [["b", "c"], ["a"]],
                          "next_counts": [[3, 1], [2]], "transitions": [8, 2]})
    follow = NextItems(items, ids)
    u = (np.arange(100) + 0.5) / 100
    a = np.zeros(100, dtype=np.int64)
    counts = lambda out: [(out == r).sum() for r in (1, 2, -1)]  # noqa: E731
    assert counts(follow.draw(a, u, 0.5)) == [56, 19, 25]  # kept 4/8: b 3/8 + 3/16, c 1/8 + 1/16
    assert counts(follow.draw(a, u, 1.0)) == [75, 25, 0]  # b and c alone, 3 : 1
    assert (follow.draw(np.full(100, 2), u, 1.0) == 0).all()  # every transition of c was kept
    assert (follow.draw(np.full(100, 1), u, 1.0) == -1).all()  # b has none: the model's draw stands


def test_kept_pairs_follow_at_the_share_a_new_users_session_repeats():
    ids = np.array(["a", "b", "c", "d"], dtype=object)
    # a's kept pairs hold 4 of its 8 pairs, but only b's 3 would be kept without any one user.
    items = pd.DataFrame({"item_id": ["a", "c"], "next_items": [["b", "c"], ["a"]], "next_counts": [[3, 1], [2]],
                          "transitions": [8, 2], "fresh_counts": [3, 0]})
    follow = NextItems(items, ids)
    u = (np.arange(100) + 0.5) / 100
    counts = lambda out: [(out == r).sum() for r in (1, 2, -1)]  # noqa: E731
    a = np.zeros(100, dtype=np.int64)
    assert counts(follow.draw(a, u)) == [28, 9, 63]  # 3/8 in all, b and c 3 : 1 among them
    assert counts(follow.draw(a, u, 1.0)) == [75, 25, 0]  # all moved on: the kept pairs' own proportions
    assert (follow.draw(np.full(100, 2), u) == -1).all()  # c's one pair would not survive without one user
    assert (follow.draw(np.full(100, 2), u, 1.0) == 0).all()


def test_follow_items_repeats_and_follows_within_sessions():
    follow = NextItems(pd.DataFrame({"item_id": ["a"], "next_items": [["b"]], "next_counts": [[1]],
                                     "transitions": [1]}), np.array(["a", "b", "c"], dtype=object))
    # Session 0: a, (search), c -> follows a to b; session 1: c, then a repeat of it.
    row = np.array([0, -1, 2, 2, 1])
    repeat = np.array([False, False, False, False, True])
    session, step = np.array([0, 0, 0, 1, 1]), np.array([0, 1, 2, 0, 1])
    assert follow_items(row, repeat, session, step, follow, np.full(5, 0.5)).tolist() == [0, -1, 1, 2, 2]
    assert follow_items(row, repeat, session, step, None, np.full(5, 0.5)).tolist() == [0, -1, 2, 2, 2]


def test_a_tail_token_twice_is_two_draws_unless_the_model_repeats_it():
    # Category x holds one vocabulary item (token 1) and many tail items (its tail slot, token 3).
    ids = ["v", *[f"t{i}" for i in range(50)]]
    items = pd.DataFrame({"item_id": ids, "category": "x", "mean_price": 1.0, "cat_token": 1,
                          "token": [1] + [0] * 50, "weight": 1.0})
    table = ItemTable(items, 2, ("x",))
    S, T, view = 200, 2, EVENT_TYPES.index("view") + 1
    ones = np.ones((S, T), dtype=np.int64)
    tokens = {"type": view * ones, "gap": ones, "cat": ones, "query": 0 * ones, "pos": 0 * ones, "item": 3 * ones}
    zeros, sessions = np.zeros(S, dtype=np.int64), np.arange(S)
    items_of = lambda tok: to_codes(tok, sessions, zeros, zeros.astype(float), table, 7,  # noqa: E731
                                    sessions, 1.0)["item"].to_numpy().reshape(S, T)
    drawn = items_of(tokens)
    assert (drawn[:, 0] != drawn[:, 1]).mean() > 0.9  # independent draws among 50 tail items
    repeated = items_of(tokens | {"repeat": np.tile([False, True], (S, 1))})
    assert (repeated[:, 0] == repeated[:, 1]).all() and (repeated[:, 0] == drawn[:, 0]).all()
    vocab = items_of(tokens | {"item": ones})  # a vocabulary token twice is one item
    assert (vocab[:, 0] == vocab[:, 1]).all()


def test_follow_strength_applies_from_the_session_length_set():
    # Items a..d, each followed by the next one in half of its real transitions.
    ids = ["a", "b", "c", "d"]
    items = pd.DataFrame({"item_id": ids, "category": "x", "mean_price": 1.0, "cat_token": 1, "token": [1, 2, 3, 4],
                          "weight": 1.0, "next_items": [[n] for n in ids[1:] + ids[:1]], "next_counts": [[1]] * 4,
                          "transitions": 2})
    table = ItemTable(items, 2, ("x",))
    S, T = 200, 5  # sessions of 2 views, then sessions of 5
    length = np.where(np.arange(S) < 100, 2, 5)
    live = np.arange(T)[None, :] < length[:, None]
    view = EVENT_TYPES.index("view") + 1
    tokens = {"type": np.where(live, view, 0), "gap": live * 1, "cat": live * 1, "query": 0 * live, "pos": 0 * live,
              "item": np.where(live, (np.arange(S)[:, None] - np.arange(T)[None, :]) % 4 + 1, 0)}  # d after a
    zeros, sessions = np.zeros(S, dtype=np.int64), np.arange(S)
    items_of = lambda strength, min_events=1: to_codes(  # noqa: E731
        tokens, sessions, zeros, zeros.astype(float), table, 7, sessions, 1.0, strength, min_events)["item"].to_numpy()
    real_share, always, from_five = items_of(0.0), items_of(1.0), items_of(1.0, 5)
    short = np.repeat(length, length) < 5
    assert (from_five[short] == real_share[short]).all() and (from_five[~short] == always[~short]).all()
    assert (real_share[short] != always[short]).any() and (real_share[~short] != always[~short]).any()


def test_items_under_the_floor_back_off_to_their_categorys_shared_items():
    # Category x: v1 (vocabulary, shared), t1 (tail, shared), t2..t9 (tail, one user each);
    # categories y and z share one token (as "other" does): y holds only items under the
    # floor, which stay as drawn, never backed off to z's shared z1.
    ids = ["v1", *[f"t{i}" for i in range(1, 10)], "y1", "y2", "z1"]
    items = pd.DataFrame({"item_id": ids, "category": ["x"] * 10 + ["y"] * 2 + ["z"], "mean_price": 1.0,
                          "cat_token": [1] * 10 + [2] * 3, "token": [1] + [0] * 12,
                          "weight": [30.0, 10.0] + [1.0] * 8 + [1.0, 1.0, 5.0],
                          "shared": [True, True] + [False] * 10 + [True]})
    table, without = ItemTable(items, 3, ("x", "other")), ItemTable(items.drop(columns="shared"), 3, ("x", "other"))
    n = 4000
    u, u_floor = rng.uniform(3, np.arange(n), 0), rng.uniform(3, np.arange(n), 1)
    names = table.ids[table.resolve(np.full(n, table.n_vocab + 1), np.full(n, 1), u, 1.0, u_floor)]
    # The tail draw keeps t1 (10 of the tail's 18); the rest backs off, to v1 for 30 of 40.
    assert set(names) == {"v1", "t1"} and abs((names == "v1").mean() - 8 / 18 * 30 / 40) < 0.03
    assert len(set(without.ids[without.resolve(np.full(n, without.n_vocab + 1), np.full(n, 1), u)])) == 9
    # Where the floor is not applied (short sessions, to_codes), the draws stay as they are.
    kept = table.resolve(np.full(n, table.n_vocab + 1), np.full(n, 1), u, 1.0, u_floor, np.arange(n) % 2 == 0)
    assert (kept[1::2] == without.resolve(np.full(n, without.n_vocab + 1), np.full(n, 1), u)[1::2]).all()
    assert set(table.ids[kept[::2]]) == {"v1", "t1"}
    other = np.full(n, table.n_vocab + 2), np.full(n, 2)
    assert (table.ids[table.resolve(*other, u, 1.0, u_floor)] == without.ids[without.resolve(*other, u)]).all()
    assert ItemTable.floor_summary(items) == {"shared_item_event_share": round(45 / 55, 4),
                                             "unshared_categories_event_share": round(2 / 55, 4)}
