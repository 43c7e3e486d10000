"""The three models of "from micrograd to GPT" (tapegrad._examples) on both backends.

Each model is one piece of code written against PyTorch's names, so the tests
run it in PyTorch too, from the same weights (copied through state_dict):
- the tiny GPT's first five training losses (AdamW, gradient clipping) equal
  PyTorch's in float64 to 1e-6 relative, on both backends;
- the makemore MLP's losses equal PyTorch's, and fall;
- the digits CNN reaches at least 95% held-out accuracy on the native
  backend, and the reference agrees with it step by step;
- ``tapegrad demo <model>`` runs.
"""
from __future__ import annotations

import numpy as np
import pytest

import tapegrad
import tapegrad.reference as reference
from tapegrad._examples import cnn, gpt, makemore
from tapegrad.datasets import docstring_words

torch = pytest.importorskip("torch")

BACKENDS = [pytest.param(tapegrad, id="native"), pytest.param(reference, id="reference")]


def copy_weights(tg, model, torch_model):
    """The torch model's parameters and buffers, in float64, loaded into ``model`` made float64
    (load_state_dict keeps the model's dtype, as PyTorch's does)."""
    state = {k: tg.tensor(v.detach().numpy().astype(np.float64)) for k, v in torch_model.state_dict().items()}
    model.double().load_state_dict(state)
    for name, p in model.named_parameters():
        assert p.dtype == np.float64, f"{name} is {p.dtype} after load_state_dict of float64 tensors"
    return model


@pytest.fixture
def float64_torch():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    yield
    torch.set_default_dtype(old)


@pytest.mark.parametrize("tg", BACKENDS)
def test_gpt_first_five_losses_equal_pytorch(tg, float64_torch):
    cfg = gpt.Config(vocab=40, context=16, batch=4)
    text = "".join(chr(48 + (i * 7 + i // 3) % 40) for i in range(3000))
    corpus = gpt.Corpus(text)
    reference_model = gpt.model_class(torch)(cfg)
    model = copy_weights(tg, gpt.model_class(tg)(cfg), reference_model)

    def batches(seed):
        rng = np.random.default_rng(seed)
        return lambda step: corpus.batch(rng, cfg.batch, cfg.context)

    want = gpt.train(torch, reference_model, batches(1), cfg, 5)
    got = gpt.train(tg, model, batches(1), cfg, 5)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert want[-1] < want[0]


@pytest.mark.parametrize("tg", BACKENDS)
def test_makemore_losses_equal_pytorch_and_fall(tg, float64_torch):
    cfg = makemore.Config()
    words = docstring_words()[:400]
    X, Y = makemore.dataset(words, cfg.block)
    reference_model = makemore.model_class(torch)(cfg)
    model = copy_weights(tg, makemore.model_class(tg)(cfg), reference_model)
    want = makemore.train(torch, reference_model, X, Y, cfg, 40, seed=2)
    got = makemore.train(tg, model, X, Y, cfg, 40, seed=2)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert np.mean(got[-10:]) < got[0] - 0.3


def test_cnn_reaches_95_percent_on_held_out_digits():
    pytest.importorskip("sklearn")
    X_train, X_test, y_train, y_test = cnn.data(seed=0)
    tapegrad.manual_seed(0)
    model = cnn.model_class(tapegrad)(cnn.Config())
    cnn.train(tapegrad, model, X_train, y_train, cnn.Config(), 400, seed=0)
    assert cnn.accuracy(tapegrad, model, X_test, y_test) >= 0.95


def test_cnn_backends_agree_step_by_step(float64_torch):
    pytest.importorskip("sklearn")
    X_train, _, y_train, _ = cnn.data(seed=0)
    X_train = X_train.astype(np.float64)
    cfg = cnn.Config()
    torch_model = cnn.model_class(torch)(cfg)
    losses = []
    for tg in (tapegrad, reference, torch):
        model = torch_model if tg is torch else copy_weights(tg, cnn.model_class(tg)(cfg), torch_model)
        losses.append(cnn.train(tg, model, X_train, y_train, cfg, 5, seed=3))
    np.testing.assert_allclose(losses[0], losses[2], rtol=1e-6)
    np.testing.assert_allclose(losses[1], losses[2], rtol=1e-6)


@pytest.mark.parametrize("model", ["makemore", "cnn", "gpt"])
def test_demo_command_runs(model, capsys):
    if model == "cnn":
        pytest.importorskip("sklearn")
    from tapegrad.cli import main

    assert main(["demo", model, "--steps", "3"]) == 0
    out = capsys.readouterr().out
    assert "step    2" in out or "step     2" in out
    assert {"makemore": "samples:", "cnn": "held-out accuracy", "gpt": "sample:"}[model] in out
