"""tg.compile (docs/API.md "Compile", docs/DESIGN.md Note [Compile]): replays give
eager's results bit for bit, and every data-dependent read is guarded.

Each test compares a compiled function with the same function run eagerly, on
both backends (the ``tg`` fixture). Random programs are in test_compile_random.py.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest


def bits(x) -> bytes:
    return np.asarray(x, dtype=np.float64).tobytes()


def same(a, b) -> bool:
    """The same number or array, to the bit (nan equals nan)."""
    return np.asarray(a).dtype == np.asarray(b).dtype and np.asarray(a).tobytes() == np.asarray(b).tobytes()


def params(tg, n, seed=0):
    rng = np.random.default_rng(seed)
    return [tg.Value(float(v)) for v in rng.uniform(-1, 1, n)]


# ---- Values -------------------------------------------------------------------


def test_a_replay_gives_eager_values_and_gradients(tg):
    w = params(tg, 3)

    def f(x, y):
        return ((w[0] * x + w[1] * y).tanh() * w[2] + x ** 2).relu() + (w[0] / y).exp()

    step = tg.compile(f)
    for x, y in [(0.5, 2.0), (0.7, -1.5), (1.25, 3.0), (-2.0, 0.25)]:
        for p in w:
            p.grad = 0.0
        out = step(x, y)
        out.backward()
        got = [out.data] + [p.grad for p in w]
        for p in w:
            p.grad = 0.0
        ref = f(x, y)
        ref.backward()
        assert [bits(v) for v in got] == [bits(v) for v in [ref.data] + [p.grad for p in w]]
    assert step.traces == 1


def test_chains_keep_eager_bits_where_paths_meet_and_operands_repeat(tg):
    # The sweep passes a chain's gradient on in registers (kPassA/kPassB);
    # where a node also has other children (t below), or an op uses one node
    # twice (u * u), the earlier shares are summed first, in eager's order.
    w = params(tg, 2, seed=5)

    def f(x):
        t = (x * w[0]).tanh()
        u = (t * 3.0 + w[1]).tanh()
        v = (u * u + t).tanh()
        return ((v * t).tanh() + x).tanh() * 0.5

    step = tg.compile(f)
    for x in (0.3, -1.7, 2.5):
        for p in w:
            p.grad = 0.0
        a = tg.Value(x)
        out = step(a)
        out.backward()
        got = [out.data, a.grad] + [p.grad for p in w]
        for p in w:
            p.grad = 0.0
        b = tg.Value(x)
        ref = f(b)
        ref.backward()
        assert [bits(v) for v in got] == [bits(v) for v in [ref.data, b.grad] + [p.grad for p in w]]
    assert step.traces == 1


def test_value_arguments_are_inputs_and_get_gradients(tg):
    step = tg.compile(lambda a, b: a * b + a.sin())
    for x, y in [(1.0, 2.0), (0.3, -4.0)]:
        a, b = tg.Value(x), tg.Value(y)
        out = step(a, b)
        out.backward()
        a2, b2 = tg.Value(x), tg.Value(y)
        ref = a2 * b2 + a2.sin()
        ref.backward()
        assert (bits(out.data), bits(a.grad), bits(b.grad)) == (bits(ref.data), bits(a2.grad), bits(b2.grad))
    assert step.traces == 1


def test_a_replayed_value_is_a_compiled_node_of_the_inputs(tg):
    w = tg.Value(2.0)
    step = tg.compile(lambda x: w * x + 1)
    step(3.0)
    out = step(4.0)
    assert out.op == "compiled" and out.parents == (w,)
    assert out.data == 9.0
    assert tg.grad(out, w) == 4.0


def test_the_same_object_twice_stays_one_input(tg):
    step = tg.compile(lambda a, b: a * b)
    v = tg.Value(3.0)
    assert step(v, v).data == 9.0
    a, b = tg.Value(2.0), tg.Value(5.0)
    out = step(a, b)  # two objects: another signature, not the tape of v * v
    assert out.data == 10.0
    out.backward()
    assert (a.grad, b.grad) == (5.0, 2.0)


def test_results_keep_their_structure_and_numbers_come_back_plain(tg):
    w = tg.Value(0.5)

    @tg.compile
    def f(x):
        y = w * x
        return {"y": y, "both": (y, [y.data * 2, "label"]), "n": 3}

    f(1.0)
    out = f(4.0)
    assert out["y"].data == 2.0 and out["n"] == 3
    assert type(out["both"][1][0]) is float and out["both"][1] == [4.0, "label"]


# ---- guards ----------------------------------------------------------------------


def test_a_branch_on_data_keeps_one_tape_per_side(tg):
    w = tg.Value(1.0)

    @tg.compile
    def f(x):
        h = w * x
        if h.data > 0:
            return h.tanh()
        return h * h

    for x in [1.0, -1.0, 2.0, -3.0, 0.5]:
        w.grad = 0.0
        out = f(x)
        out.backward()
        got = (bits(out.data), bits(w.grad))
        w.grad = 0.0
        h = w * x
        ref = h.tanh() if h.data > 0 else h * h
        ref.backward()
        assert got == (bits(ref.data), bits(w.grad))
    assert f.traces == 2


def test_a_loop_whose_trip_count_depends_on_data(tg):
    @tg.compile
    def f(x):
        v = x * 1.0
        steps = 0
        while v.data < 10.0:
            v = v * 2.0
            steps += 1
        return v, steps

    for x, want in [(1.0, 4), (3.0, 2), (1.5, 3), (20.0, 0), (2.0, 3)]:
        v, steps = f(tg.Value(x))
        assert steps == want and v.data == x * 2.0 ** want
    assert f.traces == 4  # trip counts 4, 2, 3 (twice) and 0


def test_micrograd_accuracy_replays_without_tracing_again(tg):
    """The demo's loss counts accuracy with `score.data > 0`: recorded, never a guard."""
    model = tg.nn.MLP(2, [4, 1], seed=0)
    X = [[0.5, -1.0], [1.0, 2.0], [-1.5, 0.3], [0.2, 0.2]]
    y = [1.0, -1.0, 1.0, -1.0]

    def loss_fn(X, y):
        scores = [model([tg.Value(a), tg.Value(b)]) for a, b in X]
        losses = [(1 + -yi * s).relu() for yi, s in zip(y, scores)]
        accuracy = [(yi > 0) == (s.data > 0) for yi, s in zip(y, scores)]
        return sum(losses) * (1.0 / len(losses)), sum(accuracy) / len(accuracy)

    step = tg.compile(loss_fn)
    accuracies = set()
    for _ in range(30):
        loss, acc = step(X, y)
        model.zero_grad()
        loss.backward()
        grads = [p.grad for p in model.parameters()]
        ref_loss, ref_acc = loss_fn(X, y)
        model.zero_grad()
        ref_loss.backward()
        assert bits(loss.data) == bits(ref_loss.data) and acc == ref_acc and type(acc) is float
        assert [bits(g) for g in grads] == [bits(p.grad) for p in model.parameters()]
        accuracies.add(acc)
        for p in model.parameters():
            p.data -= 0.5 * p.grad
    assert step.traces == 1
    assert len(accuracies) > 1  # the scores' signs changed, and the tape followed


def test_float_of_a_value_guards_its_exact_value(tg):
    w = tg.Value(2.0)
    step = tg.compile(lambda x: tg.Value(float(w * x)) * x)  # float(): a constant of the tape
    assert step(3.0).data == 18.0
    assert step(3.0).data == 18.0 and step.traces == 1
    assert step(4.0).data == 32.0 and step.traces == 2


def test_arithmetic_on_data_is_recorded(tg):
    w = tg.Value(2.0)
    step = tg.compile(lambda x: tg.Value(w.data * x + 1.0) * w)  # .data: a number the replay recomputes
    step(1.0)
    assert step(3.0).data == 14.0 and step(-1.0).data == -2.0
    assert step.traces == 1


def test_a_changed_learning_rate_in_the_globals_traces_again(tg):
    scope = {"tg": tg, "lr": 0.1}
    exec("w = tg.Value(3.0)\ndef f(x):\n    return w * x * lr\n", scope)  # noqa: S102 - a module of our own
    step = tg.compile(scope["f"])
    assert bits(step(2.0).data) == bits(3.0 * 2.0 * 0.1)
    assert bits(step(2.0).data) == bits(3.0 * 2.0 * 0.1) and step.traces == 1
    scope["lr"] = 0.2
    assert bits(step(2.0).data) == bits(3.0 * 2.0 * 0.2) and step.traces == 2


def test_a_changed_number_in_the_closure_traces_again(tg):
    w = tg.Value(3.0)
    scale = 2.0

    def f(x):
        return w * x * scale

    step = tg.compile(f)
    assert step(1.0).data == 6.0
    scale = 5.0  # noqa: F841 - read by f's closure
    assert step(1.0).data == 15.0 and step.traces == 2


def test_module_training_is_guarded(tg):
    model = tg.nn.MLP(2, [3, 1], seed=1)

    @tg.compile
    def f(x):
        out = model(x)
        return out * 2 if model.training else out

    x = [tg.Value(0.5), tg.Value(-0.5)]
    a = f(x).data
    model.eval()
    b = f(x).data
    assert a == 2 * b and f.traces == 2
    model.train()
    assert f(x).data == a and f.traces == 2


def test_max_traces_then_eager_with_a_warning(tg):
    step = tg.compile(lambda x, zeros: x * len(zeros), max_traces=2)
    v = tg.Value(1.5)
    for n in (1, 2):  # another list length: another signature
        step(v, [0.0] * n)
    assert step.traces == 2
    with pytest.warns(tg.CompileWarning, match="max_traces=2"):
        out = step(v, [0.0] * 3)
    assert out.data == 4.5 and out.op == "*"  # run eagerly
    assert step(v, [0.0]).data == 1.5 and step.traces == 2


def test_max_traces_counts_guard_outcomes(tg):
    @tg.compile(max_traces=1)
    def f(x):
        return x * 2 if x.data > 0 else x * 3

    assert f(tg.Value(1.0)).data == 2.0
    with pytest.warns(tg.CompileWarning):
        assert f(tg.Value(-1.0)).data == -3.0
    assert f(tg.Value(4.0)).data == 8.0 and f.traces == 1


def test_backward_inside_the_compiled_function_is_an_error(tg):
    w = tg.Value(1.0)

    @tg.compile
    def f(x):
        loss = w * x
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match="inside a function that tg.compile is tracing"):
        f(2.0)
    t = tg.tensor([1.0], requires_grad=True)
    g = tg.compile(lambda: tg.grad((t * 2).sum(), t))
    with pytest.raises(RuntimeError, match="tg.grad\\(\\) inside a function that tg.compile is tracing"):
        g()


def test_an_optimizer_step_inside_is_an_error(tg):
    w = tg.Value(1.0)
    opt = tg.optim.SGD([w], lr=0.1)

    @tg.compile
    def f(x):
        opt.step()
        return w * x

    with pytest.raises(RuntimeError, match="an optimizer's step\\(\\) inside a function that tg.compile"):
        f(1.0)


def test_storing_into_outside_state_is_replayed(tg):
    w = tg.Value(1.0)
    count = tg.Value(0.0)

    @tg.compile
    def f(x):
        count.data = count.data + 1.0  # in-place state, as a running average is
        return w * x

    for _ in range(4):
        f(2.0)
    assert count.data == 4.0 and f.traces == 1


# ---- Tensors ----------------------------------------------------------------------


def mlp(tg, seed=0):
    rng = np.random.default_rng(seed)
    W1 = tg.tensor(rng.standard_normal((4, 8)).astype(np.float32), requires_grad=True)
    b1 = tg.tensor(np.zeros(8, np.float32), requires_grad=True)
    W2 = tg.tensor(rng.standard_normal((8, 3)).astype(np.float32), requires_grad=True)
    return [W1, b1, W2]


def test_a_tensor_replay_gives_eager_values_and_gradients(tg):
    ps = mlp(tg)

    def loss_fn(x, labels):
        W1, b1, W2 = ps
        logits = (x @ W1 + b1).relu() @ W2
        return tg.cross_entropy(logits, labels) + (W1 * W1).sum() * 1e-3

    step = tg.compile(loss_fn)
    rng = np.random.default_rng(1)
    labels = np.array([0, 2, 1, 1, 0])  # an ndarray: a constant of the tape, its contents guarded
    for _ in range(4):
        x = tg.tensor(rng.standard_normal((5, 4)).astype(np.float32))
        for p in ps:
            p.grad = None
        loss = step(x, labels)
        loss.backward()
        got = [loss.numpy().copy()] + [p.grad.numpy().copy() for p in ps]
        for p in ps:
            p.grad = None
        ref = loss_fn(x, labels)
        ref.backward()
        want = [ref.numpy()] + [p.grad.numpy() for p in ps]
        assert all(same(a, b) for a, b in zip(got, want))
    assert step.traces == 1


def test_a_changed_shape_traces_again(tg):
    w = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    step = tg.compile(lambda x: (x * w).sum())
    assert step(tg.ones(3)).item() == 6.0
    assert step(tg.ones(2, 3)).item() == 12.0
    assert step(tg.ones(3)).item() == 6.0 and step.traces == 2


def test_tensor_reads_are_guarded(tg):
    x0 = tg.tensor([1.0, -1.0])

    @tg.compile
    def f(x):
        n = int((x > 0).sum().item())  # an exact read
        return x * n, x.numpy().tolist()

    out, listed = f(x0)
    assert listed == [1.0, -1.0] and out.tolist() == [1.0, -1.0]
    out, listed = f(tg.tensor([1.0, 2.0]))
    assert listed == [1.0, 2.0] and out.tolist() == [2.0, 4.0] and f.traces == 2


def test_bool_of_a_comparison_guards_only_its_outcome(tg):
    @tg.compile
    def f(x):
        return x * 2 if bool(x.sum() > 0) else -x

    assert f(tg.tensor([1.0, 2.0])).tolist() == [2.0, 4.0]
    assert f(tg.tensor([3.0, 2.0])).tolist() == [6.0, 4.0] and f.traces == 1
    assert f(tg.tensor([-3.0, 2.0])).tolist() == [3.0, -2.0] and f.traces == 2


def test_random_draws_are_fresh_at_each_replay_in_eager_order(tg):
    w = tg.tensor([1.0, 2.0], requires_grad=True)

    def f():
        return w * tg.randn(2) + tg.randn(2)

    step = tg.compile(f)
    tg.manual_seed(7)
    got = [step().numpy().copy() for _ in range(3)]
    tg.manual_seed(7)
    want = [f().numpy().copy() for _ in range(3)]
    assert all(same(a, b) for a, b in zip(got, want)) and step.traces == 1
    assert not same(got[1], got[2])


def test_a_failed_guard_leaves_the_stream_as_it_was(tg):
    @tg.compile
    def f(x):
        r = tg.randn(2)
        return r * 2 if x.item() > 0 else r

    tg.manual_seed(3)
    f(tg.tensor(1.0))
    a = f(tg.tensor(-1.0)).numpy().copy()  # the tape draws, its guard fails, then a trace draws again
    tg.manual_seed(3)
    tg.randn(2)
    assert same(a, tg.randn(2).numpy())


def test_tensor_stores_are_replayed(tg):
    running = tg.zeros(2)
    w = tg.tensor([1.0, 1.0], requires_grad=True)

    @tg.compile
    def f(x):
        with tg.no_grad():
            running.data = running * 0.5 + x * 0.5
        return (w * x).sum()

    for v in ([2.0, 4.0], [4.0, 8.0], [0.0, 0.0]):
        f(tg.tensor(v))
    assert running.tolist() == [1.25, 2.5] and f.traces == 1


def test_a_training_loop_of_50_steps_equals_eager(tg):
    def train(compiled: bool):
        ps = mlp(tg, seed=2)
        opt = tg.optim.SGD(ps, lr=0.05, momentum=0.9)

        def loss_fn(x, labels):
            W1, b1, W2 = ps
            return tg.cross_entropy((x @ W1 + b1).tanh() @ W2, labels)

        step = tg.compile(loss_fn) if compiled else loss_fn
        rng = np.random.default_rng(5)
        for _ in range(50):
            x = tg.tensor(rng.standard_normal((6, 4)).astype(np.float32))
            labels = tg.tensor(rng.integers(0, 3, 6))  # a Tensor: an input of the tape
            opt.zero_grad()
            step(x, labels).backward()
            opt.step()
        return [p.numpy().copy() for p in ps]

    assert all(same(a, b) for a, b in zip(train(True), train(False)))


def test_a_scalar_training_loop_of_50_steps_equals_eager(tg):
    X = np.random.default_rng(0).uniform(-1, 1, (8, 2)).tolist()
    y = [1.0 if a * b > 0 else -1.0 for a, b in X]

    def train(compiled: bool):
        model = tg.nn.MLP(2, [4, 4, 1], seed=3)

        def loss_fn(X, y):
            scores = [model([tg.Value(a), tg.Value(b)]) for a, b in X]
            data = sum((1 + -yi * s).relu() for yi, s in zip(y, scores)) * (1.0 / len(X))
            return data + 1e-4 * sum(p * p for p in model.parameters())

        step = tg.compile(loss_fn) if compiled else loss_fn
        for k in range(50):
            loss = step(X, y)
            model.zero_grad()
            loss.backward()
            for p in model.parameters():
                p.data -= (1.0 - 0.9 * k / 50) * p.grad
        return [p.data for p in model.parameters()]

    assert [bits(v) for v in train(True)] == [bits(v) for v in train(False)]


def test_a_compiled_function_inside_another_runs_in_its_trace(tg):
    inner = tg.compile(lambda v: v * 2)
    outer = tg.compile(lambda v: inner(v) + 1)
    assert outer(tg.Value(1.0)).data == 3.0
    assert outer(tg.Value(2.0)).data == 5.0
    assert inner.traces == 0 and outer.traces == 1


def test_compile_arguments_are_checked(tg):
    with pytest.raises(TypeError):
        tg.compile(3)
    with pytest.raises(TypeError):
        tg.compile(lambda: 1, max_traces=1.5)
    with pytest.raises(ValueError):
        tg.compile(lambda: 1, max_traces=-1)
    deco = tg.compile(max_traces=3)
    assert deco(lambda: 1)() == 1


def test_no_warning_while_replaying(tg):
    step = tg.compile(lambda x: x * 2)
    step(tg.Value(1.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert step(tg.Value(2.0)).data == 4.0


def test_item_remembers_its_origin_and_guards_only_a_comparison(tg):
    @tg.compile
    def f(x):
        s = x.sum().item()
        return x * 2 if s > 0 else x * 3

    assert f(tg.tensor([1.0, 2.0])).tolist() == [2.0, 4.0]
    assert f(tg.tensor([5.0, -2.0])).tolist() == [10.0, -4.0] and f.traces == 1
    assert f(tg.tensor([-5.0, 2.0])).tolist() == [-15.0, 6.0] and f.traces == 2


def test_numpy_and_tolist_guard_the_exact_values(tg):
    reads = []

    @tg.compile
    def via_numpy(x):
        reads.append(x.numpy().copy())
        return x * 2

    @tg.compile
    def via_tolist(x):
        reads.append(x.tolist())
        return x * 2

    for f in (via_numpy, via_tolist):
        assert f(tg.tensor([1.0, 2.0])).tolist() == [2.0, 4.0]
        assert f(tg.tensor([1.0, 2.0])).tolist() == [2.0, 4.0] and f.traces == 1
        assert f(tg.tensor([1.0, 3.0])).tolist() == [2.0, 6.0] and f.traces == 2
    assert len(reads) == 4  # each trace read once; replays with the same data did not run fn


def test_a_random_draw_the_tape_cannot_repeat_runs_eagerly(tg):
    def f(x):
        layer = tg.nn.Linear(2, 1)  # initialised from the stream: a constant of a tape would be wrong
        return layer(x).sum()

    step = tg.compile(f)
    x = tg.tensor([[1.0, 2.0]])
    tg.manual_seed(4)
    with pytest.warns(tg.CompileWarning, match="random draw"):
        a = step(x).item()
    with pytest.warns(tg.CompileWarning, match="random draw"):
        b = step(x).item()
    tg.manual_seed(4)
    assert [a, b] == [f(x).item(), f(x).item()] and a != b and step.traces == 0


def test_a_tensor_replay_accumulates_into_existing_grads(tg):
    w = tg.tensor([1.0, -2.0], requires_grad=True)
    step = tg.compile(lambda x: (w * x).sum())
    for _ in range(3):
        step(tg.tensor([0.5, 1.5])).backward()
    assert w.grad.tolist() == [1.5, 4.5] and step.traces == 1


def test_a_long_list_of_values_is_one_signature_and_duplicates_stay_one_input(tg):
    xs = [tg.Value(float(i)) for i in range(5)]
    step = tg.compile(lambda xs, ys: sum(x * y for x, y in zip(xs, ys)))
    assert step(xs, [1.0, 2.0, 3.0, 4.0, 5.0]).data == 40.0
    assert step(xs, [0.5, 0.5, 0.5, 0.5, 0.5]).data == 5.0 and step.traces == 1
    for v in xs:
        v.grad = 0.0
    same = [xs[1]] * 5  # one object five times: another signature, one input
    out = step(same, [1.0, 2.0, 3.0, 4.0, 5.0])
    out.backward()
    assert out.data == 15.0 and xs[1].grad == 15.0 and step.traces == 2
    out = step([xs[0], xs[2], xs[3], xs[4], xs[0]], [1.0, 1.0, 1.0, 1.0, 1.0])  # xs[0] twice
    assert out.data == 9.0 and step.traces == 3


def test_an_exception_while_tracing_leaves_nothing_behind(tg):
    w = tg.Value(2.0)

    @tg.compile
    def bad(x):
        w * x
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        bad(1.0)
    ok = tg.compile(lambda x: w * x)
    assert ok(3.0).data == 6.0 and ok(4.0).data == 8.0 and ok.traces == 1 and bad.traces == 0
    t = tg.tensor([1.0, 2.0], requires_grad=True)
    (t * 2).sum().backward()  # eager ops are not logged any more
    assert t.grad.tolist() == [2.0, 2.0]
