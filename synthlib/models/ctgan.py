"""The `ctgan` synthesizer: a conditional GAN for per-event rows, in the manner of CTGAN
(Xu et al., 2019): mode-specific normalization of continuous columns, a conditional
vector with training-by-sampling over the discrete columns, a residual generator, and a
WGAN-GP critic that judges `pac` rows at a time.

It models events independently (no session structure); sessions are assembled from the
profile at generation (`tabular.sample_sessions`).
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from synthlib import rng
from synthlib.models.neural import NeuralModel
from synthlib.models.tabular import DISCRETE, Encoder, item_table, sample_sessions
from synthlib.models.timeline import Conditions


@dataclass(frozen=True)
class CTGANConfig:
    noise: int = 64  # generator input noise width
    dim: int = 128  # width of generator blocks and critic layers
    layers: int = 2  # residual blocks in the generator, hidden layers in the critic
    pac: int = 10  # rows the critic judges together (against mode collapse)
    gp_weight: float = 10.0  # gradient-penalty weight (WGAN-GP)
    modes: int = 8  # Gaussian modes per continuous column, at most


class _Residual(nn.Module):
    def __init__(self, i: int, o: int):
        super().__init__()
        self.fc, self.bn = nn.Linear(i, o), nn.BatchNorm1d(o)

    def forward(self, x):
        return torch.cat([F.relu(self.bn(self.fc(x))), x], 1)


class CTGANNet(nn.Module):
    def __init__(self, config: CTGANConfig, width: int, cond_width: int):
        super().__init__()
        c, d = config, config.noise + cond_width
        blocks = []
        for _ in range(c.layers):
            blocks.append(_Residual(d, c.dim))
            d += c.dim
        self.generator = nn.Sequential(*blocks, nn.Linear(d, width))
        layers, d = [], (width + cond_width) * c.pac
        for _ in range(c.layers):
            layers += [nn.Linear(d, c.dim), nn.LeakyReLU(0.2), nn.Dropout(0.5)]
            d = c.dim
        self.critic = nn.Sequential(*layers, nn.Linear(d, 1))
        self.config = c

    def judge(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic(x.reshape(-1, x.shape[1] * self.config.pac))


class CondVector:
    """The conditional vector: one discrete column's value, one-hot in that column's block."""

    def __init__(self, sizes: dict[str, int], counts: dict[str, list[float]]):
        self.sizes = [sizes[c] for c in DISCRETE]
        self.offsets = np.cumsum([0, *self.sizes])
        self.width = int(self.offsets[-1])
        self.freq = [np.asarray(counts[c], dtype=float) + 1e-9 for c in DISCRETE]

    def vector(self, column: np.ndarray, value: np.ndarray) -> torch.Tensor:
        cond = torch.zeros(len(column), self.width)
        cond[torch.arange(len(column)), torch.as_tensor(self.offsets[column] + value)] = 1.0
        return cond

    def training_sample(self, values: np.ndarray, gen: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Training-by-sampling within a batch: a random column per row, and rows re-drawn so
        that each column's values appear in proportion to their log-frequency."""
        n = len(values)
        column = gen.integers(0, len(DISCRETE), n)
        v = values[np.arange(n), column]
        f = np.array([self.freq[c][x] for c, x in zip(column, v)])
        weight = np.log1p(f) / f
        rows = gen.choice(n, n, p=weight / weight.sum())
        return rows, column[rows]

    def sample(self, u_col: np.ndarray, u_val: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Conditions for generation: a column uniformly, a value by its true frequency."""
        column = np.minimum((u_col * len(DISCRETE)).astype(int), len(DISCRETE) - 1)
        value = np.zeros(len(column), dtype=np.int64)
        for c in np.unique(column):
            sel = column == c
            value[sel] = rng.pick(rng.cdf(self.freq[c]), u_val[sel])
        return column, value


def fit_ctgan(net: CTGANNet, enc: Encoder, cond: CondVector, batches, cfg) -> list[dict]:
    """Adversarial training (Adam, lr 2e-4, betas 0.5/0.9 as in CTGAN); returns the history."""
    torch.manual_seed(cfg.seed)
    gen = np.random.default_rng([cfg.seed, 11])
    opt_g = torch.optim.Adam(net.generator.parameters(), lr=2e-4, betas=(0.5, 0.9), weight_decay=1e-6)
    opt_d = torch.optim.Adam(net.critic.parameters(), lr=2e-4, betas=(0.5, 0.9), weight_decay=1e-6)
    pac, history, started = net.config.pac, [], time.time()
    for epoch in range(cfg.epochs):
        t0, rows, losses = time.time(), 0, []
        for batch in batches(epoch):
            n = len(batch["type"]) // pac * pac
            if n == 0:
                continue
            values = np.stack([batch[c][:n].numpy() for c in DISCRETE], 1)
            order, column = cond.training_sample(values, gen)
            real = enc.encode({k: v[:n][torch.as_tensor(order)] for k, v in batch.items()})
            c = cond.vector(column, values[order, column])
            fake = enc.activate(net.generator(torch.cat([torch.randn(n, net.config.noise), c], 1)), tau=0.2)
            # Critic: Wasserstein loss with a gradient penalty on interpolates.
            real_in, fake_in = torch.cat([real, c], 1), torch.cat([fake.detach(), c], 1)
            alpha = torch.rand(n // pac, 1, 1).expand(-1, pac, real_in.shape[1]).reshape(n, -1)
            mix = (alpha * real_in + (1 - alpha) * fake_in).requires_grad_(True)
            grad = torch.autograd.grad(net.judge(mix).sum(), mix, create_graph=True)[0]
            penalty = ((grad.reshape(-1, pac * mix.shape[1]).norm(2, dim=1) - 1) ** 2).mean()
            loss_d = net.judge(fake_in).mean() - net.judge(real_in).mean() + net.config.gp_weight * penalty
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            # Generator: fool the critic and honour the condition.
            raw = net.generator(torch.cat([torch.randn(n, net.config.noise), c], 1))
            fake = enc.activate(raw, tau=0.2)
            lo = cond.offsets[column]
            idx = torch.as_tensor(lo)[:, None] + torch.arange(max(cond.sizes))[None, :]
            width = torch.as_tensor(np.asarray(cond.sizes)[column])[:, None]
            logits = raw[:, :cond.width].gather(1, idx.clamp(max=cond.width - 1))
            logits = logits.masked_fill(torch.arange(max(cond.sizes))[None, :] >= width, float("-inf"))
            cond_loss = F.cross_entropy(logits, torch.as_tensor(values[order, column]))
            loss_g = -net.judge(torch.cat([fake, c], 1)).mean() + cond_loss
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            rows += n
            losses.append((float(loss_d), float(loss_g), float(cond_loss)))
        d, g, cl = np.mean(losses, 0).tolist() if losses else [math.nan] * 3
        row = {"epoch": epoch + 1, "critic_loss": d, "generator_loss": g, "condition_loss": cl, "rows": rows,
               "rows_per_s": rows / max(time.time() - t0, 1e-9), "seconds": time.time() - t0}
        history.append(row)
        if cfg.progress:
            print(f"epoch {epoch + 1}/{cfg.epochs}: critic {d:.3f}, generator {g:.3f}, condition {cl:.3f}, "
                  f"{row['rows_per_s']:,.0f} rows/s", file=sys.stderr, flush=True)
        if cfg.max_minutes is not None and time.time() - started > cfg.max_minutes * 60:
            break
    net.eval()
    return history


class CTGANModel(NeuralModel):
    kind = "ctgan"

    def build_net(self, spec: dict, items) -> CTGANNet:
        self.encoder = Encoder(spec["sizes"], spec["modes"])
        self.cond = CondVector(spec["sizes"], spec["counts"])
        return CTGANNet(CTGANConfig(**spec["config"]), self.encoder.width, self.cond.width)

    def prepare(self) -> None:
        self.item_table = item_table(self.items, tuple(self.spec["categories"]))

    @torch.no_grad()
    def sample_rows(self, ids: np.ndarray, key: int) -> dict[str, np.ndarray]:
        """One event row per id; every draw is a counter-based function of (key, id)."""
        noise = self.net.config.noise
        z = torch.as_tensor(rng.normal(key, ids[:, None], np.arange(noise)[None, :]), dtype=torch.float32)
        column, value = self.cond.sample(rng.uniform(key, ids, 2 * noise), rng.uniform(key, ids, 2 * noise + 1))
        c = self.cond.vector(column, value)
        probs = self.encoder.activate(self.net.generator(torch.cat([z, c], 1)))
        u = rng.uniform(key, ids[:, None], 2 * noise + 2 + np.arange(self.encoder.draws)[None, :])
        return self.encoder.decode(probs, u)

    def lookups(self) -> dict[str, pd.DataFrame]:
        return self.item_table.lookups()

    def sample_block(self, first: int, last: int, *, seed: int, start, days: int,
                     conditions: Conditions = Conditions()) -> pd.DataFrame:
        return sample_sessions(self, first, last, seed=seed, start=start, days=days, conditions=conditions)
