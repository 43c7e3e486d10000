"""tg.compile replays dropout and BatchNorm (docs/API.md "Compile"; docs/DESIGN.md
Note [Compile]): every replay draws fresh noise from the stream, in eager's order,
and updates the running statistics, so that compiled training equals eager
training bit for bit. A replay whose guard fails leaves the statistics and the
stream as they were. Module numbers the tape depends on (``training``,
Dropout's ``p``, BatchNorm's ``momentum`` and ``eps``) are guarded.

Each test runs the same code compiled and eagerly, on both backends (``tg``).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from tapegrad._examples import gpt


def data(tg, shape, seed):
    return tg.tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def raw(t) -> bytes:
    return t.numpy().tobytes() + str(t.numpy().dtype).encode()


def no_compile_warnings():
    """A context turning a CompileWarning (fn ran eagerly) into an error."""
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("error")
    return ctx


def train(tg, make, steps, compiled, xs, stream_seed=5, **compile_args):
    """The losses, outputs, grads and parameters (as bytes) of ``steps`` SGD steps of the
    model ``make()`` returns, its loss compiled or not; and the compiled function."""
    model = make()
    loss_fn = lambda x: (model(x) ** 2).mean()  # noqa: E731
    step = tg.compile(loss_fn, **compile_args) if compiled else loss_fn
    opt = tg.optim.SGD(model.parameters(), lr=0.1)
    tg.manual_seed(stream_seed)
    got = []
    for k in range(steps):
        loss = step(xs[k % len(xs)])
        opt.zero_grad()
        loss.backward()
        got += [raw(loss)] + [raw(p.grad) for p in model.parameters()]
        opt.step()
    got += [raw(p) for p in model.parameters()] + [raw(tg.randn(3))]  # the stream after training
    return got, model, step


def mlp(tg, *layers):
    def make():
        tg.manual_seed(1)
        return tg.nn.Sequential(tg.nn.Linear(4, 8), *layers, tg.nn.Tanh(), tg.nn.Linear(8, 2))
    return make


# ---- dropout ------------------------------------------------------------------------------


def test_a_training_step_with_dropout_replays_fresh_noise_as_eager(tg):
    xs = [data(tg, (6, 4), s) for s in range(3)]
    make = mlp(tg, tg.nn.Dropout(0.4))
    ctx = no_compile_warnings()
    try:
        got, _, step = train(tg, make, 6, True, xs)
    finally:
        ctx.__exit__(None, None, None)
    want, _, _ = train(tg, make, 6, False, xs)
    assert got == want and step.traces == 1
    # stale noise would fail: the same input gives another output at the next replay
    drop = tg.nn.Dropout(0.5)
    f = tg.compile(lambda x: drop(x))
    x = data(tg, (4, 5), 0)
    outs = [raw(f(x)) for _ in range(3)]
    assert len(set(outs)) == 3 and f.traces == 1


def test_several_dropouts_and_randn_draw_in_eager_order(tg):
    F = tg.nn.functional
    w = tg.tensor(np.ones((3, 4), np.float32), requires_grad=True)

    def fn(x):
        a = F.dropout(x * w, 0.3)
        tg.randn(2)  # unused: the stream moves all the same
        F.dropout(x, 0.9)  # unused too
        b = F.dropout(a + tg.randn(3, 4), 0.5)
        return (F.dropout(b, 1.0) + b).sum(), a

    step = tg.compile(fn)
    x = data(tg, (3, 4), 1)
    tg.manual_seed(11)
    got = []
    for _ in range(4):
        loss, a = step(x)
        loss.backward()
        got += [raw(loss), raw(a), raw(w.grad)]
    got.append(raw(tg.randn(5)))
    w.grad = None
    tg.manual_seed(11)
    want = []
    for _ in range(4):
        loss, a = fn(x)
        loss.backward()
        want += [raw(loss), raw(a), raw(w.grad)]
    want.append(raw(tg.randn(5)))
    assert got == want and step.traces == 1


def test_a_changed_dropout_p_or_training_flag_traces_again(tg):
    F = tg.nn.functional
    drop = tg.nn.Dropout(0.5)
    p = 0.25
    step = tg.compile(lambda x, q: drop(x) + F.dropout(x, p) + F.dropout(x, q))
    eager = lambda x, q: drop(x) + F.dropout(x, p) + F.dropout(x, q)  # noqa: E731
    x = data(tg, (5, 6), 2)

    def both(q):
        tg.manual_seed(3)
        a = raw(step(x, q))
        tg.manual_seed(3)
        return a, raw(eager(x, q))

    a, b = both(0.1)
    assert a == b and step.traces == 1
    a, b = both(0.1)
    assert a == b and step.traces == 1
    drop.p = 0.75  # a module's own number: guarded
    a, b = both(0.1)
    assert a == b and step.traces == 2
    p = 0.5  # noqa: F841 - a number of the closure: guarded
    a, b = both(0.1)
    assert a == b and step.traces == 3
    a, b = both(0.6)  # a number argument read as a float: its value is guarded
    assert a == b and step.traces == 4
    drop.eval()
    a, b = both(0.6)
    assert a == b and step.traces == 5
    drop.train()
    a, b = both(0.6)
    assert a == b and step.traces == 5  # the tape of training mode again


def test_dropout_noise_made_elsewhere_is_never_replayed(tg):
    """Noise that F.dropout did not draw (the backend's private kernel called directly, a
    reseed inside fn) would be a constant of the tape: fn runs eagerly with a warning."""
    import tapegrad._params as P

    x = data(tg, (3, 3), 0)
    backend = P.backend_of(x)
    noise = np.full((3, 3), 2.0, np.float32)
    f = tg.compile(lambda x: backend._dropout(x, noise))
    with pytest.warns(tg.CompileWarning, match="dropout noise"):
        assert raw(f(x)) == raw(x * 2.0)
    assert f.traces == 0

    def reseeded(x):
        tg.manual_seed(4)
        return tg.nn.functional.dropout(x, 0.5)

    g = tg.compile(reseeded)
    with pytest.warns(tg.CompileWarning, match="manual_seed"):
        got = [raw(g(x)) for _ in range(2)]
    assert got == [raw(reseeded(x))] * 2 and g.traces == 0


# ---- BatchNorm ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["1d", "1d_3d_input", "2d"])
def test_batchnorm_training_updates_running_statistics_as_eager(tg, kind):
    shape = {"1d": (6, 8), "1d_3d_input": (5, 8, 3), "2d": (4, 8, 3, 3)}[kind]

    def make():
        tg.manual_seed(1)
        bn = (tg.nn.BatchNorm2d if kind == "2d" else tg.nn.BatchNorm1d)(8)
        return tg.nn.Sequential(bn, tg.nn.Tanh())

    class Model:  # channels first: a (N, 8, ...) input through a linear layer on a flat view
        def __init__(self):
            self.net = make()
            self.w = tg.tensor(np.random.default_rng(0).standard_normal((8,) + shape[2:]).astype(np.float32),
                               requires_grad=True)

        def __call__(self, x):
            return self.net(x * self.w)

        def parameters(self):
            return [self.w] + list(self.net.parameters())

    xs = [data(tg, shape, s) for s in range(3)]
    ctx = no_compile_warnings()
    try:
        got, model, step = train(tg, Model, 5, True, xs)
    finally:
        ctx.__exit__(None, None, None)
    want, eager_model, _ = train(tg, Model, 5, False, xs)
    bn, eager_bn = model.net[0], eager_model.net[0]
    stats = lambda b: [raw(b.running_mean), raw(b.running_var), raw(b.num_batches_tracked)]  # noqa: E731
    assert got == want and stats(bn) == stats(eager_bn) and step.traces == 1
    assert int(bn.num_batches_tracked.item()) == 5
    # eval() traces again and reads the statistics training left
    f = tg.compile(lambda x: model(x))
    model.net.eval()
    eager_model.net.eval()
    assert raw(f(xs[0])) == raw(eager_model(xs[0])) and f.traces == 1
    model.net.train()
    eager_model.net.train()
    assert raw(f(xs[1])) == raw(eager_model(xs[1])) and f.traces == 2  # train(): another tape
    assert stats(bn) == stats(eager_bn)
    model.net.eval()
    eager_model.net.eval()
    # the eval tape replays and reads the statistics as they are now (updated by the train call)
    assert raw(f(xs[2])) == raw(eager_model(xs[2])) and f.traces == 2
    assert stats(bn) == stats(eager_bn)


def test_eval_mode_reads_the_current_running_statistics(tg):
    bn = tg.nn.BatchNorm1d(3).eval()
    f = tg.compile(lambda x: bn(x))
    x = data(tg, (4, 3), 0)
    first = raw(f(x))
    with tg.no_grad():
        bn.running_mean.data = tg.tensor([1.0, -2.0, 0.5])
    got = raw(f(x))
    assert got != first and got == raw(bn(x)) and f.traces == 1


def test_batchnorm_settings_are_guarded_and_momentum_none_stays_correct(tg):
    def run(compiled, change):
        tg.manual_seed(0)
        bn = tg.nn.BatchNorm1d(4)
        f = tg.compile(lambda x: bn(x), max_traces=20) if compiled else (lambda x: bn(x))
        outs = []
        for k in range(6):
            if k == 2:
                change(bn)
            outs.append(raw(f(data(tg, (5, 4), k))))
        return outs + [raw(bn.running_mean), raw(bn.running_var), raw(bn.num_batches_tracked)], f

    def momentum(bn):
        bn.momentum = 0.5

    def eps(bn):
        bn.eps = 1e-2

    def cumulative(bn):
        bn.momentum = None  # 1 / count: the count is read, each replay guards it

    for change, traces in ((momentum, 2), (eps, 2), (cumulative, 5)):
        got, f = run(True, change)
        want, _ = run(False, change)
        assert got == want and f.traces == traces, change.__name__


def test_a_failed_guard_after_batchnorm_and_dropout_changes_nothing(tg):
    """The replay runs BatchNorm (on copies of the statistics) and dropout (drawing), then a
    guard fails: the statistics and the stream are as before, fn traces again, and the
    numbers equal eager's."""
    def make():
        tg.manual_seed(1)
        return tg.nn.BatchNorm1d(3), tg.nn.Dropout(0.5)

    def fn_of(bn, drop):
        def fn(x):
            y = drop(bn(x))
            return y * 2 if x.sum().item() > 0 else y - 1  # a guard after both
        return fn

    xs = [data(tg, (6, 3), 0) for _ in range(1)]
    xs = [xs[0] + 10.0, xs[0] - 10.0, xs[0] + 5.0, xs[0] - 5.0]
    bn, drop = make()
    step = tg.compile(fn_of(bn, drop))
    tg.manual_seed(9)
    got = [raw(step(x)) for x in xs] + [raw(bn.running_mean), raw(bn.running_var), raw(tg.randn(4))]
    bn2, drop2 = make()
    eager = fn_of(bn2, drop2)
    tg.manual_seed(9)
    want = [raw(eager(x)) for x in xs] + [raw(bn2.running_mean), raw(bn2.running_var), raw(tg.randn(4))]
    assert got == want and step.traces == 2
    assert raw(bn.num_batches_tracked) == raw(bn2.num_batches_tracked)


def test_functional_batch_norm_with_statistics_made_inside_or_shared(tg):
    F = tg.nn.functional
    stats = tg.zeros(3)

    def fn(x):
        inner = tg.ones(3)
        y = F.batch_norm(x, stats, stats, training=True, momentum=0.3)  # one tensor for both
        z = F.batch_norm(y, inner, tg.ones(3), training=True)
        return z + inner, stats * 1.0

    step = tg.compile(fn)
    outs = [[raw(t) for t in step(data(tg, (4, 3), k))] for k in range(3)]
    got = outs + [raw(stats)]
    stats.data = tg.zeros(3)
    want = [[raw(t) for t in fn(data(tg, (4, 3), k))] for k in range(3)] + [raw(stats)]
    assert got == want and step.traces == 1


def test_running_statistics_an_op_made_inside_fn_are_refused_in_training(tg):
    """A view of outside state would be updated through its base in eager, not in a replay's copy."""
    F = tg.nn.functional
    base = tg.zeros(2, 3)

    def fn(x):
        return F.batch_norm(x, base[0], base[1] + 1.0, training=True)

    step = tg.compile(fn)
    with pytest.warns(tg.CompileWarning, match="running statistics"):
        got = [raw(step(data(tg, (4, 3), k))) for k in range(2)] + [raw(base)]
    base.data = tg.zeros(2, 3)
    want = [raw(fn(data(tg, (4, 3), k))) for k in range(2)] + [raw(base)]
    assert got == want and step.traces == 0


# ---- the tiny GPT with dropout ---------------------------------------------------------


def test_the_tiny_gpt_with_dropout_compiled_with_one_decorator_equals_eager(tg):
    cfg = gpt.Config(vocab=12, context=8, d=16, heads=2, layers=1, batch=3, dropout=0.2)
    corpus = gpt.Corpus("the quick brown fox jumps over a lazy dog " * 4)
    cfg = gpt.Config(**{**cfg.__dict__, "vocab": corpus.vocab})

    def run(compiled):
        tg.manual_seed(0)
        model = gpt.model_class(tg)(cfg)
        step = tg.compile(model) if compiled else model
        opt = tg.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        rng = np.random.default_rng(1)
        tg.manual_seed(2)
        out = []
        for _ in range(5):
            x, y = corpus.batch(rng, cfg.batch, cfg.context)
            logits, loss = step(tg.tensor(x, dtype=tg.int64), tg.tensor(y, dtype=tg.int64))
            opt.zero_grad()
            loss.backward()
            tg.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            opt.step()
            out += [raw(loss), raw(logits)]
        return out + [raw(p) for p in model.parameters()], getattr(step, "traces", None)

    ctx = no_compile_warnings()
    try:
        got, traces = run(True)
    finally:
        ctx.__exit__(None, None, None)
    want, _ = run(False)
    assert got == want and traces == 1
