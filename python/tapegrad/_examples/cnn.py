"""A small CNN on the 8x8 digits that ship with scikit-learn: the model between the MLP and GPT.

Two 3x3 convolutions (16 and 32 channels, padding 1), each followed by ReLU
and 2x2 max pooling, then a linear layer to the 10 classes; cross-entropy,
AdamW. The images are scikit-learn's bundled ``load_digits`` (1,797 of them,
nothing downloaded), split 75/25; it reaches about 97% held-out accuracy in a
few seconds.

Written once against a backend module ``tg`` (``tapegrad``,
``tapegrad.reference`` or ``torch``: PyTorch's names).

    python -m tapegrad demo cnn [--steps N] [--backend native|reference]
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

__all__ = ["Config", "model_class", "data", "train", "accuracy", "main"]


@dataclass(frozen=True)
class Config:
    channels: tuple = (16, 32)
    batch: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4


def model_class(tg):
    nn, F = tg.nn, tg.nn.functional

    class DigitsCNN(nn.Module):
        def __init__(self, cfg: Config):
            super().__init__()
            c1, c2 = cfg.channels
            self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
            self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
            self.pool = nn.MaxPool2d(2)
            self.flatten = nn.Flatten()
            self.fc = nn.Linear(c2 * 2 * 2, 10)

        def forward(self, x, targets=None):
            x = self.pool(self.conv1(x).relu())  # (B, c1, 4, 4)
            x = self.pool(self.conv2(x).relu())  # (B, c2, 2, 2)
            logits = self.fc(self.flatten(x))
            return logits, (None if targets is None else F.cross_entropy(logits, targets))

    return DigitsCNN


def data(seed: int = 0):
    """(X_train, X_test, y_train, y_test): images as float32 (N, 1, 8, 8) scaled to [0, 1], labels int64."""
    from ..datasets import load_digits, train_test_split

    X, y = load_digits()
    X = (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    return train_test_split(X, y.astype(np.int64), test_fraction=0.25, seed=seed)


def train(tg, model, X, y, cfg: Config, steps: int, seed: int = 0, log=None) -> list:
    rng = np.random.default_rng(seed)
    opt = tg.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    losses = []
    for step in range(steps):
        rows = rng.integers(0, len(X), cfg.batch)
        _, loss = model(tg.tensor(X[rows]), tg.tensor(y[rows]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
        if log is not None:
            log(step, losses[-1])
    return losses


def accuracy(tg, model, X, y) -> float:
    model.eval()
    with tg.no_grad():
        logits, _ = model(tg.tensor(X))
    model.train()
    predicted = np.asarray(logits.argmax(dim=1).tolist())
    return float(np.mean(predicted == y))


def main(tg, steps: int = 400, seed: int = 0) -> dict:
    X_train, X_test, y_train, y_test = data(seed)
    cfg = Config()
    tg.manual_seed(seed)
    model = model_class(tg)(cfg)
    print(f"digits CNN: conv {cfg.channels[0]} - pool - conv {cfg.channels[1]} - pool - linear; "
          f"{len(X_train)} training and {len(X_test)} held-out 8x8 images (scikit-learn's digits)")
    t0 = time.perf_counter()

    def log(step, loss):
        if step % max(1, steps // 8) == 0 or step == steps - 1:
            print(f"  step {step:4d}  loss {loss:.3f}  ({time.perf_counter() - t0:.1f} s)")

    losses = train(tg, model, X_train, y_train, cfg, steps, seed, log)
    acc = accuracy(tg, model, X_test, y_test)
    print(f"held-out accuracy {100 * acc:.1f}%")
    return {"losses": losses, "accuracy": acc}
