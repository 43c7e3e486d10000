"""Smoke test of an installed tapegrad (.ci/wheels runs it in each wheel's venv).

Import, a Value backward, a Tensor backward and a matmul, each checked against
numbers worked out here, from the installed package (never the source tree).
"""
import math
import os
import sys

import numpy as np

import tapegrad as tg

here = os.path.dirname(os.path.abspath(tg.__file__))
repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
assert not here.startswith(repo + os.sep), f"tapegrad was imported from the source tree ({here})"
assert getattr(tg, "_core", None) is not None, "the compiled extension tapegrad._core did not load"

# a Value backward: c = tanh(a*b + 2), dc/da = (1 - c^2) * b
a, b = tg.Value(2.0), tg.Value(-3.0)
c = (a * b + 2).tanh()
c.backward()
t = math.tanh(-4.0)
assert math.isclose(c.data, t, rel_tol=1e-15)
assert math.isclose(a.grad, (1 - t * t) * -3.0, rel_tol=1e-12)
assert math.isclose(b.grad, (1 - t * t) * 2.0, rel_tol=1e-12)

# a Tensor backward: y = sum(relu(x @ w)), dy/dx = mask @ w.T
xv = np.array([[1.0, 2.0], [3.0, 4.0]])
wv = np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]])
x = tg.tensor(xv, requires_grad=True)
w = tg.tensor(wv, requires_grad=True)
y = (x @ w).relu().sum()
y.backward()
mask = (xv @ wv > 0).astype(float)
np.testing.assert_allclose(y.item(), np.maximum(xv @ wv, 0).sum(), rtol=1e-12)
np.testing.assert_allclose(x.grad.numpy(), mask @ wv.T, rtol=1e-12)
np.testing.assert_allclose(w.grad.numpy(), xv.T @ mask, rtol=1e-12)

# a matmul large enough to go through BLAS, in both dtypes
rng = np.random.default_rng(0)
A, B = rng.standard_normal((200, 150)), rng.standard_normal((150, 120))
for dtype, rtol in ((np.float64, 1e-12), (np.float32, 1e-4)):
    got = (tg.tensor(A.astype(dtype)) @ tg.tensor(B.astype(dtype))).numpy()
    assert got.dtype == dtype
    np.testing.assert_allclose(got, A @ B, rtol=rtol, atol=rtol * 10)

print(f"smoke: tapegrad {tg.__version__} from {here}, Python {sys.version.split()[0]}, "
      f"NumPy {np.__version__}: ok")
