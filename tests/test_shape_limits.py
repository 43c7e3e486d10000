"""Shapes at the edge of 64-bit sizes, on both backends (follow-ups of issue 8's N1/N2/N3)."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("op", ["reshape", "permute"])
def test_dims_beyond_int64_are_value_errors(tg, op):
    # Not an allocation size: a dim out of range, so ValueError (not MemoryError).
    x = tg.tensor([1.0])
    with pytest.raises(ValueError):
        getattr(x, op)(2**70)


@pytest.mark.parametrize("shape", [(0, 2**62), (2**62, 2**62, 0), (2**62, 0, -1)])
def test_reshape_of_empty_to_overflowing_shape(tg, shape):
    # zero elements, but the target's strides would overflow int64
    x = tg.zeros(0)
    with pytest.raises(ValueError):
        x.reshape(*shape)


def test_from_dlpack_zero_size_with_huge_dims(tg):
    torch = pytest.importorskip("torch", reason="torch makes a zero-size tensor with huge dims")
    try:
        t = torch.empty(0, 2**62)
    except (RuntimeError, ValueError):
        pytest.skip("this torch refuses the shape itself")
    with pytest.raises((ValueError, MemoryError, TypeError, RuntimeError, BufferError)):
        tg.from_dlpack(t)


@pytest.mark.parametrize("strides", ["none-none", "transposed-row", "expanded-row"])
def test_matmul_with_size1_dims_of_any_stride(tg, strides):
    # the stride of a size-1 dim is arbitrary (0 after None, anything after slicing)
    a = tg.tensor(np.arange(3.0))
    if strides == "none-none":
        x, y = tg.tensor(2.0)[None][None], tg.tensor(3.0)[None][None]
        np.testing.assert_array_equal((x @ y).numpy(), [[6.0]])
        return
    if strides == "transposed-row":
        x = tg.tensor(np.arange(6.0).reshape(3, 2)).T[0:1]  # (1, 3), column stride 2
    else:
        x = a[None]  # (1, 3), row stride 0
    want = x.numpy() @ np.arange(3.0)[:, None]
    np.testing.assert_allclose((x @ a[:, None]).numpy(), want)
