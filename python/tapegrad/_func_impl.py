"""tg.func, written once and bound to each backend by ``build(backend, module, set_grad_enabled)``.

``tapegrad.func`` and ``tapegrad.reference.func`` are both made here, as
``tg.nn`` is made by ``_nn_impl``. Every transform is reverse mode over
``tg.grad``; how a call keeps the caller's graph apart from its own and when
it records is docs/DESIGN.md, Note [Function transforms]. In short:

- each differentiated argument gets a node of its own: plain data (a number,
  an ndarray, a Tensor without ``requires_grad``) a fresh leaf; a node that
  may already be differentiated by someone else (a Value, a Tensor with
  ``requires_grad``: an outer transform's argument, a parameter) a new node
  on top of it (``x - 0.0``, ``x.reshape(x.shape)``), so the result stays
  connected to it and only f's use of this argument counts;
- gradients are recorded (``create_graph=True``) when grad mode is on and f's
  output reaches a node requiring grad that this call did not make; that
  graph is then also retained, since it is not this call's to free.
"""
from __future__ import annotations

import contextlib
import functools
import numbers

import numpy as np

from . import _params

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "hvp", "jacobian", "hessian"]


class _Backend:
    """What the transforms need of one backend: its types and its grad-mode switch."""

    def __init__(self, tg, set_grad_enabled):
        self.tg = tg
        self.set_grad_enabled = set_grad_enabled

    def is_value(self, x) -> bool:
        return isinstance(x, self.tg.Value)

    def is_tensor(self, x) -> bool:
        return isinstance(x, self.tg.Tensor)

    @contextlib.contextmanager
    def enable_grad(self):
        """Record inside the transform whatever the caller's grad mode, as torch.func does:
        the caller's ``no_grad`` decides only whether the results are recorded."""
        previous = self.tg.is_grad_enabled()
        self.set_grad_enabled(True)
        try:
            yield
        finally:
            self.set_grad_enabled(previous)

    def zeros_like(self, node, shape=None):
        """A zero gradient for ``node`` (of ``shape`` + node's shape for a Jacobian)."""
        if self.is_value(node):
            return self.tg.Value(0.0)
        return self.tg.zeros(tuple(shape or ()) + node.shape, dtype=node.dtype)

    def detach(self, x):
        """``x`` without its graph: a Tensor's ``detach()``, a new Value leaf."""
        if self.is_tensor(x):
            return x.detach()
        if self.is_value(x):
            return self.tg.Value(x.data, label=x.label)
        return x


def _describe(x) -> str:
    if _params.is_tensor(x) or _params.is_value(x):
        try:
            mod = _params.backend_of(x).__name__
        except TypeError:
            return type(x).__name__
        kind = "Tensor" if _params.is_tensor(x) else "Value"
        return f"a {'tapegrad (native)' if mod == 'tapegrad' else mod} {kind}"
    return type(x).__name__


def _backend_name(b: _Backend) -> str:
    return "tapegrad (native)" if b.tg.__name__ == "tapegrad" else b.tg.__name__


# ----- checking what the caller gave -----------------------------------------


def _check_callable(name: str, f) -> None:
    if not callable(f):
        raise TypeError(f"tg.func.{name}: f must be callable, not {type(f).__name__}")


def _check_argnums(name: str, argnums):
    """``argnums`` as given (an int, or a tuple of ints), checked for type, emptiness, repeats."""
    def is_int(a):
        return isinstance(a, (int, np.integer)) and not isinstance(a, bool)

    if is_int(argnums):
        return int(argnums)
    if isinstance(argnums, (tuple, list)) and all(is_int(a) for a in argnums):
        if not argnums:
            raise ValueError(f"tg.func.{name}: argnums must name at least one argument, got ()")
        if len(set(argnums)) != len(argnums):
            raise ValueError(f"tg.func.{name}: argnums must not repeat an argument, got {tuple(argnums)}")
        return tuple(int(a) for a in argnums)
    raise TypeError(f"tg.func.{name}: argnums must be an int or a tuple of ints, got {argnums!r}")


def _positions(name: str, argnums, nargs: int) -> list:
    """The argument positions ``argnums`` names in a call with ``nargs`` positional arguments."""
    out = []
    for a in (argnums,) if isinstance(argnums, int) else argnums:
        if not -nargs <= a < nargs:
            raise ValueError(
                f"tg.func.{name}: argnums {a} is out of range for a call with {nargs} positional "
                f"argument{'' if nargs == 1 else 's'}"
            )
        out.append(a % nargs)
    if len(set(out)) != len(out):
        raise ValueError(f"tg.func.{name}: argnums {argnums} name the same argument twice")
    return out


def _check_output(b: _Backend, name: str, out, scalar: bool) -> None:
    """``out`` must be a Value or a Tensor; with ``scalar``, a Value or a one-element Tensor."""
    if b.is_value(out):
        return
    if b.is_tensor(out):
        if scalar and out.size != 1:
            raise RuntimeError(
                f"tg.func.{name}: f must return a scalar (a Value, or a 0-d or one-element Tensor), "
                f"got a Tensor of shape {out.shape}; tg.func.jacobian and tg.func.vjp take other outputs"
            )
        return
    what = "a scalar (a Value, or a 0-d or one-element Tensor)" if scalar else "a Value or a Tensor"
    raise TypeError(f"tg.func.{name}: f must return {what} of {_backend_name(b)}, got {_describe(out)}")


def _split_aux(name: str, result, has_aux: bool):
    if not has_aux:
        return result, None
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        raise TypeError(
            f"tg.func.{name}: with has_aux=True, f must return a pair (output, aux), "
            f"got {type(result).__name__}"
        )
    return result[0], result[1]


def _check_primals(b: _Backend, name: str, primals, tangents) -> tuple:
    for what, xs in (("primals", primals), ("tangents", tangents)):
        if not isinstance(xs, (tuple, list)):
            raise TypeError(
                f"tg.func.{name}: {what} must be a tuple of arguments, e.g. (x,), got {type(xs).__name__}"
            )
    if not primals:
        raise ValueError(f"tg.func.{name}: primals must hold at least one argument")
    if len(primals) != len(tangents):
        raise ValueError(
            f"tg.func.{name}: got {len(primals)} primals but {len(tangents)} tangents; "
            "give one tangent per primal"
        )
    return tuple(primals), tuple(tangents)


def _like(b: _Backend, name: str, what: str, t, node):
    """``t`` as a tangent or cotangent for ``node``: a number or Value for a Value, a Tensor of
    ``node``'s shape for a Tensor (an ndarray, list or number becomes one, in node's dtype)."""
    if b.is_value(node):
        if b.is_value(t) or (isinstance(t, numbers.Real) and not isinstance(t, bool)):
            return t
        raise TypeError(f"tg.func.{name}: the {what} of a Value must be a number or a Value, not {_describe(t)}")
    if not b.is_tensor(t):
        if _params.is_tensor(t) or _params.is_value(t) or isinstance(t, bool):
            raise TypeError(f"tg.func.{name}: the {what} of a Tensor must be a Tensor of "
                            f"{_backend_name(b)}, an array or a number, not {_describe(t)}")
        try:
            t = b.tg.tensor(np.asarray(t, dtype=node.dtype))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"tg.func.{name}: the {what} of a Tensor must be a Tensor, an array or a "
                            f"number, not {type(t).__name__} ({exc})") from None
    if t.shape != node.shape:
        raise ValueError(f"tg.func.{name}: the {what} has shape {t.shape} but it goes with shape {node.shape}")
    return t


# ----- one call of a transform ----------------------------------------------


class _Call:
    """The differentiated arguments of one call, each a node of its own (Note [Function transforms]).

    Make one inside ``enable_grad()``: the nodes put on top of the caller's nodes must record.
    """

    def __init__(self, b: _Backend, name: str, args, positions):
        self.b, self.name = b, name
        self.fresh = {}  # id -> the leaves this call made (kept alive, so ids stay unique)
        self.args = list(args)
        self.nodes = []
        for i in positions:
            self.args[i] = self._node(args[i], i)
            self.nodes.append(self.args[i])

    def _node(self, x, i: int):
        b, tg = self.b, self.b.tg
        if b.is_value(x):
            return x - 0.0  # a node of its own on top of x (-0.0 stays -0.0)
        if b.is_tensor(x):
            if x.requires_grad:
                return x.reshape(x.shape)
            leaf = x.detach()  # shares x's memory; x itself is left as it was
            leaf.requires_grad = True
        elif isinstance(x, np.ndarray):
            leaf = tg.tensor(x, requires_grad=True)
        elif isinstance(x, numbers.Real) and not isinstance(x, bool):
            leaf = tg.Value(float(x))
        else:
            raise TypeError(
                f"tg.func.{self.name}: argument {i} must be a Value or a Tensor of {_backend_name(b)}, "
                f"a number or a NumPy array, not {_describe(x)}"
            )
        self.fresh[id(leaf)] = leaf
        return leaf

    def reaches_outside(self, outs) -> bool:
        """Whether the graph of ``outs`` reaches a node requiring grad that this call did not
        make: a node of an outer trace or a parameter f closes over. Values always may (every
        Value is differentiable; the constants f makes cannot be told from parameters)."""
        stack = []
        for o in outs:
            if self.b.is_value(o):
                return True
            if self.b.is_tensor(o) and o.requires_grad:
                stack.append(o)
        seen = {}  # id -> node, kept alive so that ids are not reused during the walk
        while stack:
            t = stack.pop()
            if id(t) in seen:
                continue
            seen[id(t)] = t
            parents = t.parents
            if not parents and id(t) not in self.fresh:
                return True
            stack.extend(p for p in parents if p.requires_grad)
        return False

    def finish(self, x, keep: bool):
        """A result as returned: with its graph if ``keep`` (it may be differentiated again)."""
        return x if keep else self.b.detach(x)

    def finish_tree(self, x, outer: bool):
        """``aux``: each Value or Tensor in it keeps its graph if it may be differentiated again."""
        if isinstance(x, (tuple, list)):
            return type(x)(self.finish_tree(v, outer) for v in x)
        if isinstance(x, dict):
            return {k: self.finish_tree(v, outer) for k, v in x.items()}
        if self.b.is_value(x) or self.b.is_tensor(x):
            return self.finish(x, outer and self.reaches_outside([x]))
        return x


def _grads(b: _Backend, root, nodes, record: bool, retain: bool, gradient=None) -> list:
    """d root / d node for each node: graph nodes with ``record``, else Values or Tensors
    without a graph. ``retain`` keeps root's graph (it reaches nodes that are not ours)."""
    tg = b.tg
    if b.is_value(root):
        gs = tg.grad(root, nodes, gradient=gradient, create_graph=record)
        return list(gs) if record else [tg.Value(g) for g in gs]
    if not root.requires_grad:  # f does not depend on its arguments
        return [b.zeros_like(n) for n in nodes]
    return list(tg.grad(root, nodes, gradient=gradient, retain_graph=retain or record, create_graph=record))


def _dot(b: _Backend, xs, ys):
    """sum_i <xs_i, ys_i>, recorded where its terms are nodes."""
    total = None
    for x, y in zip(xs, ys):
        term = x * y
        if b.is_tensor(term):
            term = term.sum()
        total = term if total is None else total + term
    return total


def _wrap(name: str, f, transformed):
    functools.update_wrapper(transformed, f, updated=())  # not f's __dict__ (f may be a Module)
    transformed.__doc__ = f"tg.func.{name} of {getattr(f, '__qualname__', type(f).__name__)}."
    return transformed


# ----- the transforms ----------------------------------------------------------


def _value_and_grad(b: _Backend, name: str, f, argnums, has_aux: bool, with_value: bool):
    _check_callable(name, f)
    argnums = _check_argnums(name, argnums)

    def transformed(*args, **kwargs):
        positions = _positions(name, argnums, len(args))
        outer = b.tg.is_grad_enabled()
        with b.enable_grad():
            call = _Call(b, name, args, positions)
            out, aux = _split_aux(name, f(*call.args, **kwargs), has_aux)
            _check_output(b, name, out, scalar=True)
            connected = call.reaches_outside([out])
            record = outer and connected
            value = call.finish(out, record)
            aux = call.finish_tree(aux, outer)
            grads = _grads(b, out, call.nodes, record, retain=connected)
        g = grads[0] if isinstance(argnums, int) else tuple(grads)
        if with_value:
            return ((value, aux) if has_aux else value), g
        return (g, aux) if has_aux else g

    return _wrap(name, f, transformed)


def _jacobian(b: _Backend, name: str, f, argnums):
    _check_callable(name, f)
    argnums = _check_argnums(name, argnums)

    def transformed(*args, **kwargs):
        positions = _positions(name, argnums, len(args))
        outer = b.tg.is_grad_enabled()
        with b.enable_grad():
            call = _Call(b, name, args, positions)
            result = f(*call.args, **kwargs)
            outs = list(result) if isinstance(result, (tuple, list)) else [result]
            for o in outs:
                _check_output(b, name, o, scalar=False)
            connected = call.reaches_outside(outs)
            record = outer and connected
            # The outputs may share a graph: only the last backward pass may free it.
            jac = [_jacobian_of(b, o, call.nodes, record, retain=connected or i < len(outs) - 1)
                   for i, o in enumerate(outs)]
        per_out = [j[0] if isinstance(argnums, int) else tuple(j) for j in jac]
        return tuple(per_out) if isinstance(result, (tuple, list)) else per_out[0]

    return _wrap(name, f, transformed)


def _jacobian_of(b: _Backend, out, nodes, record: bool, retain: bool) -> list:
    """d out / d node of shape out.shape + node.shape for each node: one backward pass per
    element of ``out``, each seeded with a one-hot ``gradient``, rows stacked."""
    if b.is_value(out):
        return _grads(b, out, nodes, record, retain)
    if not out.requires_grad or out.size == 0:
        return [b.zeros_like(n, out.shape) for n in nodes]
    rows = [[] for _ in nodes]
    for i in range(out.size):
        seed = np.zeros(out.size, dtype=out.dtype)
        seed[i] = 1.0
        last = i == out.size - 1
        gs = b.tg.grad(out, nodes, gradient=seed.reshape(out.shape), retain_graph=record or retain or not last,
                       create_graph=record)
        for row, g in zip(rows, gs):
            row.append(g)
    return [b.tg.stack(row).reshape(out.shape + n.shape) for row, n in zip(rows, nodes)]


def _vjp(b: _Backend, f, primals):
    _check_callable("vjp", f)
    outer = b.tg.is_grad_enabled()
    with b.enable_grad():
        call = _Call(b, "vjp", primals, range(len(primals)))
        out = f(*call.args)
        _check_output(b, "vjp", out, scalar=False)
        connected = call.reaches_outside([out])

    def vjp_fn(cotangent):
        """The gradients of <cotangent, f(*primals)> with respect to each primal, as a tuple."""
        now = b.tg.is_grad_enabled()
        with b.enable_grad():
            cot = _like(b, "vjp", "cotangent", cotangent, out)
            cot_is_node = b.is_value(cot) or (b.is_tensor(cot) and cot.requires_grad)
            record = now and (connected or cot_is_node)
            if cot_is_node:  # tg.grad's `gradient` is a constant: multiply, so that d/d cotangent exists
                grads = _grads(b, _dot(b, [out], [cot]), call.nodes, record, retain=True)
            else:
                grads = _grads(b, out, call.nodes, record, retain=True, gradient=cot)
        return tuple(grads)

    return call.finish(out, outer and connected), vjp_fn


def _jvp(b: _Backend, f, primals, tangents):
    _check_callable("jvp", f)
    primals, tangents = _check_primals(b, "jvp", primals, tangents)
    outer = b.tg.is_grad_enabled()
    with b.enable_grad():
        call = _Call(b, "jvp", primals, range(len(primals)))
        tans = [_like(b, "jvp", "tangent", t, n) for t, n in zip(tangents, call.nodes)]
        out = f(*call.args)
        _check_output(b, "jvp", out, scalar=False)
        connected = call.reaches_outside([out, *tans])
        record = outer and connected
        value = call.finish(out, record)
        if b.is_value(out):  # one output: J t = sum_i df/dx_i t_i
            grads = _grads(b, out, call.nodes, record, retain=connected)
        elif not out.requires_grad:
            return value, b.zeros_like(out)
        else:
            # The double-vjp trick: g(u) = J^T u is linear in u, so d<g(u), t>/du = J t.
            u = b.tg.zeros(out.shape, dtype=out.dtype, requires_grad=True)
            g = _grads(b, _dot(b, [out], [u]), call.nodes, record=True, retain=True)
            return value, _grads(b, _dot(b, g, tans), [u], record, retain=connected)[0]
    return value, _dot(b, grads, tans)  # outside: records only if the caller does


def _hvp(b: _Backend, f, primals, tangents):
    _check_callable("hvp", f)
    primals, tangents = _check_primals(b, "hvp", primals, tangents)
    outer = b.tg.is_grad_enabled()
    with b.enable_grad():
        call = _Call(b, "hvp", primals, range(len(primals)))
        tans = [_like(b, "hvp", "tangent", t, n) for t, n in zip(tangents, call.nodes)]
        out = f(*call.args)
        _check_output(b, "hvp", out, scalar=True)
        connected = call.reaches_outside([out, *tans])
        record = outer and connected
        value = call.finish(out, record)
        # H t = d<grad f, t>/dx: reverse over reverse, the first pass recorded.
        g = _grads(b, out, call.nodes, record=True, retain=True)
        hv = _grads(b, _dot(b, g, tans), call.nodes, record, retain=connected)
    return value, tuple(hv)


def build(backend, module: str, set_grad_enabled) -> dict:
    """The public functions of tg.func for ``backend``; ``set_grad_enabled(flag)`` is its
    grad-mode switch. Their ``__module__`` is ``module``."""
    b = _Backend(backend, set_grad_enabled)

    def grad(f, argnums=0, has_aux=False):
        """The gradient of ``f``: a function returning df/d args[argnums] at its arguments.

        ``f`` returns a scalar (a Value, or a 0-d or one-element Tensor). The gradient of a
        Value argument (or a number) is a Value, of a Tensor (or an ndarray) a Tensor of its
        shape; a tuple ``argnums`` gives a tuple of them. With ``has_aux`` f returns
        ``(output, aux)`` and the function returns ``(gradient, aux)``. Keyword arguments
        go to ``f`` and are not differentiated.
        """
        return _value_and_grad(b, "grad", f, argnums, has_aux, with_value=False)

    def value_and_grad(f, argnums=0, has_aux=False):
        """Like ``grad``, but the function returns ``(f(*args), gradient)``; with ``has_aux``
        ``((output, aux), gradient)``."""
        return _value_and_grad(b, "value_and_grad", f, argnums, has_aux, with_value=True)

    def vjp(f, *primals):
        """``(f(*primals), vjp_fn)``: ``vjp_fn(cotangent)`` is the tuple of the gradients of
        ``<cotangent, f(*primals)>`` with respect to each primal (J^T cotangent). The
        cotangent has the shape of f's output; ``vjp_fn`` may be called more than once."""
        return _vjp(b, f, primals)

    def jvp(f, primals, tangents):
        """``(f(*primals), J @ tangents)``: the directional derivative of ``f`` at ``primals``
        along ``tangents`` (tuples, one tangent of each primal's shape), by reverse mode twice
        (the double-vjp trick)."""
        return _jvp(b, f, primals, tangents)

    def hvp(f, primals, tangents):
        """``(f(*primals), H @ tangents)`` for a scalar ``f``: the tuple, one per primal, of
        the Hessian's products with ``tangents`` (tuples as for ``jvp``), without the
        Hessian."""
        return _hvp(b, f, primals, tangents)

    def jacobian(f, argnums=0):
        """A function returning d f(*args) / d args[argnums], of shape out.shape + arg.shape.

        ``f`` returns a Value or a Tensor (or a tuple of them: then a tuple of Jacobians); a
        tuple ``argnums`` gives a tuple per output. One backward pass per output element.
        """
        return _jacobian(b, "jacobian", f, argnums)

    def hessian(f, argnums=0):
        """A function returning the Hessian of a scalar ``f``, of shape arg.shape + arg.shape:
        ``jacobian(grad(f, argnums), argnums)``; a tuple ``argnums`` gives ``H[i][j]``."""
        _check_callable("hessian", f)
        return _wrap("hessian", f, _jacobian(b, "hessian", _value_and_grad(
            b, "hessian", f, argnums, has_aux=False, with_value=False), argnums))

    ns = {"grad": grad, "value_and_grad": value_and_grad, "vjp": vjp, "jvp": jvp, "hvp": hvp,
          "jacobian": jacobian, "hessian": hessian}
    for fn in ns.values():
        fn.__module__, fn.__qualname__ = module, fn.__name__
    return ns
