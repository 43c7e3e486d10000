"""tg.optim: SGD and Adam with PyTorch's update formulas, on Values and Tensors.

One implementation serves both backends: a step reads each parameter and its
gradient as NumPy (``float`` for a Value), computes the update in the
parameter's dtype, and writes it back in place, so the model keeps the very
same parameter objects. A Tensor whose storage NumPy can write (both
backends' parameters) is updated right in that storage (``_update_inplace``;
SGD needs no temporary arrays); otherwise a copy is updated and goes back
through ``tapegrad._params.assign``.
Parameters whose ``.grad`` is None (Tensors not reached by backward) are
skipped, as in PyTorch.
"""
import math as _math

import numpy as _np

from . import _params
from ._compile_numbers import not_while_tracing as _not_while_tracing
from ._compile_numbers import state as _compile_state

__all__ = ["Optimizer", "SGD", "Adam"]


class Optimizer:
    """Holds the parameters and a per-parameter state dict; subclasses define ``_update``."""

    def __init__(self, params, lr: float):
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        for p in params:
            if not (_params.is_tensor(p) or _params.is_value(p)):
                raise TypeError(f"{type(self).__name__} optimizes Values and Tensors, got {type(p).__name__}")
        if not lr >= 0.0:
            raise ValueError(f"invalid learning rate {lr}: must be >= 0")
        self.params = params
        self.lr = float(lr)
        self.state = [{} for _ in params]

    def zero_grad(self) -> None:
        """Value parameters get ``grad = 0``; Tensor parameters ``grad = None``."""
        for p in self.params:
            if _params.is_tensor(p):
                p.zero_grad()
            else:
                p.grad = 0.0

    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        if _compile_state.trace is not None:
            raise RuntimeError(_not_while_tracing("an optimizer's step()"))
        for p, state in zip(self.params, self.state):
            g = _params.grad_numpy(p)
            if g is None:
                continue
            if _params.is_tensor(p):
                x = _params.own_view(p)  # updated right in the parameter's storage
                copied = x is None
                if copied:
                    x = _np.array(p.numpy(), copy=True)
            else:
                x, copied = _np.array(p.data, dtype=_np.float64), True  # a Value's float, as a 0-d array
            self._update_inplace(x, _np.asarray(g, dtype=x.dtype), state)
            if copied:
                _params.assign(p, x)

    def _update(self, x, g, state):
        """The new values of a parameter x (read only) with gradient g."""
        raise NotImplementedError

    def _update_inplace(self, x, g, state) -> None:
        """Writes the new values into the ndarray x; g may alias the gradient: read only."""
        x[...] = self._update(x, g, state)


class SGD(Optimizer):
    """Stochastic gradient descent with momentum and L2 weight decay (torch.optim.SGD).

    ``g = grad + weight_decay * p``; with momentum, ``buf = g`` on the first
    step, then ``buf = momentum * buf + (1 - dampening) * g``, and ``g = buf``
    (or ``g + momentum * buf`` with nesterov); finally ``p = p - lr * g``.
    """

    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0,
                 dampening: float = 0.0, nesterov: bool = False):
        super().__init__(params, lr)
        if momentum < 0.0:
            raise ValueError(f"invalid momentum {momentum}: must be >= 0")
        if weight_decay < 0.0:
            raise ValueError(f"invalid weight_decay {weight_decay}: must be >= 0")
        if nesterov and (momentum <= 0.0 or dampening != 0.0):
            raise ValueError("nesterov momentum needs momentum > 0 and dampening = 0")
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)
        self.dampening = float(dampening)
        self.nesterov = bool(nesterov)

    def _update_inplace(self, x, g, state) -> None:
        # The formula above, operation for operation, into x and scratch arrays
        # kept in `state` (a Python float scales in the array's dtype).
        tmp = _scratch(state, "scratch", x)
        if self.weight_decay:
            _np.multiply(x, self.weight_decay, out=tmp)
            g = _np.add(g, tmp, out=tmp)  # g + weight_decay * x
        if self.momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = _np.copy(g)
            else:
                _np.multiply(buf, self.momentum, out=buf)
                scaled = _scratch(state, "scratch2", x)
                _np.multiply(g, 1.0 - self.dampening, out=scaled)
                _np.add(buf, scaled, out=buf)  # momentum * buf + (1 - dampening) * g
            if self.nesterov:
                scaled = _scratch(state, "scratch2", x)
                _np.multiply(buf, self.momentum, out=scaled)
                g = _np.add(g, scaled, out=tmp)  # g + momentum * buf
            else:
                g = buf
        _np.multiply(g, self.lr, out=tmp)
        _np.subtract(x, tmp, out=x)  # x - lr * g


def _scratch(state, key, like):
    """A work array shaped like ``like``, kept in the optimizer state between steps."""
    buf = state.get(key)
    if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
        buf = state[key] = _np.empty_like(like)
    return buf


class Adam(Optimizer):
    """Adam (torch.optim.Adam, amsgrad off), L2 weight decay added to the gradient.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``,
    ``p = p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``:
    the bias corrections are applied in this order, as PyTorch does.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, lr)
        b1, b2 = (float(b) for b in betas)
        for name, b in (("betas[0]", b1), ("betas[1]", b2)):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"invalid {name} {b}: must be in [0, 1)")
        if eps < 0.0:
            raise ValueError(f"invalid eps {eps}: must be >= 0")
        if weight_decay < 0.0:
            raise ValueError(f"invalid weight_decay {weight_decay}: must be >= 0")
        self.betas = (b1, b2)
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)

    def _update(self, x, g, state):
        b1, b2 = self.betas
        if self.weight_decay:
            g = g + self.weight_decay * x
        t = state.get("step", 0) + 1
        m = state.get("exp_avg", _np.zeros_like(x))
        v = state.get("exp_avg_sq", _np.zeros_like(x))
        m = b1 * m + (1.0 - b1) * g
        v = b2 * v + (1.0 - b2) * g * g
        state.update(step=t, exp_avg=m, exp_avg_sq=v)
        step_size = self.lr / (1.0 - b1 ** t)
        denom = _np.sqrt(v) / _math.sqrt(1.0 - b2 ** t) + self.eps
        return x - step_size * (m / denom)
