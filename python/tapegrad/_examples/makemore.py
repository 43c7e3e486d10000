"""A makemore-style character MLP (Bengio et al. 2003): the first model after micrograd.

Each word is a sequence of letters ended by '.'; the model reads the previous
``block`` characters, looks each up in an embedding table, concatenates the
embeddings, and predicts the next character through one tanh hidden layer and
a softmax (cross-entropy). The words are those of Python's standard-library
docstrings (``tapegrad.datasets.docstring_words``), so nothing is downloaded.
After training it samples new "words" with ``multinomial``.

Written once against a backend module ``tg`` (``tapegrad``,
``tapegrad.reference`` or ``torch``: PyTorch's names).

    python -m tapegrad demo makemore [--steps N] [--backend native|reference]
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

__all__ = ["Config", "model_class", "dataset", "train", "sample", "main"]

ALPHABET = ".abcdefghijklmnopqrstuvwxyz"  # '.' starts and ends every word


@dataclass(frozen=True)
class Config:
    vocab: int = len(ALPHABET)
    block: int = 3
    embed: int = 10
    hidden: int = 200
    batch: int = 32
    lr: float = 0.1


def model_class(tg):
    nn, F = tg.nn, tg.nn.functional

    class CharMLP(nn.Module):
        def __init__(self, cfg: Config):
            super().__init__()
            self.cfg = cfg
            self.emb = nn.Embedding(cfg.vocab, cfg.embed)
            self.hidden = nn.Linear(cfg.block * cfg.embed, cfg.hidden)
            self.out = nn.Linear(cfg.hidden, cfg.vocab)

        def forward(self, idx, targets=None):
            x = self.emb(idx).view(idx.shape[0], self.cfg.block * self.cfg.embed)
            logits = self.out(self.hidden(x).tanh())
            return logits, (None if targets is None else F.cross_entropy(logits, targets))

    return CharMLP


def dataset(words, block: int):
    """Every (previous ``block`` characters, next character) pair of the words, as int64 arrays."""
    index = {c: i for i, c in enumerate(ALPHABET)}
    xs, ys = [], []
    for w in words:
        context = [0] * block
        for ch in w + ".":
            xs.append(context)
            ys.append(index[ch])
            context = context[1:] + [index[ch]]
    return np.array(xs, dtype=np.int64), np.array(ys, dtype=np.int64)


def _set_lr(opt, lr: float) -> None:
    if hasattr(opt, "param_groups"):  # PyTorch's optimizers
        for group in opt.param_groups:
            group["lr"] = lr
    else:
        opt.lr = lr


def train(tg, model, X, Y, cfg: Config, steps: int, seed: int = 0, log=None) -> list:
    """Minibatch SGD (the rate drops tenfold for the last quarter); the losses."""
    rng = np.random.default_rng(seed)
    opt = tg.optim.SGD(model.parameters(), lr=cfg.lr)
    losses = []
    for step in range(steps):
        rows = rng.integers(0, len(X), cfg.batch)
        _, loss = model(tg.tensor(X[rows]), tg.tensor(Y[rows]))
        opt.zero_grad()
        loss.backward()
        _set_lr(opt, cfg.lr if step < 0.75 * steps else cfg.lr / 10)
        opt.step()
        losses.append(float(loss.item()))
        if log is not None:
            log(step, losses[-1])
    return losses


def sample(tg, model, cfg: Config, count: int = 10, seed: int = 0) -> list:
    words = []
    with tg.no_grad():
        for n in range(count):
            context, out = [0] * cfg.block, []
            for k in range(30):
                logits, _ = model(tg.tensor(np.array([context], dtype=np.int64)))
                probs = tg.nn.functional.softmax(logits[0], dim=-1)
                i = int(tg.multinomial(probs, 1, seed=seed + 1000 * n + k).item())
                if i == 0:
                    break
                out.append(ALPHABET[i])
                context = context[1:] + [i]
            words.append("".join(out))
    return words


def main(tg, steps: int = 2000, seed: int = 0) -> dict:
    from ..datasets import docstring_words

    words = docstring_words()
    order = np.random.default_rng(seed).permutation(len(words))
    words = [words[i] for i in order]
    n_train = int(0.9 * len(words))
    cfg = Config()
    X, Y = dataset(words[:n_train], cfg.block)
    Xv, Yv = dataset(words[n_train:], cfg.block)
    tg.manual_seed(seed)
    model = model_class(tg)(cfg)
    print(f"makemore MLP: block {cfg.block}, embedding {cfg.embed}, hidden {cfg.hidden}, "
          f"{len(words):,} words of Python's docstrings ({len(X):,} training examples)")
    t0 = time.perf_counter()

    def log(step, loss):
        if step % max(1, steps // 10) == 0 or step == steps - 1:
            print(f"  step {step:5d}  loss {loss:.3f}  ({time.perf_counter() - t0:.1f} s)")

    losses = train(tg, model, X, Y, cfg, steps, seed, log)
    with tg.no_grad():
        _, val = model(tg.tensor(Xv), tg.tensor(Yv))
    val_loss = float(val.item())
    names = sample(tg, model, cfg, seed=seed)
    print(f"held-out loss {val_loss:.3f}; samples: {', '.join(names)}")
    return {"losses": losses, "val_loss": val_loss, "samples": names}
