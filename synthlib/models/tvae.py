"""The `tvae` synthesizer: CTGAN's variational-autoencoder counterpart (TVAE, Xu et al.,
2019) for per-event rows, with the same mode-specific normalization. The decoder gives
softmax blocks for discrete values and modes and a Gaussian (learned scale) for offsets.

Like `ctgan` it models events independently; sessions come from the profile.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from synthlib import rng
from synthlib.models.neural import NeuralModel
from synthlib.models.tabular import Encoder, item_table, sample_sessions
from synthlib.models.timeline import Conditions


@dataclass(frozen=True)
class TVAEConfig:
    latent: int = 32  # width of the latent code
    dim: int = 128  # width of encoder and decoder layers
    layers: int = 2
    modes: int = 8  # Gaussian modes per continuous column, at most


def _mlp(i: int, dim: int, layers: int) -> nn.Sequential:
    mods = []
    for _ in range(layers):
        mods += [nn.Linear(i, dim), nn.ReLU()]
        i = dim
    return nn.Sequential(*mods)


class TVAENet(nn.Module):
    """loss(batch) -> (mean loss per row, components, rows), for `synthlib.train.loop`."""

    def __init__(self, config: TVAEConfig, encoder: Encoder):
        super().__init__()
        c, w = config, encoder.width
        self.config, self.enc = c, encoder
        self.encoder = _mlp(w, c.dim, c.layers)
        self.mu, self.logvar = nn.Linear(c.dim, c.latent), nn.Linear(c.dim, c.latent)
        self.decoder = nn.Sequential(_mlp(c.latent, c.dim, c.layers), nn.Linear(c.dim, w))
        self.log_sigma = nn.Parameter(torch.full((w,), -1.0))  # offsets' scale (used on offset spans)

    def loss(self, batch: dict[str, torch.Tensor]):
        x = self.enc.encode(batch)
        h = self.encoder(x)
        mu, logvar = self.mu(h), self.logvar(h).clamp(-10, 10)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        out = self.decoder(z)
        recon, i = torch.zeros(()), 0
        for _, kind, w in self.enc.spans:
            if kind == "offset":
                s = self.log_sigma[i]
                recon = recon + (((x[:, i] - torch.tanh(out[:, i])) ** 2) / (2 * torch.exp(2 * s)) + s).sum()
            else:
                recon = recon + F.cross_entropy(out[:, i:i + w], x[:, i:i + w].argmax(1), reduction="sum")
            i += w
        kl = -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum()
        n = torch.tensor(len(x))
        return (recon + kl) / n, {"reconstruction": recon.detach(), "kl": kl.detach()}, n

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.enc.activate(self.decoder(z))


class TVAEModel(NeuralModel):
    kind = "tvae"

    def build_net(self, spec: dict, items) -> TVAENet:
        return TVAENet(TVAEConfig(**spec["config"]), Encoder(spec["sizes"], spec["modes"]))

    def prepare(self) -> None:
        self.item_table = item_table(self.items, tuple(self.spec["categories"]))

    def sample_rows(self, ids: np.ndarray, key: int) -> dict[str, np.ndarray]:
        """One event row per id; every draw is a counter-based function of (key, id)."""
        latent = self.net.config.latent
        z = torch.as_tensor(rng.normal(key, ids[:, None], np.arange(latent)[None, :]), dtype=torch.float32)
        u = rng.uniform(key, ids[:, None], 2 * latent + np.arange(self.net.enc.draws)[None, :])
        return self.net.enc.decode(self.net.decode(z), u)

    def lookups(self) -> dict[str, pd.DataFrame]:
        return self.item_table.lookups()

    def sample_block(self, first: int, last: int, *, seed: int, start, days: int,
                     conditions: Conditions = Conditions()) -> pd.DataFrame:
        return sample_sessions(self, first, last, seed=seed, start=start, days=days, conditions=conditions)
