"""End-to-end training: a Value MLP on moons, a Tensor MLP on 8x8 digits; the data sets."""
from __future__ import annotations

import numpy as np
import pytest

from tapegrad import datasets


def test_make_moons():
    X, y = datasets.make_moons(100, noise=0.1, seed=0)
    assert X.shape == (100, 2) and X.dtype == np.float64 and y.shape == (100,)
    assert sorted(np.bincount(y)) == [50, 50]
    X2, y2 = datasets.make_moons(100, noise=0.1, seed=0)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(X, datasets.make_moons(100, noise=0.1, seed=1)[0])
    Xc, yc = datasets.make_moons(101, noise=0.0, seed=0)
    upper = Xc[yc == 0]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0)  # on the unit circle
    with pytest.raises(ValueError):
        datasets.make_moons(1)


def test_make_digits_and_split():
    X, y = datasets.make_digits(300, seed=0)
    assert X.shape == (300, 64) and X.min() >= 0.0 and X.max() <= 16.0
    assert set(np.unique(y)) == set(range(10))
    np.testing.assert_array_equal(X, datasets.make_digits(300, seed=0)[0])
    Xtr, Xte, ytr, yte = datasets.train_test_split(X, y, 0.25, seed=0)
    assert len(Xte) == 75 and len(Xtr) == 225 and len(ytr) == 225
    with pytest.raises(ValueError):
        datasets.train_test_split(X, y[:-1])


def test_value_mlp_reaches_100_percent_on_moons(tg):
    X, y = datasets.make_moons(100, noise=0.1, seed=0)
    signs = 2.0 * y - 1.0
    model = tg.nn.MLP(2, [6, 6, 1], seed=0)
    opt = tg.optim.Adam(model.parameters(), lr=0.1)
    for step in range(100):
        scores = [model(x) for x in X.tolist()]
        accuracy = np.mean([(s.data > 0) == (t > 0) for s, t in zip(scores, signs)])
        if accuracy == 1.0:
            break
        losses = [(1.0 - t * s).relu() for s, t in zip(scores, signs)]  # hinge loss
        loss = sum(losses[1:], losses[0]) * (1.0 / len(losses))
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"moons: {accuracy:.0%} after {step} steps")
    assert accuracy == 1.0, f"{accuracy:.0%} after {step} steps"


@pytest.mark.parametrize("source", ["sklearn", "generated"])
def test_tensor_mlp_reaches_97_percent_on_digits(tg, source):
    if source == "sklearn":
        pytest.importorskip("sklearn", reason="scikit-learn is not installed (its 8x8 digits ship with it)")
        X, y = datasets.load_digits()
    else:
        X, y = datasets.make_digits(1797, seed=0)
    Xtr, Xte, ytr, yte = datasets.train_test_split(X, y, 0.25, seed=0)
    mean, scale = Xtr.mean(0), Xtr.std(0) + 1.0
    Xtr = ((Xtr - mean) / scale).astype(np.float32)
    Xte = ((Xte - mean) / scale).astype(np.float32)
    model = tg.nn.Sequential(tg.nn.Linear(64, 64, seed=0), tg.nn.ReLU(), tg.nn.Linear(64, 10, seed=1))
    opt = tg.optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-3)
    rng = np.random.default_rng(0)
    steps = 500
    for k in range(steps):
        batch = rng.choice(len(Xtr), 64, replace=False)
        loss = tg.nn.functional.cross_entropy(model(Xtr[batch]), ytr[batch])
        opt.lr = 0.01 * (1.0 - 0.9 * k / steps)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with tg.no_grad():
        accuracy = np.mean(model(Xte).numpy().argmax(1) == yte)
    print(f"digits ({source}): test accuracy {accuracy:.2%}")
    assert accuracy >= 0.97, f"test accuracy {accuracy:.2%}"
