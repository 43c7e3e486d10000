"""tg.nn, written once and bound to each backend by ``build(backend, module)``.

``tapegrad.nn`` and ``tapegrad.reference.nn`` are both made here. ``Module``
and the activation/container modules only call methods of whatever flows
through them, so one class serves both backends. The classes that create
parameters (``Neuron``, ``Layer``, ``MLP``, ``Linear``) read their backend from
the class attribute ``_tg``; ``build`` makes one subclass of each per backend,
so ``tapegrad.nn.MLP`` makes native Values and ``tapegrad.reference.nn.MLP``
makes reference Values from the very same code.

Initialisation draws from NumPy's ``default_rng`` (docs/DESIGN.md, Note
[Random numbers]): a ``seed=`` argument, else the backend's generator that
``tg.manual_seed(n)`` reseeds, so both backends start from the same numbers.
"""
from __future__ import annotations

import math

import numpy as np

from . import _params, _serialization
from ._compile_numbers import state as _compile_state
from ._nn_functional_layers import linear as _linear

__all__ = ["Module", "Neuron", "Layer", "MLP", "Linear", "ReLU", "Tanh", "Sigmoid", "Sequential"]


class Module:
    """Base class: parameters are found in attributes (lists of them too), PyTorch-style.

    Attributes holding a Value, a Tensor with ``requires_grad``, a Module, or a
    list/tuple of these are walked in assignment order, which gives parameter
    names like ``layers.0.neurons.1.w.0`` or ``0.weight``. Tensors named by
    ``register_buffer`` are state that is not trained (BatchNorm's running
    statistics): in ``state_dict()``, never among the parameters.
    """

    _training = True

    @property
    def training(self) -> bool:
        """Training mode (train()/eval()); read by a compiled function, a guard of its tape."""
        if _compile_state.trace is not None:
            _compile_state.trace.module_read(self, self._training)
        return self._training

    @training.setter
    def training(self, mode: bool) -> None:
        self._training = bool(mode)

    def _setting(self, name: str):
        """``self.<name>``, a number forward depends on (Dropout.p, BatchNorm's momentum): read by
        a compiled function, a guard of its tape, as ``training`` is."""
        value = getattr(self, name)
        if _compile_state.trace is not None:
            _compile_state.trace.attr_read(self, name, value)
        return value

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # -- the module tree ---------------------------------------------------------
    def named_children(self):
        """(name, submodule) for each direct submodule."""
        for name, v in vars(self).items():
            if isinstance(v, Module):
                yield name, v
            elif isinstance(v, (list, tuple)):
                for i, m in enumerate(v):
                    if isinstance(m, Module):
                        yield f"{name}.{i}", m

    def children(self) -> list:
        """The direct submodules."""
        return [m for _, m in self.named_children()]

    def _named_own_parameters(self):
        buffers = vars(self).get("_buffers", {})
        for name, v in vars(self).items():
            if name in buffers:
                continue
            if _is_parameter(v):
                yield name, v
            elif isinstance(v, (list, tuple)):
                for i, p in enumerate(v):
                    if _is_parameter(p):
                        yield f"{name}.{i}", p

    def named_modules(self):
        """(dotted name, module) for this module ("") and every submodule, depth first."""
        stack = [("", self)]
        seen = set()
        while stack:
            name, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            children = [(f"{name}.{n}" if name else n, c) for n, c in m.named_children()]
            stack.extend(reversed(children))

    def modules(self) -> list:
        return [m for _, m in self.named_modules()]

    def named_parameters(self):
        """(dotted name, parameter) pairs; a parameter shared by two modules appears once."""
        seen = set()
        for prefix, m in self.named_modules():
            for name, p in m._named_own_parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{prefix}.{name}" if prefix else name), p

    def parameters(self) -> list:
        return [p for _, p in self.named_parameters()]

    # -- buffers ---------------------------------------------------------------------
    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Keep ``tensor`` (or None) as the attribute ``name``: module state that is not a
        parameter (BatchNorm's running statistics); in ``state_dict()`` if ``persistent``."""
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"register_buffer: a buffer name must be a non-empty str without '.', got {name!r}")
        if tensor is not None and not _params.is_tensor(tensor):
            raise TypeError(f"register_buffer: {name} must be a Tensor or None, got {type(tensor).__name__}")
        if "_buffers" not in vars(self):
            self._buffers = {}
        self._buffers[name] = bool(persistent)
        setattr(self, name, tensor)

    def _named_own_buffers(self, persistent_only: bool = False):
        for name, persistent in vars(self).get("_buffers", {}).items():
            t = getattr(self, name, None)
            if t is not None and (persistent or not persistent_only):
                yield name, t

    def named_buffers(self):
        """(dotted name, buffer) pairs of this module and every submodule."""
        for prefix, m in self.named_modules():
            for name, t in m._named_own_buffers():
                yield (f"{prefix}.{name}" if prefix else name), t

    def buffers(self) -> list:
        return [t for _, t in self.named_buffers()]

    # -- training helpers ----------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Value parameters get ``grad = 0``; Tensor parameters ``grad = None``, or zeros of
        their shape and dtype with ``set_to_none=False`` (PyTorch's argument)."""
        _params.zero_grads(self.parameters(), set_to_none)

    def train(self, mode: bool = True) -> "Module":
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def apply(self, fn) -> "Module":
        """``fn(m)`` for every submodule (children first), then for this module; returns it."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def to(self, dtype) -> "Module":
        """The float parameters and buffers in ``dtype`` (float32 or float64): each is replaced
        by a cast copy wherever the model holds it (make the optimizer after). Returns the module."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"Module.to: a float dtype is needed, got {dtype}")
        tensors = [*self._state().values(), *(t for _, t in self.named_buffers())]
        replaced = {}
        for t in tensors:
            if _params.is_tensor(t) and np.dtype(t.dtype).kind == "f" and np.dtype(t.dtype) != dtype:
                replaced[id(t)] = _params.backend_of(t).tensor(
                    np.asarray(t.numpy()).astype(dtype), requires_grad=bool(t.requires_grad))
        for m in self.modules():
            m._replace_tensors(replaced)
        return self

    def double(self) -> "Module":
        """``to(float64)``."""
        return self.to(np.float64)

    def float(self) -> "Module":
        """``to(float32)``."""
        return self.to(np.float32)

    # -- saving and loading ---------------------------------------------------------
    def _state(self) -> dict:
        """{name: parameter or persistent buffer}, each module's parameters before its buffers."""
        out, seen = {}, set()
        for prefix, m in self.named_modules():
            for name, t in [*m._named_own_parameters(), *m._named_own_buffers(persistent_only=True)]:
                if id(t) not in seen:
                    seen.add(id(t))
                    out[f"{prefix}.{name}" if prefix else name] = t
        return out

    def state_dict(self) -> dict:
        """{name: NumPy array copy} of the parameters and persistent buffers; a Value
        parameter is a 0-d float64 array."""
        return {name: _params.to_numpy(t) for name, t in self._state().items()}

    def load_state_dict(self, state, strict: bool = True) -> None:
        """Copy the arrays (or Tensors) of ``state`` into the parameters and buffers, in place.

        With ``strict`` the names must match exactly (a KeyError lists the
        missing and unexpected ones); a shape mismatch is a ValueError. Each
        tensor keeps its dtype, as in PyTorch: float64 weights loaded into a
        float32 model are rounded to float32 (``model.double()`` first keeps
        their precision). The tensors stay the same objects, so an optimizer
        made before loading still holds them.
        """
        params = self._state()
        missing = [k for k in params if k not in state]
        unexpected = [k for k in state if k not in params]
        if strict and (missing or unexpected):
            raise KeyError(
                f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}"
            )
        checked = []
        for name, p in params.items():  # every shape first: a mismatch changes nothing
            if name not in state:
                continue
            arr = np.asarray(state[name].numpy() if _params.is_tensor(state[name]) else state[name])
            shape = tuple(p.shape) if _params.is_tensor(p) else ()
            if arr.shape != shape:
                raise ValueError(
                    f"load_state_dict: {name} has shape {arr.shape} in the state, {shape} in the model"
                )
            checked.append((p, arr))
        for p, arr in checked:
            _params.assign(p, arr.astype(p.dtype, copy=False) if _params.is_tensor(p) else arr)  # the model's dtype

    def _replace_tensors(self, replaced: dict) -> None:
        """Put replaced[id(t)] wherever this module's attributes (or their lists) hold t."""
        for name, v in list(vars(self).items()):
            if id(v) in replaced:
                object.__setattr__(self, name, replaced[id(v)])
            elif isinstance(v, list):
                for i, t in enumerate(v):
                    if id(t) in replaced:
                        v[i] = replaced[id(t)]

    def save(self, path) -> None:
        """``tg.save(self.state_dict(), path)``: exactly that path, whatever its name."""
        _serialization.save(self.state_dict(), path)

    def load(self, path) -> "Module":
        """``self.load_state_dict(tg.load(path))``; returns the module."""
        self.load_state_dict(_serialization.load(path))
        return self

    # -- printing ---------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The module's own settings, shown inside its repr's parentheses."""
        return ""

    def __repr__(self) -> str:
        # PyTorch's layout: Name(extra) for a leaf module, else each submodule on a
        # line of its own, "(name): repr", its own lines indented two more spaces
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for name, m in self.named_children():
            lines.append(f"({name}): " + repr(m).replace("\n", "\n  "))
        if not lines:
            return f"{type(self).__name__}()"
        if len(lines) == 1 and extra:
            return f"{type(self).__name__}({extra})"
        return type(self).__name__ + "(\n  " + "\n  ".join(lines) + "\n)"


def _is_parameter(x) -> bool:
    if _params.is_tensor(x):
        return bool(x.requires_grad)
    return _params.is_value(x)


# -- micrograd-compatible modules on Values --------------------------------------------


class Neuron(Module):
    """``relu(b + sum_i w_i x_i)`` (or linear with ``nonlin=False``); w ~ U(-1, 1), b = 0."""

    _tg = None

    def __init__(self, nin: int, nonlin: bool = True, seed=None):
        rng = _params.generator(self._tg, seed)
        value = self._tg.Value
        self.w = [value(float(x)) for x in rng.uniform(-1.0, 1.0, size=int(nin))]
        self.b = value(0.0)
        self.nonlin = nonlin

    def forward(self, x):
        # b + w0 x0 + w1 x1 + ..., left to right: the same graph as micrograd's sum()
        act = self.b
        for wi, xi in zip(self.w, x):
            act = act + wi * xi
        return act.relu() if self.nonlin else act

    def __repr__(self) -> str:
        return f"{'ReLU' if self.nonlin else 'Linear'}Neuron({len(self.w)})"


class Layer(Module):
    """``nout`` neurons on the same inputs; a single output is returned unwrapped."""

    _tg = None
    _ns: dict = {}

    def __init__(self, nin: int, nout: int, seed=None, **kwargs):
        rng = _params.generator(self._tg, seed)
        neuron = self._ns["Neuron"]
        self.neurons = [neuron(nin, seed=rng, **kwargs) for _ in range(int(nout))]

    def forward(self, x):
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """micrograd's multi-layer perceptron: ReLU layers, a linear last layer."""

    _tg = None
    _ns: dict = {}

    def __init__(self, nin: int, nouts, seed=None):
        rng = _params.generator(self._tg, seed)
        layer = self._ns["Layer"]
        sizes = [int(nin)] + [int(n) for n in nouts]
        last = len(sizes) - 2
        self.layers = [
            layer(sizes[i], sizes[i + 1], seed=rng, nonlin=i != last) for i in range(len(sizes) - 1)
        ]

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"


# -- Tensor modules ---------------------------------------------------------------------


class Linear(Module):
    """``y = x @ weight.T + bias``, weight of shape (out, in) as in PyTorch.

    Both weight and bias start uniform in ±1/sqrt(in_features), PyTorch's
    default; ``dtype`` is float32 unless given.
    """

    _tg = None

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=None, seed=None):
        in_features, out_features = int(in_features), int(out_features)
        if in_features < 0 or out_features < 0:
            raise ValueError(f"Linear({in_features}, {out_features}): sizes must be non-negative")
        self.in_features, self.out_features = in_features, out_features
        dtype = np.dtype(np.float32 if dtype is None else dtype)
        rng = _params.generator(self._tg, seed)
        bound = 1.0 / math.sqrt(in_features) if in_features else 0.0
        w = rng.uniform(-bound, bound, size=(out_features, in_features))
        self.weight = self._tg.tensor(w.astype(dtype), requires_grad=True)
        self.bias = None
        if bias:
            b = rng.uniform(-bound, bound, size=out_features)
            self.bias = self._tg.tensor(b.astype(dtype), requires_grad=True)

    def forward(self, x):
        if not isinstance(x, self._tg.Tensor):
            x = self._tg.tensor(np.asarray(x, dtype=self.weight.dtype))
        return _linear(x, self.weight, self.bias)  # one op, one GEMM over x's rows

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class ReLU(Module):
    def forward(self, x):
        return x.relu()


class Tanh(Module):
    def forward(self, x):
        return x.tanh()


class Sigmoid(Module):
    def forward(self, x):
        return x.sigmoid()


class Sequential(Module):
    """Modules applied in order; parameters are named ``0.weight``, ``2.bias``, ..."""

    def __init__(self, *modules):
        for m in modules:
            if not isinstance(m, Module):
                raise TypeError(f"Sequential takes Modules, got {type(m).__name__}")
        self._modules_list = list(modules)

    def named_children(self):
        for i, m in enumerate(self._modules_list):
            yield str(i), m

    def forward(self, x):
        for m in self._modules_list:
            x = m(x)
        return x

    def __getitem__(self, i):
        if isinstance(i, slice):
            return Sequential(*self._modules_list[i])
        return self._modules_list[i]

    def __len__(self) -> int:
        return len(self._modules_list)

    def __iter__(self):
        return iter(self._modules_list)

    def append(self, module) -> "Sequential":
        if not isinstance(module, Module):
            raise TypeError(f"Sequential takes Modules, got {type(module).__name__}")
        self._modules_list.append(module)
        return self


_BACKEND_BOUND = ("Neuron", "Layer", "MLP", "Linear")


def public_names() -> list:
    """Every class name of tg.nn, in the order of the docs."""
    from . import _nn_containers, _nn_layers

    return [*__all__, *_nn_layers.__all__, *_nn_containers.__all__]


def build(backend, module: str) -> dict:
    """The public names of tg.nn for ``backend``, with classes bound to it.

    Each parameter-making class (here and in ``_nn_layers``) gets a subclass
    whose ``_tg`` is ``backend`` and whose ``__module__`` is ``module`` (so
    pickle finds it as ``tapegrad.nn.MLP`` or ``tapegrad.reference.nn.MLP``).
    """
    from . import _nn_containers, _nn_layers

    ns = {name: cls for name, cls in globals().items() if name in __all__}
    ns.update((name, getattr(_nn_layers, name)) for name in _nn_layers.__all__)
    ns.update((name, getattr(_nn_containers, name)) for name in _nn_containers.__all__)
    bound = {}
    for name in (*_BACKEND_BOUND, *_nn_layers._BOUND):
        base = ns[name]
        bound[name] = type(name, (base,), {
            "_tg": backend, "__module__": module, "__qualname__": name, "__doc__": base.__doc__,
        })
    for cls in bound.values():
        cls._ns = bound
    ns.update(bound)
    return ns
