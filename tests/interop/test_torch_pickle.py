"""The restricted reader of torch.save's files (the zip format and torch < 1.6's stream):
real torch files (where torch is installed), files written byte by byte (everywhere), and
broken or hostile files, which must end in one WeightsError and never run anything."""
import io
import os
import pickle
import struct
import subprocess
import sys
import tarfile
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine.interop import WeightsError, torch_load
from engine.interop import torch_file, torch_pickle
from helpers.process import child_env
from torch_files import LEGACY_HEADER, Storage, View, encode, state_dict_of, write_legacy, write_pt

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def sample_state(seed=0):
    engine.manual_seed(seed)
    return state_dict_of(engine.models.get("resnet20"))


@pytest.fixture(params=["zip", "legacy"])
def write(request):
    """Writes a checkpoint file in the zip format or torch < 1.6's stream."""
    return write_pt if request.param == "zip" else write_legacy


def assert_same_state(got, want):
    assert list(got) == list(want)
    for k in want:
        assert got[k].dtype == want[k].dtype and got[k].shape == want[k].shape, k
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


# -- files written here, byte by byte ---------------------------------------------------------
def test_state_dict_and_plain_values(tmp_path, write):
    sd = sample_state()
    obj = {"net": sd, "acc": 91.25, "epoch": 30, "name": "résnet", "raw": b"\x00\xff", "flags": [True, None, (1, 2)],
           "big": 2**70}
    got = torch_load(write(tmp_path / "m.pt", obj))
    assert type(got["net"]) is dict
    assert_same_state(got["net"], sd)
    assert {k: got[k] for k in obj if k != "net"} == {k: obj[k] for k in obj if k != "net"}


def test_views_offsets_strides_and_shared_storage(tmp_path, write):
    base = np.arange(20, dtype=np.float32)
    s = Storage(base.tobytes())
    obj = {"a": View(s, 3, (2, 3), (1, 4)),        # a transposed slice
           "b": View(s, 0, (4,), (5,)),             # every fifth element
           "c": View(s, 7, (3, 2), (0, 1)),         # an expanded row (stride 0)
           "d": View(s, 19, (), ()),                # a scalar at the very end
           "e": View(s, 20, (0, 5), (5, 1))}        # empty, offset at the end
    got = torch_load(write(tmp_path / "v.pt", obj))
    ref = np.lib.stride_tricks.as_strided
    np.testing.assert_array_equal(got["a"], ref(base[3:], (2, 3), (4, 16)))
    np.testing.assert_array_equal(got["b"], base[::5])
    np.testing.assert_array_equal(got["c"], np.stack([base[7:9]] * 3))
    assert got["d"].shape == () and got["d"] == 19 and got["e"].shape == (0, 5)
    got["c"][0, 0] = -1     # copies, not views of one another
    assert got["c"][1, 0] == 7 and got["a"].flags.c_contiguous and got["a"].flags.writeable


@pytest.mark.parametrize("dtype", ["float16", "float64", "int64", "int32", "int8", "uint8", "bool"])
def test_dtypes(tmp_path, write, dtype):
    a = (np.arange(-3, 9) % 5).reshape(3, 4).astype(dtype)
    got = torch_load(write(tmp_path / "d.pt", {"a": a}))["a"]
    want = a.astype(np.float32) if a.dtype.kind == "f" else a
    assert got.dtype == want.dtype and got.dtype.isnative
    np.testing.assert_array_equal(got, want)


def test_bfloat16_and_big_endian(tmp_path):
    x = np.array([1.5, -2.25, 3e38, 0.0], np.float32)
    bf = Storage((x.view(np.uint32) >> 16).astype("<u2").tobytes(), "BFloat16Storage")
    got = torch_load(write_pt(tmp_path / "bf.pt", {"x": View(bf, 0, (4,), (1,))}))["x"]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, (x.view(np.uint32) & 0xFFFF0000).view(np.float32))
    big = Storage(np.arange(6, dtype=">f4").tobytes())
    ints = Storage(np.arange(3, dtype=">i8").tobytes(), "LongStorage")
    got = torch_load(write_pt(tmp_path / "be.pt", {"f": View(big, 0, (2, 3), (3, 1)), "i": View(ints, 0, (3,), (1,))},
                              byteorder="big"))
    np.testing.assert_array_equal(got["f"], np.arange(6, dtype=np.float32).reshape(2, 3))
    assert got["i"].dtype == np.int64 and got["i"].dtype.isnative and got["i"].tolist() == [0, 1, 2]


def test_numpy_scalars_and_protocol_4_sets(tmp_path):
    # what pickle writes for numpy scalars and a set at protocol 4 (no torch needed)
    payload = pickle.dumps({"acc": np.float64(0.875), "n": np.int64(3), "ok": np.bool_(True), "s": {1, 2}}, protocol=4)
    got = torch_load(write_pt(tmp_path / "s.pt", pickle_bytes=payload))
    assert got == {"acc": 0.875, "n": 3, "ok": True, "s": {1, 2}}
    assert type(got["acc"]) is float and type(got["n"]) is int


def test_old_archive_without_byteorder_and_other_names(tmp_path):
    sd = sample_state()
    assert_same_state(torch_load(write_pt(tmp_path / "o.pt", sd, byteorder=None, name="whatever")), sd)


def test_deflated_entries_are_read(tmp_path):
    sd = sample_state()
    assert_same_state(torch_load(write_pt(tmp_path / "z.pt", sd, compression=zipfile.ZIP_DEFLATED)), sd)


# -- real torch.save files ----------------------------------------------------------------------
def test_real_torch_files_match_torch_load(tmp_path):
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(0)
    w = torch.randn(6, 5, generator=g)
    obj = {"model_state_dict": torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)).state_dict(),
           "half": w.half(), "bf16": w.bfloat16(), "double": w.double(), "view": w[1:, ::2], "t": w.t(),
           "expand": w[0].expand(3, 5), "chunks": list(torch.arange(10.0).chunk(3)), "long": torch.arange(4),
           "param": torch.nn.Parameter(w[:2]), "epoch": 3, "acc": 0.5}
    torch.save(obj, tmp_path / "t.pt")
    ref = torch.load(tmp_path / "t.pt", weights_only=True)
    got = torch_load(tmp_path / "t.pt")
    assert set(got) == set(ref)
    flat = {k: v for k, v in got.items() if k not in ("model_state_dict", "chunks")}
    flat.update({f"sd.{k}": v for k, v in got["model_state_dict"].items()})
    flat.update({f"chunk{i}": v for i, v in enumerate(got["chunks"])})
    want = {k: v for k, v in ref.items() if k not in ("model_state_dict", "chunks")}
    want.update({f"sd.{k}": v for k, v in ref["model_state_dict"].items()})
    want.update({f"chunk{i}": v for i, v in enumerate(ref["chunks"])})
    for k, v in want.items():
        if isinstance(v, torch.Tensor):
            v = v.detach()
            v = v.float() if v.is_floating_point() else v
            assert flat[k].dtype == np.dtype(str(v.numpy().dtype)), k
            np.testing.assert_array_equal(flat[k], v.numpy(), err_msg=k)
        else:
            assert flat[k] == v


def test_real_legacy_files_match_torch_load(tmp_path):
    torch = pytest.importorskip("torch")
    w = torch.randn(4, 6, generator=torch.Generator().manual_seed(1))
    obj = {"net": torch.nn.BatchNorm2d(3).state_dict(), "view": w[1:, ::2], "bf16": w.bfloat16(), "half": w.half(),
           "long": torch.arange(5), "epoch": 2}
    torch.save(obj, tmp_path / "l.pt", _use_new_zipfile_serialization=False)
    ref = torch.load(tmp_path / "l.pt", weights_only=True)
    got = torch_load(tmp_path / "l.pt")
    for k in ("view", "bf16", "half", "long"):
        np.testing.assert_array_equal(got[k], (ref[k].float() if ref[k].is_floating_point() else ref[k]).numpy())
    for k, v in ref["net"].items():
        np.testing.assert_array_equal(got["net"][k], v.numpy())
    assert got["epoch"] == 2 and got["long"].dtype == np.int64


def test_files_written_here_read_the_same_in_torch(tmp_path, write):
    """The byte-by-byte writer lays files out as torch does: torch.load(weights_only=True)
    reads them to the same values."""
    torch = pytest.importorskip("torch")
    sd = sample_state()
    s = Storage(np.arange(12, dtype=np.float32).tobytes())
    path = write(tmp_path / "w.pt", {"net": sd, "v": View(s, 1, (2, 3), (1, 4)), "b": b"\x01", "x": 1.5})
    ref = torch.load(path, weights_only=True)
    got = torch_load(path)
    for k in sd:
        np.testing.assert_array_equal(got["net"][k], ref["net"][k].numpy())
    np.testing.assert_array_equal(got["v"], ref["v"].numpy())
    assert (got["b"], got["x"]) == (ref["b"], ref["x"])


# -- sizes are checked before memory is used ------------------------------------------------------
def _one(tmp_path, view, write=write_pt):
    return write(tmp_path / "b.pt", {"x": view})


@pytest.mark.parametrize("offset,size,stride,needle", [
    (0, (3, 4), (4, 1), "reaches element 11"),             # 12 elements from a storage of 10
    (8, (3,), (1,), "reaches element 10"),                 # runs off the end
    (0, (2,), (2**62,), "reaches element"),                # a huge stride
    (0, (2**40, 2**40), (0, 0), "past the reader's limit"),  # stride-0 "expansion" to 10^24 elements
    (0, (3,), (-1,), "malformed"),                         # negative stride
    (-1, (3,), (1,), "malformed"),                         # negative offset
    (0, (3, 1), (1,), "malformed"),                        # sizes and strides disagree
    (0, (3.0,), (1,), "malformed"),                        # not an int
    (0, (1,) * 65, (1,) * 65, "malformed"),                # more dimensions than numpy has
])
def test_views_outside_their_storage_are_refused(tmp_path, write, offset, size, stride, needle):
    s = Storage(np.arange(10, dtype=np.float32).tobytes())
    with pytest.raises(WeightsError, match=needle):
        torch_load(_one(tmp_path, View(s, offset, size, stride), write))


def test_storage_size_must_match_its_entry(tmp_path):
    s = Storage(np.zeros(10, np.float32).tobytes(), numel=1000)
    with pytest.raises(WeightsError, match="declares 1,000 FloatStorage elements"):
        torch_load(_one(tmp_path, View(s, 0, (10,), (1,))))


def test_storage_key_missing_or_declared_twice(tmp_path):
    s = Storage(np.zeros(4, np.float32).tobytes())
    data, storages = encode({"a": View(s, 0, (4,), (1,))})
    with pytest.raises(WeightsError, match="does not hold"):
        torch_load(write_pt(tmp_path / "m.pt", pickle_bytes=data, storages=[]))
    s = Storage(np.zeros(4, np.float32).tobytes(), key="0")
    t = Storage(np.zeros(2, np.int64).tobytes(), "LongStorage", key="0")
    data, _ = encode({"a": View(s, 0, (4,), (1,)), "b": View(t, 0, (2,), (1,))})
    with pytest.raises(WeightsError, match="declared twice"):
        torch_load(write_pt(tmp_path / "t.pt", pickle_bytes=data, storages=[s]))


def test_max_bytes_caps_reading_and_building(tmp_path):
    path = write_pt(tmp_path / "m.pt", {"a": np.zeros(1000, np.float32)})
    assert torch_load(path, max_bytes=10_000)["a"].shape == (1000,)
    with pytest.raises(WeightsError, match="max_bytes"):
        torch_load(path, max_bytes=5_000)


def _patch_central(path, name: str, offset: int, fmt: str, value) -> bytes:
    """The file's bytes with field ``offset`` of entry ``name``'s central-directory header set."""
    raw = bytearray(open(path, "rb").read())
    at = raw.find(b"PK\x01\x02")
    while raw[at + 46:at + 46 + len(name)] != name.encode():
        at = raw.find(b"PK\x01\x02", at + 4)
        assert at > 0
    struct.pack_into(fmt, raw, at + offset, value)
    return bytes(raw)


def test_zip_bomb_is_refused_before_decompressing(tmp_path):
    path = write_pt(tmp_path / "z.pt", {"a": np.zeros(1000, np.float32)}, compression=zipfile.ZIP_DEFLATED)
    (tmp_path / "bomb.pt").write_bytes(_patch_central(path, "archive/data.pkl", 24, "<I", 2**31))  # declared size
    with pytest.raises(WeightsError, match="more than deflate can produce"):
        torch_load(tmp_path / "bomb.pt")
    path = write_pt(tmp_path / "s.pt", {"a": np.zeros(4, np.float32)})
    (tmp_path / "lie.pt").write_bytes(_patch_central(path, "archive/data.pkl", 24, "<I", 2**31))
    with pytest.raises(WeightsError, match="stored uncompressed but declares"):
        torch_load(tmp_path / "lie.pt")


def test_zip_entry_checks(tmp_path):
    path = write_pt(tmp_path / "m.pt", {"a": np.zeros(4, np.float32)})
    (tmp_path / "enc.pt").write_bytes(_patch_central(path, "archive/data.pkl", 8, "<H", 1))  # 'encrypted' flag
    with pytest.raises(WeightsError, match="encrypted"):
        torch_load(tmp_path / "enc.pt")
    with zipfile.ZipFile(tmp_path / "bz.pt", "w", zipfile.ZIP_BZIP2) as z:
        z.writestr("archive/data.pkl", encode({"a": 1})[0])
    with pytest.raises(WeightsError, match="compression method 12"):
        torch_load(tmp_path / "bz.pt")


def test_huge_pickle_entry_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(torch_file, "MAX_PICKLE", 100)
    with pytest.raises(WeightsError, match="data.pkl.*more than the 100"):
        torch_load(write_pt(tmp_path / "m.pt", {"a": "x" * 200}))


# -- not a torch.save zip file -------------------------------------------------------------------
def test_other_files_say_what_they_are(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        torch_load(tmp_path / "nope.pt")
    with pytest.raises(WeightsError, match="is a folder"):
        torch_load(tmp_path)
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(WeightsError, match="not a PyTorch checkpoint"):
        torch_load(tmp_path / "empty.pt")
    (tmp_path / "plain.pkl").write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(WeightsError, match="a pickle but not a PyTorch checkpoint"):
        torch_load(tmp_path / "plain.pkl")
    with tarfile.open(tmp_path / "old.pt", "w") as t:
        info = tarfile.TarInfo("storages")
        info.size = 1
        t.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(WeightsError, match="tar archive"):
        torch_load(tmp_path / "old.pt")
    with zipfile.ZipFile(tmp_path / "plain.zip", "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(WeightsError, match="no NAME/data.pkl"):
        torch_load(tmp_path / "plain.zip")
    with zipfile.ZipFile(tmp_path / "two.pt", "w") as z:
        z.writestr("a/data.pkl", encode(1)[0])
        z.writestr("b/data.pkl", encode(1)[0])
    with pytest.raises(WeightsError, match="2 pickles"):
        torch_load(tmp_path / "two.pt")
    path = write_pt(tmp_path / "ts.pt", {"a": 1}, extra={"archive/constants.pkl": b"", "archive/code/m.py": b""})
    with pytest.raises(WeightsError, match="TorchScript"):
        torch_load(path)
    with pytest.raises(WeightsError, match="byteorder"):
        torch_load(write_pt(tmp_path / "bo.pt", {"a": 1}, byteorder="middle"))


def test_broken_legacy_streams(tmp_path):
    s = Storage(np.arange(6, dtype=np.float32).tobytes(), key="7")
    data, _ = encode({"a": View(s, 0, (6,), (1,))}, legacy=True)
    storages = [s]
    cases = [
        (dict(header=(1, 1001, {})), "not a PyTorch checkpoint"),
        (dict(header=(LEGACY_HEADER[0], 1000, {})), "not protocol 1001"),
        (dict(header=(LEGACY_HEADER[0], 1001, [])), "not protocol 1001 followed by the system information"),
        (dict(keys=[]), "which the file does not hold"),
        (dict(keys=["7", "7"]), "not a list of distinct names"),
        (dict(storages=[s, Storage(b"\0" * 4, key="8")], keys=["7", "8"]), "which no tensor declares"),
        (dict(storages=[Storage(s.data, numel=5, key="7")]), "should hold 6 FloatStorage elements; the file gives 5"),
        (dict(storages=[Storage(s.data, numel=2**60, key="7")]), "should hold 6"),
    ]
    for kw, needle in cases:
        kw.setdefault("storages", storages)
        path = write_legacy(tmp_path / "l.pt", pickle_bytes=data, **kw)
        with pytest.raises(WeightsError, match=needle):
            torch_load(path)
    good = open(write_legacy(tmp_path / "g.pt", pickle_bytes=data, storages=storages), "rb").read()
    (tmp_path / "cut.pt").write_bytes(good[:-4])
    with pytest.raises(WeightsError, match="has 20 bytes left"):
        torch_load(tmp_path / "cut.pt")
    with pytest.raises(WeightsError, match="max_bytes"):
        torch_load(tmp_path / "g.pt", max_bytes=len(good) - 1)


# -- hostile pickles: nothing runs -----------------------------------------------------------------
class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _text(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


@pytest.mark.parametrize("make", [
    lambda victim: pickle.dumps({"a": _Evil(victim)}, protocol=2),
    lambda victim: pickle.dumps(_Evil(victim), protocol=5),
    lambda victim: b"\x80\x02cos\nsystem\n" + _text(f"touch '{victim}'") + b"\x85R.",
    lambda victim: b"cbuiltins\neval\n(" + _text(f"open('{victim}', 'w')") + b"tR.",
    lambda victim: b"\x80\x04\x8c\x08builtins\x8c\x04exec\x93" + _text(f"open('{victim}', 'w')") + b"\x85R.",
])
def test_globals_outside_the_allowlist_never_run(tmp_path, make):
    victim = str(tmp_path / "pwned")
    with pytest.raises(WeightsError, match="may not use"):
        torch_load(write_pt(tmp_path / "e.pt", pickle_bytes=make(victim)))
    assert not os.path.exists(victim)


@pytest.mark.parametrize("ops,needle", [
    (b"(X\x03\x00\x00\x00abcQ.", "persistent id"),                                          # not a storage id
    (b"(X\x07\x00\x00\x00storageNX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x01tQ.", "storage type"),
    (b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x03\x00\x00\x00../X\x03\x00\x00\x00cpuK\x01tQ.",
     "malformed key"),
    (b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x01tQ.", "bare storage"),
    (b"ctorch\nFloatStorage\n.", "storage type"),                                            # the type itself
    (b"ccollections\nOrderedDict\n)R}X\x01\x00\x00\x00xK\x01sb.", "other than _metadata"),  # BUILD an attribute
    (b"cnumpy\ndtype\nX\x01\x00\x00\x00O\x85R.", "only plain numbers"),                        # object dtype
    (b"c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00utf16\x86R.", "latin-1"),
    (b"ctorch._utils\n_rebuild_parameter\nK\x01\x89)\x87R.", "other than a tensor"),
    (b"ctorch._utils\n_rebuild_tensor_v2\n(K\x01K\x00))\x89)tR.", "other than a storage"),
    (b"ctorch._utils\n_rebuild_tensor_v2\n(K\x01tR.", "not a valid checkpoint pickle"),     # wrong arguments
    (b"\xff.", "not a valid checkpoint pickle"),                                               # unknown opcode
    (b"(((((", "not a valid checkpoint pickle"),                                               # truncated
    (b"\x80\x02h\x05.", "not a valid checkpoint pickle"),                                     # memo miss
    (b"\x80\x05\x96" + struct.pack("<Q", 2**62) + b"abc.", "bytearray8"),   # 2**62 bytes declared, never allocated
])
def test_malformed_pickles_end_in_one_error(tmp_path, ops, needle):
    with pytest.raises(WeightsError, match=needle):
        torch_load(write_pt(tmp_path / "m.pt", pickle_bytes=ops))


def test_hooks_on_a_tensor_are_refused(tmp_path):
    s = Storage(np.zeros(2, np.float32).tobytes())
    with pytest.raises(WeightsError, match="backward hooks"):
        torch_load(write_pt(tmp_path / "h.pt", {"a": View(s, 0, (2,), (1,), hooks={"h": 1})}))


def test_deep_nesting_and_memo_blowups_are_refused_quickly(tmp_path, monkeypatch):
    monkeypatch.setattr(torch_pickle, "MAX_OBJECTS", 10_000)
    deep = b"\x80\x02" + b"]" * 5000 + b"a" * 4999 + b"."    # 5000 lists, each in the one before
    with pytest.raises(WeightsError, match="deep"):
        torch_load(write_pt(tmp_path / "d.pt", pickle_bytes=deep))
    # billion laughs: each list holds the previous one twice (2^60 paths through 60 memo entries)
    ops = b"\x80\x02]q\x00"
    for i in range(1, 61):
        ops += b"](h" + bytes([i - 1]) + b"h" + bytes([i - 1]) + b"eq" + bytes([i])
    ops += b"."
    with pytest.raises(WeightsError, match="more than 10,000 values"):
        torch_load(write_pt(tmp_path / "l.pt", pickle_bytes=ops))
    cyc = b"\x80\x02]q\x00h\x00a."      # a list that contains itself
    with pytest.raises(WeightsError, match="deep"):
        torch_load(write_pt(tmp_path / "c.pt", pickle_bytes=cyc))


# -- fuzzing --------------------------------------------------------------------------------------
def _fuzz_bases(folder) -> list:
    engine.manual_seed(1)
    sd = state_dict_of(engine.models.get("mnist_cnn"))
    buf = io.BytesIO()
    write_pt(buf, {"net": sd, "epoch": 3, "acc": 0.5})
    legacy = write_legacy(os.path.join(folder, "legacy.pt"), {"net": sd, "epoch": 3, "acc": 0.5})
    return [buf.getvalue(), open(legacy, "rb").read()]


@pytest.fixture(scope="module")
def fuzz_bases(tmp_path_factory):
    return _fuzz_bases(tmp_path_factory.mktemp("fuzz"))


def _plain_ok(obj):
    if isinstance(obj, dict):
        return all(_plain_ok(k) and _plain_ok(v) for k, v in obj.items())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return all(_plain_ok(v) for v in obj)
    return obj is None or isinstance(obj, (bool, int, float, str, bytes, np.ndarray))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.sampled_from([0, 1]), flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True),
                                                              st.integers(1, 255)), min_size=1, max_size=8),
       cut=st.one_of(st.none(), st.floats(0, 1)))
def test_fuzz_bit_flips_and_truncations(tmp_path, fuzz_bases, which, flips, cut):
    data = bytearray(fuzz_bases[which])     # the zip format or the legacy stream
    for at, mask in flips:
        data[int(at * len(data))] ^= mask
    if cut is not None:
        data = data[:int(cut * len(data))]
    path = tmp_path / "f.pt"
    path.write_bytes(bytes(data))
    try:
        got = torch_load(path)
    except WeightsError as e:
        assert str(e) and "\n" not in str(e)
    else:
        assert _plain_ok(got)


def test_fuzz_mutated_pickles_in_a_subprocess(tmp_path):
    """Random byte edits inside data.pkl (valid zip around it), run in a child process so a
    crash of the C unpickler would show as a signal instead of taking pytest down."""
    script = os.path.join(HERE, "fuzz_pickle_child.py")
    r = subprocess.run([sys.executable, script, str(tmp_path), "300"], capture_output=True, text=True, timeout=300,
                       cwd=ROOT, env=child_env())
    assert r.returncode == 0, f"child ended with {r.returncode}: {r.stderr[-2000:]}"
    counts = dict(line.split("=") for line in r.stdout.split())
    assert int(counts["loaded"]) + int(counts["refused"]) == 300
    assert int(counts["refused"]) > 0
