"""A tiny GPT, character level: the last model of "from micrograd to GPT".

Token and position embeddings; blocks of causal self-attention (a lower
triangular mask, masked_fill with -inf, softmax) and a GELU MLP, each behind
a layer norm with a residual connection; a final layer norm and a linear head
to the vocabulary. Dropout (``Config.dropout``, off by default) on the
embeddings, the attention weights and each residual branch, as in nanoGPT.
Trained with AdamW and gradient clipping on the docstrings of Python's
standard library (``tapegrad.datasets.docstring_text``), then sampled with
``multinomial``.

The model is written once against a backend module ``tg`` (``tapegrad``,
``tapegrad.reference``, or ``torch`` itself: the names are PyTorch's), so the
tests can run the very same code in PyTorch and compare.

    python -m tapegrad demo gpt [--steps N] [--backend native|reference]
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

__all__ = ["Config", "model_class", "Corpus", "train", "sample", "main"]


@dataclass(frozen=True)
class Config:
    vocab: int = 65
    context: int = 32
    d: int = 64
    heads: int = 4
    layers: int = 2
    batch: int = 16
    lr: float = 3e-3
    weight_decay: float = 0.01
    clip: float = 1.0
    dropout: float = 0.0


def model_class(tg):
    """The GPT module class for backend ``tg`` (its nn.Module is the base class)."""
    nn, F = tg.nn, tg.nn.functional

    class CausalSelfAttention(nn.Module):
        def __init__(self, cfg: Config):
            super().__init__()
            self.heads = cfg.heads
            self.qkv = nn.Linear(cfg.d, 3 * cfg.d)
            self.proj = nn.Linear(cfg.d, cfg.d)
            self.att_drop, self.out_drop = nn.Dropout(cfg.dropout), nn.Dropout(cfg.dropout)
            self.register_buffer("mask", tg.tril(tg.ones(cfg.context, cfg.context)))

        def forward(self, x):
            B, T, C = x.shape
            hs = C // self.heads
            q, k, v = self.qkv(x).split(C, dim=2)
            q = q.view(B, T, self.heads, hs).transpose(1, 2)  # (B, heads, T, hs)
            k = k.view(B, T, self.heads, hs).transpose(1, 2)
            v = v.view(B, T, self.heads, hs).transpose(1, 2)
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
            att = att.masked_fill(self.mask[:T, :T] == 0, float("-inf"))  # no peeking ahead
            att = self.att_drop(F.softmax(att, dim=-1))
            y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
            return self.out_drop(self.proj(y))

    class Block(nn.Module):
        def __init__(self, cfg: Config):
            super().__init__()
            self.ln1 = nn.LayerNorm(cfg.d)
            self.attn = CausalSelfAttention(cfg)
            self.ln2 = nn.LayerNorm(cfg.d)
            self.fc = nn.Linear(cfg.d, 4 * cfg.d)
            self.gelu = nn.GELU()
            self.out = nn.Linear(4 * cfg.d, cfg.d)
            self.drop = nn.Dropout(cfg.dropout)

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.drop(self.out(self.gelu(self.fc(self.ln2(x)))))

    class GPT(nn.Module):
        def __init__(self, cfg: Config):
            super().__init__()
            self.cfg = cfg
            self.tok = nn.Embedding(cfg.vocab, cfg.d)
            self.pos = nn.Embedding(cfg.context, cfg.d)
            self.drop = nn.Dropout(cfg.dropout)
            self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.layers)])
            self.ln_f = nn.LayerNorm(cfg.d)
            self.head = nn.Linear(cfg.d, cfg.vocab)

        def forward(self, idx, targets=None):
            B, T = idx.shape
            x = self.drop(self.tok(idx) + self.pos(tg.arange(T)))
            for block in self.blocks:
                x = block(x)
            logits = self.head(self.ln_f(x))
            if targets is None:
                return logits, None
            loss = F.cross_entropy(logits.view(B * T, self.cfg.vocab), targets.view(B * T))
            return logits, loss

    return GPT


class Corpus:
    """Characters of a text as ids, and seeded random batches of (input, next-character) windows."""

    def __init__(self, text: str):
        self.chars = sorted(set(text))
        self.index = {c: i for i, c in enumerate(self.chars)}
        self.ids = np.array([self.index[c] for c in text], dtype=np.int64)

    @property
    def vocab(self) -> int:
        return len(self.chars)

    def batch(self, rng, batch: int, context: int):
        start = rng.integers(0, len(self.ids) - context - 1, batch)
        x = np.stack([self.ids[s:s + context] for s in start])
        y = np.stack([self.ids[s + 1:s + context + 1] for s in start])
        return x, y

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def _tensor(tg, array):
    return tg.tensor(array) if not hasattr(tg, "from_numpy") else tg.from_numpy(array)


def train(tg, model, batches, cfg: Config, steps: int, log=None) -> list:
    """``steps`` AdamW steps (clipped to ``cfg.clip``) on ``batches(step) -> (x, y)`` arrays; the losses."""
    opt = tg.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    losses = []
    for step in range(steps):
        x, y = batches(step)
        _, loss = model(_tensor(tg, x), _tensor(tg, y))
        opt.zero_grad()
        loss.backward()
        tg.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        losses.append(float(loss.item()))
        if log is not None:
            log(step, losses[-1])
    return losses


def sample(tg, model, corpus: Corpus, cfg: Config, length: int = 200, seed: int = 0, prompt: str = "\n") -> str:
    """``length`` characters drawn one at a time from the model's softmax, after ``prompt``."""
    ids = [corpus.index.get(c, 0) for c in prompt]
    model.eval()
    with tg.no_grad():
        for k in range(length):
            window = np.array([ids[-cfg.context:]], dtype=np.int64)
            logits, _ = model(_tensor(tg, window))
            probs = tg.nn.functional.softmax(logits[0, -1], dim=-1)
            ids.append(int(tg.multinomial(probs, 1, seed=seed + k).item()))
    model.train()
    return corpus.decode(ids[len(prompt):])


def main(tg, steps: int = 300, seed: int = 0) -> dict:
    from ..datasets import docstring_text

    corpus = Corpus(docstring_text())
    cfg = Config(vocab=corpus.vocab)
    tg.manual_seed(seed)
    model = model_class(tg)(cfg)
    rng = np.random.default_rng(seed)
    n_params = sum(int(np.prod(p.shape)) for p in model.parameters())
    print(f"tiny GPT: {cfg.layers} layers, {cfg.heads} heads, d={cfg.d}, context {cfg.context}, "
          f"vocabulary {cfg.vocab} characters of Python's docstrings, {n_params:,} parameters")
    t0 = time.perf_counter()

    def log(step, loss):
        if step % max(1, steps // 10) == 0 or step == steps - 1:
            print(f"  step {step:4d}  loss {loss:.3f}  ({time.perf_counter() - t0:.1f} s)")

    losses = train(tg, model, lambda step: corpus.batch(rng, cfg.batch, cfg.context), cfg, steps, log)
    text = sample(tg, model, corpus, cfg, seed=seed)
    print("sample:\n" + text)
    return {"losses": losses, "sample": text}
