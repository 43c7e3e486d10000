"""tg.save / tg.load: exact round trips under any file name, and never code from the file."""
from __future__ import annotations

import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest


def test_module_save_load_any_file_name(tg, tmp_path):
    a = tg.nn.Sequential(tg.nn.Linear(3, 4, seed=0), tg.nn.ReLU(), tg.nn.Linear(4, 2, seed=1))
    b = tg.nn.Sequential(tg.nn.Linear(3, 4, seed=5), tg.nn.ReLU(), tg.nn.Linear(4, 2, seed=6))
    for name in ("model.pt", "weights", "state.npz", "dir with space.bin"):
        path = tmp_path / name
        a.save(path)
        assert os.listdir(tmp_path).count(name) == 1 and path.is_file()  # no suffix appended
        assert b.load(path) is b
        for k, v in a.state_dict().items():
            np.testing.assert_array_equal(b.state_dict()[k], v)
        assert set(tg.load(path)) == set(a.state_dict())  # Module.save is tg.save of the state dict


def test_round_trip_is_exact(tg, tmp_path):
    bits = np.array([0x7FC00001, 0x80000000, 0x7F800000, 0x00000001], dtype=np.uint32)
    odd_floats = bits.view(np.float32)  # a NaN payload, -0.0, inf, the smallest subnormal
    state = {
        "z": np.arange(6, dtype=np.float64).reshape(2, 3),
        "a": odd_floats,
        "big-endian": np.array([1.5, -2.0], dtype=">f8"),
        "ints": np.array([2**62, -3], dtype=np.int64),
        "scalar": np.float32(0.1),
        "t": tg.tensor(np.array([[1.25, -0.5]], dtype=np.float64), requires_grad=True),
        "t32": tg.tensor([3.0]),
        "v": tg.Value(-7.125),
        "nested": {"lr": 0.1, "step": 10**20, "flag": True, "name": "adam", "none": None,
                   "inf": float("inf")},
    }
    path = tmp_path / "state"
    tg.save(state, path)
    back = tg.load(path)
    assert list(back) == list(state)  # order kept
    for key in ("z", "a", "big-endian", "ints"):
        assert back[key].dtype == state[key].dtype and back[key].shape == state[key].shape
        assert back[key].tobytes() == state[key].tobytes()
    assert type(back["scalar"]) is np.float32 and back["scalar"] == np.float32(0.1)
    assert isinstance(back["t"], tg.Tensor) and back["t"].requires_grad and back["t"].dtype == np.float64
    np.testing.assert_array_equal(back["t"].numpy(), state["t"].numpy())
    assert isinstance(back["t32"], tg.Tensor) and not back["t32"].requires_grad and back["t32"].dtype == np.float32
    assert isinstance(back["v"], tg.Value) and back["v"].data == -7.125
    assert back["nested"] == state["nested"] and type(back["nested"]["step"]) is int


def test_saved_on_one_backend_loads_on_the_other(tmp_path):
    import tapegrad as native
    import tapegrad.reference as reference

    native.save({"w": native.tensor([1.0, 2.0], requires_grad=True)}, tmp_path / "f")
    back = reference.load(tmp_path / "f")
    assert isinstance(back["w"], reference.Tensor) and back["w"].requires_grad


def test_bad_contents_are_refused_before_writing(tg, tmp_path):
    path = tmp_path / "f"
    with pytest.raises(TypeError, match=r"tg.save: state dict\['x'\] is a list"):
        tg.save({"x": [1, 2]}, path)
    with pytest.raises(TypeError, match="keys must be str, got int 3"):
        tg.save({3: np.zeros(2)}, path)
    with pytest.raises(TypeError, match="array of Python objects"):
        tg.save({"o": np.array([object()])}, path)
    assert not path.exists()


class _RunsCode:
    """Unpickling this calls exec(): what a malicious checkpoint does."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def test_load_never_runs_code_from_a_pickle(tg, tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"w": _RunsCode(marker)}))
    with pytest.raises(ValueError, match="is not a state dict written by tg.save"):
        tg.load(path)
    assert not marker.exists()  # nothing ran
    # the same payload inside an archive, as an object array next to a valid manifest
    buf = io.BytesIO()
    manifest = {"format": "tapegrad state dict", "version": 1,
                "root": {"kind": "dict", "items": [["w", {"kind": "ndarray", "array": "a0"}]]}}
    np.savez(buf, a0=np.array([_RunsCode(marker)], dtype=object),
             __tapegrad__=np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8))
    path.write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="is not a state dict written by tg.save"):
        tg.load(path)
    assert not marker.exists()


@pytest.mark.parametrize("contents", ["garbage", "npy", "foreign npz", "truncated", "bad manifest", "empty"])
def test_load_refuses_what_save_did_not_write(tg, tmp_path, contents):
    path = tmp_path / "f"
    good = tmp_path / "good"
    tg.save({"w": np.ones(3)}, good)
    if contents == "garbage":
        path.write_bytes(b"\x00\x01 not a checkpoint")
    elif contents == "npy":
        with open(path, "wb") as f:
            np.save(f, np.ones(3))
    elif contents == "foreign npz":
        with open(path, "wb") as f:
            np.savez(f, w=np.ones(3))
    elif contents == "truncated":
        path.write_bytes(good.read_bytes()[:40])
    elif contents == "bad manifest":
        with zipfile.ZipFile(path, "w") as z:
            buf = io.BytesIO()
            np.save(buf, np.frombuffer(b"{not json", dtype=np.uint8))
            z.writestr("__tapegrad__.npy", buf.getvalue())
    else:
        path.write_bytes(b"")
    with pytest.raises(ValueError, match="is not a state dict written by tg.save"):
        tg.load(path)


def test_load_of_a_missing_file(tg, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        tg.load(tmp_path / "absent.pt")


def test_a_newer_format_version_is_named(tg, tmp_path):
    path = tmp_path / "f"
    manifest = {"format": "tapegrad state dict", "version": 99, "root": {"kind": "dict", "items": []}}
    with open(path, "wb") as f:
        np.savez(f, __tapegrad__=np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8))
    with pytest.raises(ValueError, match="format version 99; this tapegrad reads version 1"):
        tg.load(path)
