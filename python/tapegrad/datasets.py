"""Small seeded data sets for tests, demos and benchmarks (NumPy only, no download).

``make_moons`` is the two interleaving half-circles of the micrograd demo;
``make_digits`` draws noisy, shifted 8x8 images of the digits 0-9 from fixed
glyphs, a stand-in for scikit-learn's bundled 8x8 digits, which
``load_digits`` returns when scikit-learn is installed. ``docstring_text``
and ``docstring_words`` are text that ships with Python: the docstrings of a
fixed list of standard-library modules, a character corpus for language
models that needs no download (it differs a little between Python versions).
"""
from __future__ import annotations

import numpy as np

__all__ = ["make_moons", "make_digits", "load_digits", "train_test_split", "docstring_text", "docstring_words"]


def make_moons(n_samples: int = 100, noise: float = 0.1, seed=0):
    """Two half-moons in the plane: ``X`` (n, 2) float64 and labels ``y`` (n,) in {0, 1}.

    Class 0 lies on the upper unit half-circle, class 1 on the lower one
    shifted by (1, 0.5); Gaussian noise of std ``noise`` is added, and the
    points are shuffled. The same ``seed`` gives the same points everywhere.
    """
    n_samples = int(n_samples)
    if n_samples < 2:
        raise ValueError(f"make_moons: need at least 2 samples, got {n_samples}")
    rng = np.random.default_rng(seed)
    n0 = n_samples // 2
    n1 = n_samples - n0
    t0 = np.linspace(0.0, np.pi, n0)
    t1 = np.linspace(0.0, np.pi, n1)
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    lower = np.stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    X = np.concatenate([upper, lower]) + rng.normal(0.0, noise, size=(n_samples, 2))
    y = np.concatenate([np.zeros(n0, dtype=np.int64), np.ones(n1, dtype=np.int64)])
    order = rng.permutation(n_samples)
    return X[order], y[order]


# 6-wide, 7-tall glyphs of 0-9; '#' is ink. Placed in an 8x8 frame with a random shift.
_GLYPHS = (
    (" #### ", "#    #", "#   ##", "# ## #", "##   #", "#    #", " #### "),
    ("  ##  ", " ###  ", "  ##  ", "  ##  ", "  ##  ", "  ##  ", " #### "),
    (" #### ", "#    #", "     #", "   ## ", "  #   ", " #    ", "######"),
    (" #### ", "#    #", "     #", "  ### ", "     #", "#    #", " #### "),
    ("    # ", "   ## ", "  # # ", " #  # ", "######", "    # ", "    # "),
    ("######", "#     ", "##### ", "     #", "     #", "#    #", " #### "),
    ("  ### ", " #    ", "#     ", "##### ", "#    #", "#    #", " #### "),
    ("######", "     #", "    # ", "   #  ", "  #   ", "  #   ", "  #   "),
    (" #### ", "#    #", "#    #", " #### ", "#    #", "#    #", " #### "),
    (" #### ", "#    #", "#    #", " #####", "     #", "    # ", " ###  "),
)


def _templates() -> np.ndarray:
    return np.array([[[c == "#" for c in row] for row in g] for g in _GLYPHS], dtype=np.float64)


def make_digits(n_samples: int = 1797, noise: float = 0.15, seed=0):
    """Generated 8x8 digit images: ``X`` (n, 64) float64 in [0, 16], ``y`` (n,) in 0..9.

    Each image is a glyph shifted by up to one pixel in each direction, with
    random stroke strength, a little blur, pixel noise of relative std
    ``noise`` and a few flipped pixels, scaled like scikit-learn's digits.
    """
    n_samples = int(n_samples)
    if n_samples < 1:
        raise ValueError(f"make_digits: need at least 1 sample, got {n_samples}")
    rng = np.random.default_rng(seed)
    glyphs = _templates()
    y = rng.integers(0, 10, size=n_samples)
    X = np.empty((n_samples, 8, 8))
    for k, label in enumerate(y):
        img = np.zeros((8, 8))
        dr, dc = rng.integers(0, 2), rng.integers(0, 3)
        img[dr:dr + 7, dc:dc + 6] = glyphs[label] * rng.uniform(0.6, 1.0)
        # a light blur: ink bleeds a quarter into the four neighbours
        blur = img.copy()
        blur[1:, :] += 0.25 * img[:-1, :]
        blur[:-1, :] += 0.25 * img[1:, :]
        blur[:, 1:] += 0.25 * img[:, :-1]
        blur[:, :-1] += 0.25 * img[:, 1:]
        flips = rng.random((8, 8)) < 0.01
        blur = np.where(flips, 1.0 - np.clip(blur, 0.0, 1.0), blur)
        X[k] = blur + rng.normal(0.0, noise, size=(8, 8))
    X = np.clip(X, 0.0, 1.0) * 16.0
    return X.reshape(n_samples, 64), y.astype(np.int64)


def load_digits():
    """scikit-learn's bundled 8x8 digits ``(X (1797, 64) in [0, 16], y)``; ImportError without it."""
    try:
        from sklearn.datasets import load_digits as _load
    except ImportError as exc:
        raise ImportError(
            "load_digits needs scikit-learn (pip install scikit-learn); "
            "tapegrad.datasets.make_digits generates a similar set without it"
        ) from exc
    d = _load()
    return np.asarray(d.data, dtype=np.float64), np.asarray(d.target, dtype=np.int64)


def train_test_split(X, y, test_fraction: float = 0.25, seed=0):
    """A seeded shuffle split: ``X_train, X_test, y_train, y_test``."""
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"train_test_split: {len(X)} samples but {len(y)} labels")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"train_test_split: test_fraction must be in (0, 1), got {test_fraction}")
    order = np.random.default_rng(seed).permutation(len(X))
    n_test = max(1, int(round(len(X) * test_fraction)))
    test, train = order[:n_test], order[n_test:]
    return X[train], X[test], y[train], y[test]


# Standard-library modules whose docstrings make the text corpus, in this order.
DOCSTRING_MODULES = (
    "argparse", "ast", "bisect", "calendar", "collections", "contextlib", "copy", "csv", "dataclasses",
    "datetime", "decimal", "difflib", "enum", "fractions", "functools", "heapq", "inspect", "itertools",
    "json", "logging", "os", "pathlib", "pickle", "pprint", "random", "re", "shutil", "statistics",
    "string", "subprocess", "tarfile", "textwrap", "threading", "typing", "unittest", "zipfile",
)


def docstring_text() -> str:
    """The docstrings of ``DOCSTRING_MODULES`` and of their public classes and functions
    (in sorted order), joined by blank lines: about 240,000 characters on Python 3.11."""
    import importlib
    import inspect
    import warnings

    parts = []
    with warnings.catch_warnings():  # typing.io and typing.re warn when read (3.11)
        warnings.simplefilter("ignore", DeprecationWarning)
        for name in DOCSTRING_MODULES:
            module = importlib.import_module(name)
            members = [module] + [getattr(module, m) for m in sorted(dir(module)) if not m.startswith("_")]
            for obj in members:
                if obj is not module and getattr(obj, "__module__", None) != name:
                    continue  # imported from elsewhere: its own module lists it
                doc = inspect.getdoc(obj)
                if doc:
                    parts.append(doc)
    return "\n\n".join(parts)


def docstring_words(min_len: int = 3, max_len: int = 12) -> list:
    """The distinct lowercase words (letters a-z only) of ``docstring_text``, sorted:
    a stand-in for makemore's list of names (about 2,900 words)."""
    import re

    found = re.findall(r"[a-z]+", docstring_text().lower())
    return sorted({w for w in found if min_len <= len(w) <= max_len})
