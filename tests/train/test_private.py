"""DP-SGD's per-user gradients of the session net taken in one pass over every user's
sessions (expanded weights, `session_units`) equal those of one backward pass per user,
clipped sums included."""
import pytest
import torch

from synthlib.models.session_net import SessionConfig, SessionNet, build, model_args
from synthlib.train.loop import FitConfig, _DPSGD
from synthlib.models.tokens import END
from synthlib.schema import EVENT_TYPES
from synthlib.train.private import session_units, support
from tests.models.test_session import CFG, rows, vocab


def net_and_rows(arch="gru"):
    torch.manual_seed(3)
    v = vocab()
    net = build(model_args(SessionConfig(**{**CFG.__dict__, "arch": arch, "heads": 2}), v),
                torch.as_tensor(v.candidate_table()))
    net.eval()  # no dropout: both passes see the same network
    return net, rows(n=12, seed=5)


def test_session_nll_sums_to_the_training_loss():
    net, data = net_and_rows()
    tok, ctx = SessionNet.sessions(data, CFG.max_events)
    order = torch.argsort((tok["type"] > 0).sum(1), descending=True, stable=True)
    nll, events = net.session_nll({k: v[order] for k, v in tok.items()}, {k: v[order] for k, v in ctx.items()})
    mean, parts, n = net(tok, ctx)
    assert int(events.sum()) == int(n)
    assert float(nll.sum()) == pytest.approx(float(sum(parts.values())), rel=1e-5)
    assert float(nll.sum() / events.sum()) == pytest.approx(float(mean), rel=1e-5)


def test_one_pass_gives_each_users_gradient_and_the_same_clipped_sum():
    net, data = net_and_rows()
    assert CFG.sessions_per_row > 1  # a user's gradient sums several sessions'
    loss = lambda b: net(*SessionNet.sessions(b, CFG.max_events))  # noqa: E731
    cfg = FitConfig(epochs=1, epsilon=4.0, delta=1e-5, max_grad_norm=0.5, expected_users_per_step=1)
    looped = _DPSGD(net, loss, data, cfg)
    vectorised = _DPSGD(net, loss, data, cfg, session_units(net))
    each, total, events = looped._per_user(data)
    at_once, total_once, events_once = vectorised._per_unit(data)
    assert events_once == events and total_once == pytest.approx(total, rel=1e-5)
    for a, b in zip(each, at_once):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)
    norms = torch.sqrt(sum(g.flatten(1).square().sum(1) for g in each))
    assert (norms > cfg.max_grad_norm).any()  # clipping bites
    for a, b in zip(looped._clip(each), vectorised._clip(at_once)):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def test_the_transformer_keeps_one_pass_per_user():
    net, _ = net_and_rows("transformer")
    assert session_units(net) is None


def test_a_release_of_views_only_generates_views_only():
    # The released transitions of a view-only log: the noise floor kept no other type.
    released = {"transitions": {"(start)": {"view": 40}, "view": {"view": 90, "(end)": 40, "cart": 0}}}
    net, _ = net_and_rows()  # an untrained net: every type has some weight
    net.set_support(support(released))
    n = 400
    ctx = {"activity": torch.full((n,), 2), "home_cat": torch.ones(n, dtype=torch.long),
           "index": torch.zeros(n, dtype=torch.long)}
    u = torch.rand(CFG.max_events, 16, n, generator=torch.Generator().manual_seed(0))
    types = net.generate(ctx, lambda t, f, r: u[t, f, r])["type"]
    assert set(types[types > 0].tolist()) == {EVENT_TYPES.index("view") + 1}
    net.set_support(None)
    types = net.generate(ctx, lambda t, f, r: u[t, f, r])["type"]
    assert len(set(types[(types > 0) & (types != END)].tolist())) > 1  # unrestricted, it draws others
