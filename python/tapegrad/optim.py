"""tg.optim: SGD, Adam and AdamW with PyTorch's update formulas, on Values and Tensors.

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

__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]


class Optimizer:
    """Holds parameter groups and a per-parameter state dict; subclasses define ``_update``.

    ``params`` is an iterable of parameters, or of dicts ``{"params": [...],
    "lr": ...}`` (PyTorch's parameter groups; a group's missing settings
    take the optimizer's). ``param_groups`` is that list of dicts: writing
    ``group["lr"]`` changes the rate of the next step, as in PyTorch;
    ``opt.lr = x`` sets it in every group.
    """

    def __init__(self, params, lr: float, **defaults):
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        groups = params if all(isinstance(g, dict) for g in params) else [{"params": params}]
        self.defaults = {"lr": lr, **defaults}
        self.param_groups = []
        self.params = []
        for group in groups:
            if "params" not in group:
                raise ValueError(f"{type(self).__name__}: a parameter group needs a 'params' entry")
            ps = list(group["params"]) if not _is_param(group["params"]) else [group["params"]]
            for p in ps:
                if not _is_param(p):
                    raise TypeError(
                        f"{type(self).__name__} optimizes Values and Tensors, got {type(p).__name__}")
            full = {**self.defaults, **group, "params": ps}
            if not full["lr"] >= 0.0:
                raise ValueError(f"invalid learning rate {full['lr']}: must be >= 0")
            full["lr"] = float(full["lr"])
            self.param_groups.append(full)
            self.params.extend(ps)
        if not self.params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        self.state = [{} for _ in self.params]

    @property
    def lr(self) -> float:
        """The first group's learning rate; assigning sets every group's."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value) -> None:
        for group in self.param_groups:
            group["lr"] = float(value)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Value parameters get ``grad = 0``; Tensor parameters ``grad = None``, or zeros of
        their shape and dtype with ``set_to_none=False`` (PyTorch's argument)."""
        _params.zero_grads(self.params, set_to_none)

    def step(self) -> None:
        """One update of every parameter that has a gradient, with its group's settings."""
        if _compile_state.trace is not None:
            raise RuntimeError(_not_while_tracing("an optimizer's step()"))
        states = iter(self.state)
        for group in self.param_groups:
            self._group = group  # the settings _update reads (self.lr, self._h("eps"), ...)
            for p in group["params"]:
                self._step_one(p, next(states))

    def _step_one(self, p, state) -> None:
        g = _params.grad_numpy(p)
        if g is None:
            return
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

    def _h(self, name: str):
        """The setting ``name`` of the group being stepped (the defaults outside a step)."""
        return getattr(self, "_group", self.defaults).get(name, self.defaults.get(name))

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
        if momentum < 0.0:
            raise ValueError(f"invalid momentum {momentum}: must be >= 0")
        if weight_decay < 0.0:
            raise ValueError(f"invalid weight_decay {weight_decay}: must be >= 0")
        if nesterov and (momentum <= 0.0 or dampening != 0.0):
            raise ValueError("nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, lr, momentum=float(momentum), weight_decay=float(weight_decay),
                         dampening=float(dampening), nesterov=bool(nesterov))
        self.momentum, self.weight_decay = float(momentum), float(weight_decay)
        self.dampening, self.nesterov = float(dampening), bool(nesterov)

    def _update_inplace(self, x, g, state) -> None:
        # The formula above, operation for operation, into x and scratch arrays
        # kept in `state` (a Python float scales in the array's dtype).
        momentum, weight_decay = self._h("momentum"), self._h("weight_decay")
        tmp = _scratch(state, "scratch", x)
        if weight_decay:
            _np.multiply(x, weight_decay, out=tmp)
            g = _np.add(g, tmp, out=tmp)  # g + weight_decay * x
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = _np.copy(g)
            else:
                _np.multiply(buf, momentum, out=buf)
                scaled = _scratch(state, "scratch2", x)
                _np.multiply(g, 1.0 - self._h("dampening"), out=scaled)
                _np.add(buf, scaled, out=buf)  # momentum * buf + (1 - dampening) * g
            if self._h("nesterov"):
                scaled = _scratch(state, "scratch2", x)
                _np.multiply(buf, momentum, out=scaled)
                g = _np.add(g, scaled, out=tmp)  # g + momentum * buf
            else:
                g = buf
        _np.multiply(g, self._h("lr"), out=tmp)
        _np.subtract(x, tmp, out=x)  # x - lr * g


def _is_param(p) -> bool:
    return _params.is_tensor(p) or _params.is_value(p)


def _scratch(state, key, like):
    """A work array shaped like ``like``, kept in the optimizer state between steps."""
    buf = state.get(key)
    if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
        buf = state[key] = _np.empty_like(like)
    return buf


def _adam_settings(betas, eps, weight_decay) -> dict:
    b1, b2 = (float(b) for b in betas)
    for which, b in (("betas[0]", b1), ("betas[1]", b2)):
        if not 0.0 <= b < 1.0:
            raise ValueError(f"invalid {which} {b}: must be in [0, 1)")
    if eps < 0.0:
        raise ValueError(f"invalid eps {eps}: must be >= 0")
    if weight_decay < 0.0:
        raise ValueError(f"invalid weight_decay {weight_decay}: must be >= 0")
    return {"betas": (b1, b2), "eps": float(eps), "weight_decay": float(weight_decay)}


class Adam(Optimizer):
    """Adam (torch.optim.Adam, amsgrad off), L2 weight decay added to the gradient.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``,
    ``p = p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``:
    the bias corrections are applied in this order, as PyTorch does.
    """

    _decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        settings = _adam_settings(betas, eps, weight_decay)
        super().__init__(params, lr, **settings)
        self.betas, self.eps, self.weight_decay = settings["betas"], settings["eps"], settings["weight_decay"]

    def _update_inplace(self, x, g, state) -> None:
        # The formula above, operation for operation as NumPy would evaluate it
        # out of place, but into x, the moments and one scratch array.
        b1, b2 = self._h("betas")
        lr, weight_decay = self._h("lr"), self._h("weight_decay")
        tmp = _scratch(state, "scratch", x)
        if self._decoupled:
            _np.multiply(x, 1.0 - lr * weight_decay, out=x)  # AdamW: the decay acts on the weights
        elif weight_decay:
            _np.multiply(x, weight_decay, out=tmp)
            g = _np.add(g, tmp, out=tmp)  # g + weight_decay * x
        t = state.get("step", 0) + 1
        m, v = state.get("exp_avg"), state.get("exp_avg_sq")
        if m is None:
            m = state["exp_avg"] = _np.zeros_like(x)
            v = state["exp_avg_sq"] = _np.zeros_like(x)
        state["step"] = t
        _np.multiply(m, b1, out=m)
        m += (1.0 - b1) * g  # b1 m + (1 - b1) g
        _np.multiply(v, b2, out=v)
        gg = (1.0 - b2) * g
        gg *= g
        v += gg  # b2 v + (1 - b2) g g
        step_size = lr / (1.0 - b1 ** t)
        _np.sqrt(v, out=tmp)
        tmp /= _math.sqrt(1.0 - b2 ** t)
        tmp += self._h("eps")  # sqrt(v) / sqrt(1 - b2^t) + eps
        _np.divide(m, tmp, out=tmp)
        tmp *= step_size
        x -= tmp


class AdamW(Adam):
    """AdamW (torch.optim.AdamW, amsgrad off): Adam with decoupled weight decay.

    Each step first shrinks the weights, ``p = p (1 - lr weight_decay)``, then
    takes Adam's step with the plain gradient (Loshchilov and Hutter, 2019).
    The default ``weight_decay`` is PyTorch's, 0.01.
    """

    _decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)
