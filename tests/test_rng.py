import numpy as np

from synthlib import rng


def test_uniform_is_pure_and_in_range():
    key = rng.stream_key(42, "test")
    a = rng.uniform(key, np.arange(1000), 3)
    assert np.array_equal(a, rng.uniform(key, np.arange(1000), 3))
    assert a.min() >= 0 and a.max() < 1 and abs(a.mean() - 0.5) < 0.05
    # The same (entity, counter) gives the same draw however it is batched.
    assert rng.uniform(key, 17, 3) == a[17]


def test_streams_and_seeds_differ():
    a = rng.uniform(rng.stream_key(1, "x"), np.arange(100), 0)
    b = rng.uniform(rng.stream_key(2, "x"), np.arange(100), 0)
    c = rng.uniform(rng.stream_key(1, "y"), np.arange(100), 0)
    assert not np.allclose(a, b) and not np.allclose(a, c)


def test_tape_continues_the_stream_across_blocks():
    key = rng.stream_key(5, "tape")
    tape = rng.Tape(key, 9, block=4)
    drawn = [tape() for _ in range(10)]
    assert np.allclose(drawn, rng.uniform(key, 9, np.arange(10)))


def test_pick_follows_weights():
    cdf = np.cumsum([1.0, 0.0, 3.0])
    picks = rng.pick(cdf, rng.uniform(rng.stream_key(0, "p"), np.arange(20000), 0))
    counts = np.bincount(picks, minlength=3) / 20000
    assert counts[1] == 0 and abs(counts[2] - 0.75) < 0.02


def test_pick_in_draws_each_span_by_its_own_weights():
    # Two distributions side by side: [1, 3] in span 0..2 and [2, 0, 2] in span 2..5.
    cdf = rng.cdf([1.0, 3.0, 2.0, 0.0, 2.0])
    u = rng.uniform(rng.stream_key(0, "span"), np.arange(20000), 0)
    first = rng.pick_in(cdf, np.zeros(20000, int), np.full(20000, 2), u)
    second = rng.pick_in(cdf, np.full(20000, 2), np.full(20000, 5), u)
    assert set(first) == {0, 1} and abs((first == 1).mean() - 0.75) < 0.02
    assert set(second) == {2, 4} and abs((second == 4).mean() - 0.5) < 0.02


def test_pick_rows_takes_each_rows_distribution():
    cdf = np.cumsum([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]], 1)
    u = rng.uniform(rng.stream_key(0, "rows"), np.arange(2000), 0)
    picks = rng.pick_rows(np.repeat(cdf, 1000, 0), u)
    assert set(picks[:1000]) == {0, 2} and set(picks[1000:]) == {1}


def test_normal_moments():
    z = rng.normal(rng.stream_key(3, "n"), np.arange(20000), 0)
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1) < 0.03
