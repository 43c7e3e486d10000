"""``tg.save(obj, path)`` and ``tg.load(path)``: state dicts on disk, exactly, and never code.

A file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays) written to
exactly the path given, whatever its name, holding every array of the state
dict plus one manifest entry, ``__tapegrad__``: JSON text that records the
format, the keys in order, what each value was (NumPy array, Tensor, Value,
number, string, None or a nested dict) and, for a Tensor, its
``requires_grad``. Arrays keep their dtype, shape and bytes, so a round trip
is exact.

``load`` reads the archive with ``allow_pickle=False``: NumPy then refuses
object arrays and pickled data without unpickling anything, so a file can
never run code (unlike ``pickle.load``, or ``torch.load`` without
``weights_only=True``). Anything that is not an archive ``save`` wrote is a
ValueError. Both backends share this module; ``tapegrad.load`` makes native
Tensors and Values, ``tapegrad.reference.load`` reference ones.
"""
from __future__ import annotations

import json as _json
import os as _os
import zipfile as _zipfile
from collections.abc import Mapping as _Mapping

import numpy as _np

from ._params import is_tensor as _is_tensor, is_value as _is_value

__all__ = ["save", "load"]

_MANIFEST = "__tapegrad__"
_FORMAT = "tapegrad state dict"
_VERSION = 1


def save(obj, path) -> None:
    """Write the state dict ``obj`` to ``path`` (any file name; nothing is appended).

    ``obj`` maps str keys to NumPy arrays, Tensors and Values (of either
    backend), Python numbers, strings, None, or nested dicts of these, as
    ``Module.state_dict()`` returns. Anything else is a TypeError, raised
    before the file is touched.
    """
    arrays: dict = {}
    tree = _encode(obj, arrays, where="state dict")
    manifest = {"format": _FORMAT, "version": _VERSION, "root": tree}
    text = _json.dumps(manifest, allow_nan=True).encode("utf-8")
    arrays[_MANIFEST] = _np.frombuffer(text, dtype=_np.uint8)
    with open(path, "wb") as f:  # a file object: np.savez adds no ".npz" suffix
        _np.savez(f, **arrays)


def _encode(obj, arrays: dict, where: str):
    if isinstance(obj, _Mapping):
        items = []
        for key, value in obj.items():
            if not isinstance(key, str):
                raise TypeError(f"tg.save: {where} keys must be str, got {type(key).__name__} {key!r}")
            items.append([key, _encode(value, arrays, f"{where}[{key!r}]")])
        return {"kind": "dict", "items": items}
    if obj is None or isinstance(obj, (bool, str)):
        return {"kind": "literal", "value": obj}
    if isinstance(obj, (int, float)) and type(obj) in (int, float):
        return {"kind": "literal", "value": obj}
    if _is_tensor(obj):
        name = _store(_np.asarray(obj.numpy()), arrays, where)
        return {"kind": "tensor", "array": name, "requires_grad": bool(obj.requires_grad)}
    if _is_value(obj):
        return {"kind": "value", "data": float(obj.data)}
    if isinstance(obj, (_np.ndarray, _np.generic)):
        kind = "ndarray" if isinstance(obj, _np.ndarray) else "scalar"
        return {"kind": kind, "array": _store(_np.asarray(obj), arrays, where)}
    raise TypeError(
        f"tg.save: {where} is a {type(obj).__name__}; a state dict holds arrays, Tensors, Values, "
        "numbers, strings, None and nested dicts"
    )


def _store(array: _np.ndarray, arrays: dict, where: str) -> str:
    if array.dtype.hasobject:
        raise TypeError(f"tg.save: {where} is an array of Python objects, which cannot be saved without pickle")
    name = f"a{len(arrays)}"
    arrays[name] = array
    return name


def load(path, backend=None):
    """Read a state dict that ``save`` wrote; never runs code from the file.

    Tensors and Values come back as objects of ``backend`` (``tapegrad`` or
    ``tapegrad.reference``; ``tg.load`` passes its own). A file that is not
    such a state dict (a pickle, a plain ``.npy``, another archive, garbage)
    is a ValueError; a missing file is a FileNotFoundError.
    """
    fspath = _os.fspath(path)
    if not _os.path.exists(fspath):
        raise FileNotFoundError(f"tg.load: no such file: {fspath!r}")
    with open(fspath, "rb") as f:  # ours to close, whatever NumPy makes of the contents
        try:
            archive = _np.load(f, allow_pickle=False)
        except (ValueError, OSError, EOFError, _zipfile.BadZipFile) as exc:
            raise _not_ours(fspath, str(exc)) from None
        if not isinstance(archive, _np.lib.npyio.NpzFile):
            raise _not_ours(fspath, "it holds a single array, not an archive")
        with archive:
            return _read(archive, backend, fspath)


def _read(archive, backend, path: str):
    try:
        if _MANIFEST not in archive.files:
            raise _not_ours(path, "it has no tapegrad manifest")
        manifest = _json.loads(bytes(_array(archive, _MANIFEST, path)).decode("utf-8"))
        if not (isinstance(manifest, dict) and manifest.get("format") == _FORMAT):
            raise _not_ours(path, "its manifest is not a tapegrad state dict's")
        if manifest.get("version") != _VERSION:
            raise ValueError(
                f"tg.load: {path!r} is a tapegrad state dict of format version "
                f"{manifest.get('version')!r}; this tapegrad reads version {_VERSION}"
            )
        return _decode(manifest.get("root"), archive, backend, path)
    except (KeyError, TypeError, AttributeError, UnicodeDecodeError, _json.JSONDecodeError,
            _zipfile.BadZipFile, EOFError, OSError) as exc:
        raise _not_ours(path, f"its contents are damaged ({type(exc).__name__}: {exc})") from None


def _not_ours(path: str, why: str) -> ValueError:
    return ValueError(f"tg.load: {path!r} is not a state dict written by tg.save: {why}")


def _decode(node, archive, backend, path: str):
    kind = node["kind"]
    if kind == "dict":
        return {key: _decode(value, archive, backend, path) for key, value in node["items"]}
    if kind == "literal":
        return node["value"]
    if kind == "value":
        return _module(backend).Value(float(node["data"]))
    array = _array(archive, node["array"], path)
    if kind == "ndarray":
        return array
    if kind == "scalar":
        return array[()]
    if kind == "tensor":
        return _module(backend).tensor(array, requires_grad=bool(node["requires_grad"]), dtype=array.dtype)
    raise KeyError(f"unknown entry kind {kind!r}")


def _array(archive, name: str, path: str):
    try:
        return archive[name]
    except ValueError as exc:  # allow_pickle=False: an object array is refused, never unpickled
        raise _not_ours(path, str(exc)) from None


def _module(backend):
    if backend is None:
        import tapegrad as backend  # noqa: PLC0415 - the default is the native backend
    return backend


def bound(backend):
    """``(save, load)`` for ``backend``: load makes that backend's Tensors and Values."""

    def load_for_backend(path):
        return load(path, backend)

    load_for_backend.__doc__ = load.__doc__
    load_for_backend.__name__ = load_for_backend.__qualname__ = "load"
    load_for_backend.__module__ = getattr(backend, "__name__", __name__)
    return save, load_for_backend
