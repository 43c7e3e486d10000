"""Native-only Tensor behaviour: memory sharing, views, DLPack, threads, limits."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import tapegrad as tg


def test_numpy_shares_memory_both_ways():
    x = tg.tensor([[1.0, 2.0], [3.0, 4.0]])
    a = np.asarray(x)
    b = x.numpy()
    assert a.dtype == np.float32 and np.shares_memory(a, b)
    a[0, 0] = 10.0
    assert x.tolist()[0][0] == 10.0
    assert memoryview(x).shape == (2, 2)


def test_views_share_storage():
    x = tg.tensor(np.arange(12.0).reshape(3, 4), dtype="float64")
    base = x.numpy()
    for view in (x.T, x.transpose(0, 1), x.permute(1, 0), x.reshape(4, 3), x.flatten(), x[1], x[:, ::-2],
                 x[None, ..., 1:], x.detach()):
        assert np.shares_memory(view.numpy(), base), view
    np.testing.assert_array_equal(x[:, ::-2].numpy(), base[:, ::-2])
    # advanced indexing copies, as in NumPy
    assert not np.shares_memory(x[[0, 2]].numpy(), base)


def test_tensor_from_ndarray_copies():
    a = np.arange(3.0)
    t = tg.tensor(a)
    a[0] = 5
    assert t.tolist()[0] == 0.0


def test_non_contiguous_and_byteswapped_input():
    a = np.arange(24.0).reshape(4, 6)[::2, ::-3]
    np.testing.assert_array_equal(tg.tensor(a).numpy(), a)
    swapped = np.arange(6.0).astype(">f8").reshape(2, 3)
    t = tg.tensor(swapped)
    assert t.dtype == np.float64
    np.testing.assert_array_equal(t.numpy(), swapped.astype(np.float64))
    assert tg.tensor(np.array([True, False])).dtype == np.float32
    assert tg.tensor(np.arange(3, dtype=np.int16), dtype=np.float64).dtype == np.float64
    with pytest.raises(TypeError):
        tg.tensor(np.array(["a"]))
    with pytest.raises(TypeError):
        tg.tensor(np.array([object()]))


def test_strided_ops_match_numpy():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 6, 7))
    t = tg.tensor(a)
    for view, ref in ((t.permute(2, 0, 1), a.transpose(2, 0, 1)), (t[:, ::2, 1::3], a[:, ::2, 1::3])):
        np.testing.assert_allclose((view * 2 + view.exp()).numpy(), ref * 2 + np.exp(ref), rtol=1e-12)
        np.testing.assert_allclose(view.sum(dim=(0, 2)).numpy(), ref.sum(axis=(0, 2)), rtol=1e-12)
        np.testing.assert_allclose((view @ view.transpose(-1, -2)).numpy(), ref @ np.swapaxes(ref, -1, -2), rtol=1e-10)


def test_dlpack_numpy_zero_copy():
    x = tg.tensor([1.0, 2.0, 3.0])
    a = np.from_dlpack(x)
    assert np.shares_memory(a, x.numpy())
    b = np.arange(4.0)
    t = tg.from_dlpack(b)
    assert t.dtype == np.float64
    b[1] = 42.0
    assert t.tolist()[1] == 42.0
    del b
    assert t.tolist() == [0.0, 42.0, 2.0, 3.0]  # the tensor keeps the array alive


def test_dlpack_torch_zero_copy():
    torch = pytest.importorskip("torch", reason="torch not installed")
    x = tg.tensor([[1.0, 2.0], [3.0, 4.0]])
    tt = torch.from_dlpack(x)
    tt[0, 0] = 7.0
    assert x.tolist()[0][0] == 7.0
    src = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    t = tg.from_dlpack(src)
    src[1, 2] = -1.0
    assert t.tolist()[1][2] == -1.0
    assert t.dtype == np.float64


def test_kernels_release_the_gil_from_four_threads():
    rng = np.random.default_rng(1)
    a = tg.tensor(rng.standard_normal((256, 256)))
    want = (a @ a).tanh().sum().item()
    results, errors = [], []

    def work():
        try:
            for _ in range(3):
                x = tg.tensor(a.numpy(), requires_grad=True)
                y = (x @ x).tanh().sum()
                y.backward()
                results.append((y.item(), x.grad.shape))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 12
    assert all(abs(v - want) <= 1e-3 * abs(want) and s == (256, 256) for v, s in results)


@pytest.mark.parametrize("shape", [(10**12, 10**12), (2**62, 4), (10**15,)])
def test_absurd_sizes_raise_memory_error(shape):
    with pytest.raises(MemoryError):
        tg.zeros(shape)
    with pytest.raises(MemoryError):
        tg.ones(*shape)


def test_absurd_broadcast_raises_memory_error():
    a = tg.zeros(10**6, 1)
    b = tg.zeros(1, 10**7)
    with pytest.raises(MemoryError):
        a + b


def test_deep_chain_backward_and_free():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])
    z = x
    for _ in range(100_000):
        z = z + 1.0
    del z  # freed without a recursive destructor cascade


def test_retain_graph_frees_saved_buffers():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_float32_tanh_is_correctly_rounded():
    # kernels.cpp, Note [float32 tanh]: the float32 kernel rounds a double-precision
    # tanh once, so it equals float32(tanh(float64(x))) (glibc's tanhf is up to 2 ulp
    # off), including -0, subnormals, the 2^-12 switch-over, huge values, inf and nan.
    bits = np.arange(0, 0x7F800001, 4099, dtype=np.uint32)
    pos = bits.view(np.float32)
    extra = np.array([2.0**-12, np.nextafter(np.float32(2.0**-12), np.float32(0)), 1e-45, 9.01, 400.0,
                      np.inf, np.nan], dtype=np.float32)
    x = np.concatenate([pos, -pos, extra, -extra])
    got = tg.tensor(x).tanh().numpy()
    want = np.tanh(x.astype(np.float64)).astype(np.float32)
    same = (got.view(np.uint32) == want.view(np.uint32)) | (np.isnan(got) & np.isnan(want))
    assert same.all(), f"first mismatch at x = {x[~same][:5]!r}: {got[~same][:5]!r} vs {want[~same][:5]!r}"
