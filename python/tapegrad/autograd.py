"""tg.autograd: custom ops with their own backward, and the NaN check of backward.

Written once for both backends (``tapegrad.reference.autograd`` is this
module): a Function works on whatever backend its arguments come from.

    class Cube(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x * x

    y = Cube.apply(x)          # a node whose .op is "Cube"

``forward`` runs under ``no_grad()`` on the arguments as given; the result
becomes one node of the graph whose parents are the arguments that take a
gradient (Tensors with ``requires_grad``, every Value). ``backward`` gets the
upstream gradient (a Tensor, or a Value for Values) and returns one gradient
per argument of forward (None for an argument without one). A backward pass
calls it with grad mode off; one that records (``create_graph=True``) calls
it with grad mode on, so the ops it runs on ``ctx.saved_tensors`` and ``g``
are recorded too and the result can be differentiated again.
"""
import contextlib as _contextlib
import sys as _sys

from . import _params

__all__ = ["Function", "FunctionCtx", "detect_anomaly", "grad"]

from ._shared import grad  # noqa: E402 - PyTorch's torch.autograd.grad is tg.grad


class FunctionCtx:
    """What a Function's forward leaves for its backward.

    ``save_for_backward(*xs)`` keeps values (Tensors, Values, anything) that
    ``saved_tensors`` returns as a tuple; ``needs_input_grad`` says, per
    argument of forward, whether it takes a gradient. Other attributes may be
    set freely (``ctx.k = 3``).
    """

    def __init__(self):
        self._saved = ()
        self.needs_input_grad = ()

    def save_for_backward(self, *values) -> None:
        self._saved = values

    @property
    def saved_tensors(self) -> tuple:
        return self._saved


def _takes_gradient(x) -> bool:
    return _params.is_value(x) or (_params.is_tensor(x) and bool(x.requires_grad))


class Function:
    """A custom op: subclass it, define ``forward`` and ``backward``, call ``apply``."""

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError("a tg.autograd.Function must define forward(ctx, *args)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("a tg.autograd.Function must define backward(ctx, grad)")

    @classmethod
    def apply(cls, *args):
        """``forward(ctx, *args)`` as one node of the graph, differentiated by ``backward``."""
        name = cls.__name__
        nodes = [i for i, a in enumerate(args) if _params.is_tensor(a) or _params.is_value(a)]
        if not nodes:
            raise TypeError(f"{name}.apply needs at least one Tensor or Value argument")
        backend = _params.backend_of(args[nodes[0]])
        kind = _params.is_tensor(args[nodes[0]])
        for i in nodes[1:]:
            if _params.backend_of(args[i]) is not backend or _params.is_tensor(args[i]) != kind:
                raise TypeError(f"{name}.apply: cannot combine {_describe(args[nodes[0]])} with {_describe(args[i])}")
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(i in nodes and _takes_gradient(args[i]) for i in range(len(args)))
        with backend.no_grad():
            out = cls.forward(ctx, *args)
        if _params.is_tensor(out) != kind or not (_params.is_tensor(out) or _params.is_value(out)) \
                or _params.backend_of(out) is not backend:
            raise TypeError(f"{name}.forward must return one {_describe(args[nodes[0]], article=False)}, "
                            f"got {type(out).__name__}")
        positions = [i for i in nodes if ctx.needs_input_grad[i]]
        if not (positions and backend.is_grad_enabled()):
            return out

        def run(g, recorded):
            if recorded:
                grads = cls.backward(ctx, g)
            else:
                with backend.no_grad():
                    grads = cls.backward(ctx, g)
            return _check_grads(name, args, positions, grads if isinstance(grads, tuple) else (grads,))

        return backend._function_node(out, [args[i] for i in positions], name, run)


def _check_grads(name: str, args: tuple, positions: list, grads: tuple) -> list:
    """backward's results, one per argument that takes a gradient, checked."""
    if len(grads) != len(args):
        raise RuntimeError(f"{name}.backward returned {len(grads)} gradients, but forward took {len(args)} "
                           "arguments (return None for an argument without one)")
    out = []
    for i in positions:
        g, x = grads[i], args[i]
        if g is not None and _params.is_tensor(x):
            if not _params.is_tensor(g) or _params.backend_of(g) is not _params.backend_of(x):
                raise TypeError(f"{name}.backward returned {type(g).__name__} for argument {i}, a Tensor")
            if tuple(g.shape) != tuple(x.shape):
                raise RuntimeError(f"{name}.backward returned a gradient of shape {tuple(g.shape)} for argument {i} "
                                   f"of shape {tuple(x.shape)}")
        elif g is not None and not (_params.is_value(g) or _params.is_number(g)):
            raise TypeError(f"{name}.backward returned {type(g).__name__} for argument {i}, a Value")
        out.append(g)
    return out


def _describe(x, article: bool = True) -> str:
    kind = "Tensor" if _params.is_tensor(x) else "Value"
    backend = "tapegrad.reference" if type(x).__module__.startswith("tapegrad.reference") else "tapegrad (native)"
    return f"{'a ' if article else ''}{backend} {kind}"


@_contextlib.contextmanager
def detect_anomaly():
    """Inside the block, a backward pass checks every gradient an op's backward hands on,
    and raises RuntimeError naming the op whose backward produced the first NaN.

    On both backends (the check costs a pass over each gradient; off outside).
    """
    flags = [m for m in (_sys.modules.get("tapegrad._core"), _sys.modules.get("tapegrad.reference._autograd"))
             if m is not None]
    previous = [m.is_anomaly_enabled() for m in flags]
    for m in flags:
        m.set_anomaly_enabled(True)
    try:
        yield
    finally:
        for m, p in zip(flags, previous):
            m.set_anomaly_enabled(p)
