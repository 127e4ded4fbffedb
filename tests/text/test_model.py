"""The text network and tokenizer sizing (training through Spark: tests/train/test_text.py)."""
import math

import torch

from synthlib.text.model import BOS, EOS, PAD, TextConfig, TextNet, pieces_for


def test_pieces_grow_with_the_square_root_of_the_strings_within_bounds():
    config = TextConfig(vocab_size=2000)
    assert pieces_for(10, config) == 64
    assert pieces_for(625, config) == 400
    assert pieces_for(10_000, config) == 1600
    assert pieces_for(1_000_000, config) == 2000


def test_an_untrained_network_starts_near_uniform_over_the_pieces():
    # Scores spread over tens of nats at the start are what a few hundred strings never undo.
    torch.manual_seed(0)
    n = 400
    net = TextNet(TextConfig(), n_pieces=n, n_cats=3, n_brands=3).eval()
    ids = torch.randint(EOS + 1, n, (32, 10))
    ids[:, 0], ids[:, -1] = BOS, EOS
    batch = {"ids": torch.cat([ids, torch.full((32, 4), PAD)], 1), "cat": torch.zeros(32, dtype=torch.long),
             "brand": torch.zeros(32, dtype=torch.long), "band": torch.zeros(32, dtype=torch.long)}
    nll = net(batch)[0].item()
    assert abs(nll - math.log(n)) < 0.5
