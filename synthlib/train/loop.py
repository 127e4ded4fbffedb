"""The training loop of the likelihood models: epochs over a batch source, validation with
early stopping, progress and throughput, and user-level DP-SGD.

A model plugs in through `loss(batch) -> (mean loss, {component: summed NLL}, events)`.
"""
from __future__ import annotations

import copy
import math
import secrets
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

import numpy as np
import torch

from synthlib.config import Config, DPConf, TrainConf
from synthlib.console import Progress

Batches = Callable[[int], Iterator[dict]]  # epoch -> batches
EPSILON_ERROR = 0.01  # the PRV accountant's tolerance; it reports the upper bound
# Per-sample gradients held at once under DP-SGD (floats): a step's users are taken in groups
# whose units' gradients fit, whatever the model's size.
PER_SAMPLE_FLOATS = 1 << 25


_TRAIN, _DP = TrainConf.model_fields, DPConf.model_fields  # the defaults are the conf's, written once


@dataclass(frozen=True)
class FitConfig:
    epochs: int  # upper bound; early stopping usually ends sooner
    lr: float = _TRAIN["lr"].default
    patience: int = _TRAIN["patience"].default  # epochs without a better validation loss before stopping
    max_minutes: float | None = None  # a safety net: training stops after the epoch that passes it
    budget: str = ""  # how `epochs` was chosen, for the progress line and model.json
    grad_clip: float = 1.0
    seed: int = Config.model_fields["seed"].default
    progress: bool = True
    label: str = ""  # names the model in the progress lines, e.g. "text model: "
    # DP-SGD, when epsilon is set: one user's rows are the unit of privacy (train.dp).
    epsilon: float | None = None
    delta: float = _DP["delta"].default
    max_grad_norm: float = _DP["max_grad_norm"].default  # per-user clipping bound
    expected_users_per_step: int = _DP["users_per_step"].default
    # DP-SGD's noise multiplier for (sample rate, steps); None: Opacus' PRV at (epsilon, delta).
    noise_for: Callable[[float, int], float] | None = None


@dataclass(frozen=True)
class Units:
    """Users' rows cut into the units whose gradients DP-SGD takes in one pass: `module(*inputs)`
    gives each unit's loss (U,), `owner` its user (0 .. users - 1), `scale` the weight that
    makes a user's units sum to its loss, `events` the events each unit holds."""
    module: torch.nn.Module
    inputs: tuple
    owner: torch.Tensor
    scale: torch.Tensor
    events: torch.Tensor


class UnitSource(Protocol):
    """Cuts users' rows into `Units`; a user's rows give at most `per_user` units."""
    per_user: int

    def __call__(self, rows: dict) -> Units: ...


@dataclass
class FitResult:
    state: dict
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_validation_nll: float = math.inf
    epsilon: float | None = None  # DP-SGD's alone (Opacus' PRV accountant)
    privacy: str = "none"
    dp_sgd: dict | None = None  # DP-SGD's noise multiplier, sample rate and steps taken
    # "epochs" or "early stopping": the data decided, the same on any machine; "max_minutes":
    # the wall-clock cap fired, so the result depends on the machine's speed and load.
    stopped_by: str = "epochs"


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def evaluate_nll(loss: Callable, batches: Iterator[dict]) -> tuple[float, dict]:
    """Mean NLL per event over the batches, and per component."""
    total, parts, events = 0.0, {}, 0
    with torch.no_grad():
        for batch in batches:
            _, comp, n = loss(batch)
            events += int(n)
            for k, v in comp.items():
                parts[k] = parts.get(k, 0.0) + float(v)
                total += float(v)
    events = max(events, 1)
    return total / events, {k: v / events for k, v in parts.items()}


def fit(model: torch.nn.Module, loss: Callable, train: Batches, validation: Batches | None, cfg: FitConfig,
        *, dp_rows: dict | None = None, dp_units: UnitSource | None = None) -> FitResult:
    """Train `model` in place and return its best state (by validation NLL) and history.

    Without DP, `train(epoch)` yields batches. With `cfg.epsilon`, `dp_rows` holds one row
    per user in memory and each step draws a Poisson sample of users from it. `dp_units`
    cuts a sample's rows into units whose gradients are taken in one pass (per-sample
    gradients, `Units`); without it, each user's gradient takes a pass of its own.
    """
    torch.manual_seed(cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    result = FitResult(state=copy.deepcopy(model.state_dict()))
    dp = _DPSGD(model, loss, dp_rows, cfg, dp_units) if cfg.epsilon is not None else None
    started, bad, progress = time.time(), 0, Progress(cfg.progress)
    for epoch in range(cfg.epochs):
        model.train()
        t0, events, total, steps = time.time(), 0, 0.0, 0
        for batch in (dp.batches(epoch) if dp else train(epoch)):
            opt.zero_grad(set_to_none=True)
            if dp:
                value, n = dp.step()
            else:
                value, _, n = loss(batch)
                value.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                value = float(value)
            opt.step()
            steps, events, total = steps + 1, events + int(n), total + value * int(n)
            if steps % 10 == 0:
                progress.update(f"{cfg.label}epoch {epoch + 1}/{cfg.epochs} step {steps} "
                                f"loss {total / max(events, 1):.3f} {events / (time.time() - t0):,.0f} events/s")
        model.eval()
        row = {"epoch": epoch + 1, "train_nll": total / max(events, 1), "events": events,
               "events_per_s": events / max(time.time() - t0, 1e-9), "seconds": time.time() - t0}
        if validation is not None:
            row["validation_nll"], row["validation_components"] = evaluate_nll(loss, validation(epoch))
        if dp:
            row["epsilon"] = dp.epsilon()
        result.history.append(row)
        progress.line(f"{cfg.label}epoch {epoch + 1}/{cfg.epochs}: train nll {row['train_nll']:.4f}"
                      + (f", validation nll {row['validation_nll']:.4f}" if validation else "")
                      + (f", DP-SGD alone at epsilon {row['epsilon']:.2f}" if dp else "")
                      + f", {row['events_per_s']:,.0f} events/s, {row['seconds']:.1f} s")
        score = row.get("validation_nll", row["train_nll"])
        if dp:  # the last state: choosing one by a loss on real rows would spend budget too
            result.best_epoch, result.state = epoch + 1, copy.deepcopy(model.state_dict())
        elif score < result.best_validation_nll:
            result.best_validation_nll, result.best_epoch, bad = score, epoch + 1, 0
            result.state = copy.deepcopy(model.state_dict())
        else:
            bad += 1
        if bad > cfg.patience and not dp:
            result.stopped_by = "early stopping"
            break
        if cfg.max_minutes is not None and time.time() - started > cfg.max_minutes * 60 and epoch + 1 < cfg.epochs:
            result.stopped_by = "max_minutes"
            progress.line(f"{cfg.label}stopped by the wall-clock cap ({cfg.max_minutes} min) after epoch "
                          f"{epoch + 1}: the model now depends on the machine's speed and load")
            break
    if dp:
        # The accountant covers every step taken, not only those up to the best epoch.
        result.epsilon, result.privacy = dp.epsilon(), "user-level DP-SGD"
        result.dp_sgd = {"noise_multiplier": dp.sigma, "sample_rate": dp.q, "steps": dp.taken}
    model.load_state_dict(result.state)
    return result


class _DPSGD:
    """DP-SGD with Poisson sampling of users, per-user clipping and Gaussian noise; the
    noise multiplier is calibrated and the privacy spent tracked with Opacus' PRV accountant
    (numerical composition of the privacy loss: at a given epsilon it needs 7% less noise
    than the RDP bound at epsilon 4, and 26% less at 0.5). The users' gradients come from one
    pass over their units where the model gives them (`UnitSource`: about 7 times as fast on
    the session model), else from a backward pass per user."""

    def __init__(self, model, loss, rows: dict, cfg: FitConfig, units: UnitSource | None = None):
        from opacus.accountants import PRVAccountant
        from opacus.accountants.utils import get_noise_multiplier

        if not rows:
            raise ValueError("DP training needs the training rows in memory")
        self.model, self.loss, self.rows, self.cfg = model, loss, rows, cfg
        self.n = len(next(iter(rows.values())))
        self.q = min(1.0, cfg.expected_users_per_step / self.n)
        self.steps_per_epoch = max(1, round(1 / self.q))
        steps = cfg.epochs * self.steps_per_epoch
        self.sigma = cfg.noise_for(self.q, steps) if cfg.noise_for else get_noise_multiplier(
            target_epsilon=cfg.epsilon, target_delta=cfg.delta, sample_rate=self.q, steps=steps, accountant="prv",
            epsilon_tolerance=EPSILON_ERROR)
        self.taken = 0
        self.accountant = PRVAccountant()
        # The users' sampling and the noise stay secret: never derived from the configured seed.
        self.gen = np.random.default_rng(secrets.randbits(128))
        self.noise = torch.Generator().manual_seed(secrets.randbits(63))
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.units = units
        per_user = units.per_user if units else 1  # gradients held per user: its units', or its own
        self.group = max(1, PER_SAMPLE_FLOATS // (per_user * sum(p.numel() for p in self.params)))  # users at once

    def batches(self, epoch: int) -> Iterator[None]:
        return iter([None] * self.steps_per_epoch)

    def step(self) -> tuple[float, int]:
        chosen = torch.as_tensor(np.nonzero(self.gen.random(self.n) < self.q)[0])
        summed = [torch.zeros_like(p) for p in self.params]
        total, events = 0.0, 0
        for lo in range(0, len(chosen), self.group):
            rows = {k: v[chosen[lo:lo + self.group].to(v.device)] for k, v in self.rows.items()}
            grads, loss, n = self._per_unit(rows) if self.units else self._per_user(rows)
            for s, g in zip(summed, self._clip(grads)):
                s.add_(g)
            total, events = total + loss, events + n
        expected = self.q * self.n
        for p, s in zip(self.params, summed):
            noise = torch.normal(0.0, self.sigma * self.cfg.max_grad_norm, p.shape, generator=self.noise).to(p.device)
            p.grad = (s + noise) / expected
        self.accountant.step(noise_multiplier=self.sigma, sample_rate=self.q)
        self.taken += 1
        return total / max(events, 1), events

    def _per_user(self, rows: dict) -> tuple[list[torch.Tensor], float, int]:
        """Each user's gradient, (users, *shape) per parameter, one backward pass per user."""
        users = len(next(iter(rows.values())))
        grads = [p.new_zeros(users, *p.shape) for p in self.params]
        total, events = 0.0, 0
        for i in range(users):
            value, _, n = self.loss({k: v[i:i + 1] for k, v in rows.items()})
            for out, g in zip(grads, torch.autograd.grad(value, self.params, allow_unused=True)):
                if g is not None:
                    out[i] = g
            total, events = total + float(value) * int(n), events + int(n)
        return grads, total, events

    def _per_unit(self, rows: dict) -> tuple[list[torch.Tensor], float, int]:
        """Each user's gradient as the sum of its units' per-sample gradients, from one
        forward and backward pass over all units (torch's expanded weights)."""
        from torch.nn.utils._per_sample_grad import call_for_per_sample_grads

        users = len(next(iter(rows.values())))
        units = self.units(rows)
        nll = call_for_per_sample_grads(units.module, batch_size=len(units.owner))(*units.inputs)
        (nll * units.scale).sum().backward()
        grads = []
        for p in self.params:
            g = p.new_zeros(users, *p.shape)
            if getattr(p, "grad_sample", None) is not None:
                g.index_add_(0, units.owner, p.grad_sample)
            p.grad_sample = None
            grads.append(g)
        return grads, float(nll.detach().sum()), int(units.events.sum())

    def _clip(self, grads: list[torch.Tensor]) -> list[torch.Tensor]:
        """The sum over users of their gradients, each clipped to `max_grad_norm`."""
        norm = torch.sqrt(sum(g.flatten(1).square().sum(1) for g in grads))
        scale = (self.cfg.max_grad_norm / (norm + 1e-12)).clamp(max=1.0)
        return [torch.tensordot(scale, g, dims=1) for g in grads]

    def epsilon(self) -> float:
        return float(self.accountant.get_epsilon(self.cfg.delta, eps_error=EPSILON_ERROR))
