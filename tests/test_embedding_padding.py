"""F.embedding's and nn.Embedding's padding_idx (issue 16), against PyTorch: the padding
row starts at zero in the module, its gradient is zero, negative indices count from
the end, and an index outside the table is an error naming padding_idx."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

IDS = np.array([[0, 2, 4], [4, 1, 2]])


@pytest.mark.parametrize("padding_idx", [None, 2, 0, -1, -5])
def test_functional_against_torch(tg, padding_idx):
    w = np.random.default_rng(0).standard_normal((5, 3))
    mine, theirs = tg.tensor(w, requires_grad=True, dtype=np.float64), torch.tensor(w, requires_grad=True)
    out = tg.nn.functional.embedding(tg.tensor(IDS, dtype=tg.int64), mine, padding_idx)
    tout = torch.nn.functional.embedding(torch.tensor(IDS), theirs, padding_idx)
    np.testing.assert_array_equal(out.numpy(), tout.detach().numpy())  # the padding row is read as it is
    seed = np.arange(out.size, dtype=np.float64).reshape(out.shape)
    (out * tg.tensor(seed, dtype=np.float64)).sum().backward()
    (tout * torch.tensor(seed)).sum().backward()
    np.testing.assert_array_equal(mine.grad.numpy(), theirs.grad.numpy())
    if padding_idx is not None:
        assert not mine.grad.numpy()[padding_idx].any()


@pytest.mark.parametrize("padding_idx", [1, -2])
def test_module_against_torch(tg, padding_idx):
    mine = tg.nn.Embedding(5, 3, padding_idx=padding_idx, dtype=np.float64, seed=0)
    theirs = torch.nn.Embedding(5, 3, padding_idx=padding_idx).double()
    assert mine.padding_idx == theirs.padding_idx == padding_idx % 5
    assert not mine.weight.numpy()[padding_idx].any()  # initialised to zeros
    assert f"padding_idx={padding_idx % 5}" in repr(mine)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(mine.weight.numpy()))
    ids = np.array([[3, 1, 1], [0, 4, 3]])
    out, tout = mine(tg.tensor(ids, dtype=tg.int64)), theirs(torch.tensor(ids))
    np.testing.assert_array_equal(out.numpy(), tout.detach().numpy())
    out.tanh().sum().backward()
    tout.tanh().sum().backward()
    np.testing.assert_allclose(mine.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-13, atol=1e-13)
    assert not mine.weight.grad.numpy()[padding_idx].any()


def test_padding_never_read_gives_the_plain_op(tg):
    w = tg.tensor(np.ones((5, 2)), requires_grad=True)
    out = tg.nn.functional.embedding(tg.tensor([0, 1], dtype=tg.int64), w, padding_idx=3)
    assert out.op == "embedding"


@pytest.mark.parametrize("make, error", [
    (lambda tg: tg.nn.Embedding(4, 2, padding_idx=4), ValueError),
    (lambda tg: tg.nn.Embedding(4, 2, padding_idx=-5), ValueError),
    (lambda tg: tg.nn.Embedding(4, 2, padding_idx=1.0), TypeError),
    (lambda tg: tg.nn.functional.embedding(tg.tensor([0], dtype=tg.int64), tg.ones((4, 2)), padding_idx=7), ValueError),
])
def test_out_of_range(tg, make, error):
    with pytest.raises(error, match="padding_idx"):
        make(tg)


def test_compiled_as_eager_over_three_steps(tg):
    """tg.compile of a loss through nn.Embedding(padding_idx=k): the same losses, outputs,
    weight gradients and weights as eager, step by step, with new ids each step (the
    padding id among them or not), never eagerly; the padding row's gradient stays zero."""
    steps = [np.array([[2, 0, 4], [1, 2, 3]]), np.array([[0, 1, 3], [4, 4, 1]]), np.array([[4, 3, 1], [2, 0, 2]])]

    def run(compiled: bool):
        emb = tg.nn.Embedding(5, 3, padding_idx=2, dtype=np.float64, seed=0)
        scale = tg.tensor(np.linspace(-1.0, 1.0, 3))

        def loss_fn(ids):
            out = emb(ids)
            return (out * scale).tanh().sum(), out

        fn = tg.compile(loss_fn) if compiled else loss_fn
        opt = tg.optim.SGD(emb.parameters(), lr=0.5)
        got = []
        for ids in steps:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # a CompileWarning (ran eagerly) fails the test
                loss, out = fn(tg.tensor(ids, dtype=tg.int64))
            opt.zero_grad()
            loss.backward()
            grad = emb.weight.grad.numpy().copy()
            assert not grad[2].any()
            got.append((loss.numpy().tobytes(), out.numpy().tobytes(), grad.tobytes()))
            opt.step()
        got.append(emb.weight.numpy().tobytes())
        return got, getattr(fn, "traces", None)

    got, traces = run(True)
    want, _ = run(False)
    assert got == want
    # compiled, never eager, one trace per guard outcome: F.embedding finds the padding
    # positions with tensor ops, so a replay guards only whether the padding id occurs
    # (steps 1 and 3 have it, step 2 not), not every id
    assert traces == 2
