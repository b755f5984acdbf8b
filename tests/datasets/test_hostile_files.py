"""Hostile and broken data files: every case the reader audit (benchmarks/audit_readers.py) found, one test each.

Cases that crashed, hung or allocated gigabytes before run in a subprocess
(with an address-space cap where memory is the point), so a regression
fails the test instead of taking pytest down with it.
"""

import gzip
import io
import os
import pickle
import re
import struct
import subprocess
import sys
import tarfile
import textwrap

import numpy as np
import pytest

import datasets
from helpers.process import ROOT, child_env
from helpers.dataset_files import (CIFAR_CLASSES, cifar_batch, cifar_files, encode, expected_cifar, forged_flags_pickle,
                           gzip_of_zeros, idx_bytes, mnist_arrays, nested_labels_pickle, object_array_pickle,
                           png_declaring, png_tree, py2_cifar_files, tar_bytes, tar_gz_bomb, unfinished_array_pickle,
                           write_bytes, write_cifar_folder, write_cifar_tar, write_tree, zip_bomb, zip_bytes)
from datasets import folder as folder_module
from datasets import limits, safepickle

pytestmark = pytest.mark.filterwarnings("ignore::datasets.ChecksumWarning")
TRAIN = [f"data_batch_{k}" for k in range(1, 6)]


def run_python(code, timeout=120, address_space=None):
    """(return code, stdout, stderr) of ``code`` run by a fresh interpreter that imports
    from this checkout and the test helpers; ``address_space`` caps its memory (bytes)."""
    prelude = ""
    if address_space:
        prelude += f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({address_space}, {address_space}))\n"
    done = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=child_env(OPENBLAS_NUM_THREADS="1"), check=False)
    return done.returncode, done.stdout, done.stderr


# -- 1. pickles that reached numpy with attacker-chosen state -------------------------

UNSAFE_ARRAYS = {
    "object array with forged pointers": object_array_pickle(),
    "uint8 dtype given object flags": forged_flags_pickle(),
    "numpy object array, protocol 2": pickle.dumps({b"data": np.array([1, "x"], object), b"labels": [0, 1]}, 2),
    "numpy object array, protocol 5": pickle.dumps({b"data": np.array([1, "x"], object), b"labels": [0, 1]}, 5),
    "structured array with an object field": pickle.dumps({b"data": np.zeros(2, [("a", "O"), ("b", "u1")]),
                                                           b"labels": [0, 1]}, 2),
    "array whose raw data is a list": pickle.dumps({b"data": np.array([1, 2], object)}, 2).replace(b"O8", b"u1"),
}


def test_unsafe_arrays_end_in_dataset_error_not_a_signal(tmp_path):
    roots = []
    for k, blob in enumerate(UNSAFE_ARRAYS.values()):
        files = cifar_files()
        files["data_batch_1"] = blob
        roots.append(str(write_cifar_folder(tmp_path / str(k), files).parent))
    code, out, err = run_python(f"""
        import datasets
        for root in {roots!r}:
            try:
                datasets.CIFAR10(root)
                print("loaded", root)
            except datasets.DatasetError as e:
                print("refused", e)
    """)
    assert code == 0, err  # a negative code would be a signal (the audit saw 139, SIGSEGV)
    lines = out.splitlines()
    assert len(lines) == len(UNSAFE_ARRAYS)
    for line, root in zip(lines, roots):
        assert line.startswith(f"refused {root}/cifar-10-batches-py/data_batch_1: not a valid CIFAR-10 pickle")


def test_cli_reports_an_unsafe_pickle_in_one_line(tmp_path):
    files = cifar_files()
    files["data_batch_1"] = UNSAFE_ARRAYS["object array with forged pointers"]
    write_cifar_folder(tmp_path, files)
    done = subprocess.run([sys.executable, "-m", "engine", "train", "--model", "cifar_cnn", "--dataset", "cifar10",
                           "--data-root", str(tmp_path), "--epochs", "1"], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0 and "data_batch_1: not a valid CIFAR-10 pickle" in done.stderr


@pytest.mark.parametrize("name", sorted(UNSAFE_ARRAYS))
def test_unpickler_refuses_unsafe_arrays(name):
    with pytest.raises(pickle.UnpicklingError, match="dtype|raw bytes"):
        safepickle.loads(UNSAFE_ARRAYS[name])


class _Payload:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


PAYLOADS = {"os.system": (os.system, ("touch MARKER",)), "subprocess.call": (subprocess.call, (["touch", "MARKER"],)),
            "eval": (eval, ("open('MARKER', 'w')",)), "exec": (exec, ("open('MARKER', 'w')",)),
            "open": (open, ("MARKER", "w"))}


@pytest.mark.parametrize("protocol", range(6))
@pytest.mark.parametrize("payload", sorted(PAYLOADS))
def test_reduce_payloads_run_nothing(tmp_path, monkeypatch, payload, protocol):
    monkeypatch.chdir(tmp_path)
    files = cifar_files()
    files["data_batch_1"] = pickle.dumps({b"data": _Payload(*PAYLOADS[payload]), b"labels": []}, protocol)
    files["data_batch_2"] = pickle.dumps(_Payload(*PAYLOADS[payload]), protocol)
    write_cifar_folder(tmp_path, files)
    with pytest.raises(datasets.DatasetError, match="data_batch_1: not a valid CIFAR-10 pickle .*forbidden global"):
        datasets.CIFAR10(tmp_path)
    with pytest.raises(pickle.UnpicklingError, match="forbidden global"):
        safepickle.loads(files["data_batch_2"])
    assert not (tmp_path / "MARKER").exists()


@pytest.mark.parametrize("blob, message", [
    (b"(S'touch MARKER'\nios\nsystem\n.", "opcode INST"),
    (b"(cos\nsystem\nS'touch MARKER'\no.", "opcode OBJ"),
    (b"\x80\x02cbuiltins\nobject\n)\x81.", "opcode NEWOBJ "),
    (b"\x80\x04cbuiltins\nobject\n)}\x92.", "opcode NEWOBJ_EX"),
    (b"\x80\x02\x82\x01.", "opcode EXT1"),
    (b"\x80\x02\x83\x01\x00.", "opcode EXT2"),
    (b"\x80\x02\x84\x01\x00\x00\x00.", "opcode EXT4"),
    (b"Pfoo\n.", "opcode PERSID"),
    (b"\x80\x02X\x03\x00\x00\x00fooQ.", "opcode BINPERSID"),
    (b"\x80\x05\x97.", "opcode NEXT_BUFFER"),
    (b"\x80\x04\x8c\x05posix\x8c\x06system\x93\x8c\x05touch\x85R.", "forbidden global posix.system"),
    (b"cos\nsystem\n(S'touch MARKER'\ntR.", "forbidden global os.system"),
    (b"\x80\x02cnumpy\nndarray\nK\x05\x85R.", "numpy.ndarray may only be named"),
    (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncbuiltins\nlist\nK\x00\x85C\x01b\x87R.", "forbidden global"),
    (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R.", "never given its data"),
    (b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00u1\x85R.", "a bare dtype"),
    (b"\x80\x02cnumpy\ndtype\nX\x0b\x00\x00\x00V1000000000\x85R.", "not a plain numeric type"),
    (b"\x80\x02c_codecs\nencode\nC\x01x\x8c\x04zlib\x86R.", "_codecs.encode may only"),
    (b"\x80\x02c__builtin__\nbytes\nK\x05\x85R.", "bytes\\(\\) may only be called without arguments"),
    (pickle.dumps([1, 2], 2) + b"junk", "4 bytes follow the end of the pickle"),
])
def test_unpickler_refuses_opcodes_globals_and_calls_it_does_not_need(blob, message):
    with pytest.raises(pickle.UnpicklingError, match=message):
        safepickle.loads(blob)


def test_an_array_given_its_state_twice_or_inside_a_tuple_is_refused():
    blob = pickle.dumps(np.arange(3, dtype=np.uint8), 2)  # ... TUPLE BINPUT <i> BUILD STOP
    assert blob[-5:-3] == b"tq" and blob[-2:] == b"b."
    with pytest.raises(pickle.UnpicklingError, match="state twice"):
        safepickle.loads(blob[:-1] + b"h" + blob[-3:-2] + b"b.")  # BINGET <i> BUILD: the same state again
    with pytest.raises(pickle.UnpicklingError, match="inside a tuple"):
        safepickle.loads(pickle.dumps((np.arange(3, dtype=np.uint8),), 2))


# -- 10. valid pickles that were refused ------------------------------------------------

def test_python3_protocol2_empty_bytes_is_accepted(tmp_path):
    assert safepickle.loads(pickle.dumps(b"", protocol=2)) == b""
    files = cifar_files()
    batch = cifar_batch(4, 1)
    batch[b"batch_label"] = b""
    batch[b"filenames"][0] = b""
    files["data_batch_1"] = pickle.dumps(batch, protocol=2)
    write_cifar_folder(tmp_path, files)
    ds = datasets.CIFAR10(tmp_path)
    np.testing.assert_array_equal(ds.data, expected_cifar(files, TRAIN)[0])


@pytest.mark.parametrize("protocol", range(6))
def test_every_pickle_protocol_loads(tmp_path, protocol):
    files = cifar_files(protocol=protocol)
    write_cifar_folder(tmp_path, files)
    ds = datasets.CIFAR10(tmp_path)
    data, labels = expected_cifar(files, TRAIN)
    np.testing.assert_array_equal(ds.data, data)
    np.testing.assert_array_equal(ds.targets, labels)


@pytest.mark.parametrize("layout", ["folder", "tar.gz"])
def test_python2_cpickle_files_load(tmp_path, layout):
    files = py2_cifar_files()
    assert b"U\x06labels" in files["data_batch_1"]  # SHORT_BINSTRING keys, as Python 2 wrote them
    (write_cifar_folder if layout == "folder" else write_cifar_tar)(tmp_path, files)
    ds = datasets.CIFAR10(tmp_path, train=False)
    data, labels = expected_cifar(files, ["test_batch"])
    np.testing.assert_array_equal(ds.data, data)
    np.testing.assert_array_equal(ds.targets, labels)
    assert ds.classes == CIFAR_CLASSES


def test_non_native_byte_order_and_fortran_arrays_load():
    for array in (np.arange(6, dtype=">i4").reshape(2, 3), np.asfortranarray(np.arange(6, dtype="f8").reshape(2, 3))):
        for protocol in (2, 5):
            out = safepickle.loads(pickle.dumps({b"a": [array]}, protocol))[b"a"][0]
            assert out.dtype == array.dtype and out.flags.writeable
            np.testing.assert_array_equal(out, array)


# -- 8. memory blow-ups from small files --------------------------------------------------

def test_small_files_that_ask_for_gigabytes_are_refused_without_allocating(tmp_path):
    """Each would have taken 1-8 GB; here the worker's address space is capped at 1.5 GiB
    and its peak memory may grow by at most 200 MB over all of them."""
    images, labels = mnist_arrays(6)
    labels_header = bytes([0, 0, 8, 1]) + struct.pack(">I", 100_000_000)
    cases = {
        "mnist gzip": ("mnist", {"mnist/train-images-idx3-ubyte.gz": gzip.compress(idx_bytes(images)[:16])
                                 + gzip_of_zeros(1024), "mnist/train-labels-idx1-ubyte": idx_bytes(labels)}),
        "mnist declared": ("mnist", {"mnist/train-images-idx3-ubyte": idx_bytes(images),
                                     "mnist/train-labels-idx1-ubyte.gz": gzip.compress(labels_header)
                                     + gzip_of_zeros(1)}),
        "tar.gz": ("folder:b.tar.gz", {"b.tar.gz": tar_gz_bomb("cat/0.png", 256)}),
        "zip": ("folder:b.zip", {"b.zip": zip_bomb("cat/0.png", 256)}),
        "pixels": ("folder", {"cat/x.png": png_declaring(9000, 9000), "cat/y.png": encode(np.zeros((2, 2), np.uint8))}),
        "memo": ("cifar", {"cifar-10-batches-py/data_batch_1": b"\x80\x02Nr" + struct.pack("<I", 1 << 29) + b"."}),
        "nested labels": ("cifar", {"cifar-10-batches-py/data_batch_1": nested_labels_pickle()}),
        "300,000 images": ("cifar", {"cifar-10-batches-py/data_batch_1": unfinished_array_pickle()}),
    }
    roots = {}
    for name, (reader, files) in cases.items():
        root = tmp_path / name.replace(" ", "_")
        if reader == "cifar":
            write_cifar_folder(root, {k: v for k, v in cifar_files().items() if k != "data_batch_1"})
        roots[name] = (reader, str(write_tree(root, files)))
    code, out, err = run_python(f"""
        import os, resource, datasets
        os.environ["NUMBACNN_CACHE"] = {str(tmp_path / "cache")!r}
        start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for name, (reader, root) in {roots!r}.items():
            kind, _, member = reader.partition(":")
            try:
                if kind == "mnist":
                    datasets.MNIST(root)
                elif kind == "cifar":
                    datasets.CIFAR10(root)
                else:
                    datasets.ImageFolder(os.path.join(root, member) if member else root)
                print(name, "| loaded")
            except datasets.DatasetError as e:
                print(name, "|", e)
        print("grew", (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start) // 1024, "MB")
    """, address_space=3 << 29)
    assert code == 0, err
    results = dict(line.split(" | ", 1) for line in out.splitlines()[:-1])
    expected = {"mnist gzip": "inflates to more than 4,720 bytes", "mnist declared": "can plausibly hold",
                "tar.gz": "inflates to more than", "zip": "can plausibly hold",
                "pixels": "9000x9000 pixels, more than the 67,108,864", "memo": "memo index 536870912",
                "nested labels": "'labels' is not a list of integers", "300,000 images": "never given its data"}
    for name, message in expected.items():
        assert message in results[name] and roots[name][1] in results[name], (name, results[name])
    assert int(out.splitlines()[-1].split()[1]) < 200


def test_batch_layout_limits(tmp_path, monkeypatch):
    files = cifar_files()
    files["batches.meta"] = pickle.dumps({b"label_names": [c.encode() for c in CIFAR_CLASSES]}, 2)  # no count
    files["data_batch_1"] = pickle.dumps({b"data": np.zeros((10_001, 3072), np.uint8), b"labels": [0] * 10_001}, 2)
    write_cifar_folder(tmp_path, files)
    with pytest.raises(datasets.DatasetError, match="data_batch_1: 10,001 images, more than the 10,000"):
        datasets.CIFAR10(tmp_path)
    monkeypatch.setattr(datasets.cifar, "MAX_PICKLE_BYTES", 1000)
    with pytest.raises(datasets.DatasetError, match=r"data_batch_1: [\d,]+ bytes, more than the 1,000"):
        datasets.CIFAR10(tmp_path)


@pytest.mark.parametrize("meta, message", [
    ({b"num_cases_per_batch": 10**12, b"label_names": [b"a"] * 10}, "'num_cases_per_batch' is not a count"),
    ({b"label_names": [b"a"] * 8}, "'label_names' lists 8 classes where CIFAR-10 has 10"),
])
def test_meta_with_an_implausible_batch_size_or_class_count(tmp_path, meta, message):
    files = cifar_files()
    files["batches.meta"] = pickle.dumps(meta, 2)
    write_cifar_folder(tmp_path, files)
    with pytest.raises(datasets.DatasetError, match=f"batches.meta: {message}"):
        datasets.CIFAR10(tmp_path)


# -- 6. silent partial loads --------------------------------------------------------------

def _expect_all_or_error(path, data, names):
    try:
        ds = datasets.ImageFolder(path)
    except datasets.DatasetError as e:
        assert str(path) in str(e)
        return False
    np.testing.assert_array_equal(ds.data, data)
    assert [s[0] for s in ds.samples] == names
    return True


def test_truncated_tar_never_loads_in_part(tmp_path, cache_dir):
    files, data, _ = png_tree()
    blob = tar_bytes(files)
    loaded = [_expect_all_or_error(write_bytes(tmp_path / f"t{n}.tar", blob[:n]), data, sorted(files))
              for n in range(0, len(blob), 256)]
    members_end = len(blob.rstrip(b"\0")) + 511 & ~511
    assert loaded == [n >= members_end + 512 for n in range(0, len(blob), 256)]


def test_tar_with_a_damaged_header_is_refused(tmp_path, cache_dir):
    files, _, _ = png_tree()
    blob = bytearray(tar_bytes(files))
    second = blob.index(b"cat/1.png")  # the second member's header: the old reader stopped there silently
    blob[second + 100] ^= 4  # its mode field
    with pytest.raises(datasets.DatasetError, match=r"t.tar: damaged or truncated tar archive .* after 'cat/0.png'"):
        datasets.ImageFolder(write_bytes(tmp_path / "t.tar", bytes(blob)))


def test_zip_with_a_corrupted_directory_is_refused(tmp_path, cache_dir):
    files, _, _ = png_tree()
    blob = bytearray(zip_bytes(files))
    entry = blob.index(b"PK\x01\x02")
    longer = bytearray(blob)
    longer[entry + 28] += 60  # the first directory entry's name length
    with pytest.raises(datasets.DatasetError, match="n.zip: not a readable zip archive"):
        datasets.ImageFolder(write_bytes(tmp_path / "n.zip", bytes(longer)))
    end = blob.rindex(b"PK\x05\x06")
    fewer = bytearray(blob)
    struct.pack_into("<HH", fewer, end + 8, 6, 6)  # the end record declares one entry more
    with pytest.raises(datasets.DatasetError, match="f.zip: damaged zip archive .*lists 5 entries.* declares 6"):
        datasets.ImageFolder(write_bytes(tmp_path / "f.zip", bytes(fewer)))


def test_zip_member_renamed_in_the_directory_only_is_refused(tmp_path, cache_dir):
    files, _, _ = png_tree()
    blob = bytearray(zip_bytes(files))
    at = blob.index(b"cat/2.png", blob.index(b"PK\x01\x02"))
    blob[at + 8] ^= 1  # 'cat/2.png' -> 'cat/2.pnf' in the directory: no longer an image name
    with pytest.raises(datasets.DatasetError, match=r"z.zip: cat/2.pnf cannot be read .*differ"):
        datasets.ImageFolder(write_bytes(tmp_path / "z.zip", bytes(blob)))


def test_every_bit_flip_of_the_decode_cache_is_caught(tmp_path, cache_dir, monkeypatch):
    files, data, _ = png_tree()
    root = write_tree(tmp_path / "tree", files)
    datasets.ImageFolder(root)
    (cache_file,) = cache_dir.glob("*.npz")
    good = cache_file.read_bytes()
    decodes = []
    decode = folder_module._decode_tree
    monkeypatch.setattr(folder_module, "_decode_tree", lambda *a: decodes.append(1) or decode(*a))
    rng = np.random.default_rng(0)
    for bit in rng.choice(len(good) * 8, 60, replace=False):
        damaged = bytearray(good)
        damaged[bit // 8] ^= 1 << (bit % 8)
        cache_file.write_bytes(bytes(damaged))
        ds = datasets.ImageFolder(root)
        np.testing.assert_array_equal(ds.data, data)
        assert [s[0] for s in ds.samples] == sorted(files)
    assert len(decodes) > 0
    # a flip inside the pixels: the cache is rebuilt from the source, never served
    damaged = bytearray(good)
    damaged[good.index(data.tobytes()[:16]) + 5] ^= 1
    cache_file.write_bytes(bytes(damaged))
    before = len(decodes)
    np.testing.assert_array_equal(datasets.ImageFolder(root).data, data)
    assert len(decodes) == before + 1
    np.testing.assert_array_equal(datasets.ImageFolder(root).data, data)
    assert len(decodes) == before + 1  # the rebuilt cache is good again


@pytest.mark.parametrize("cls, folder", [(datasets.MNIST, "mnist"), (datasets.FashionMNIST, "fashion-mnist")])
def test_mnist_refuses_images_that_are_not_28_by_28(tmp_path, cls, folder):
    images, labels = np.zeros((6, 32, 32), np.uint8), np.zeros(6, np.uint8)
    path = write_bytes(tmp_path / folder / "train-images-idx3-ubyte", idx_bytes(images), gz=True)
    write_bytes(tmp_path / folder / "train-labels-idx1-ubyte", idx_bytes(labels), gz=True)
    with pytest.raises(datasets.DatasetError) as e:
        cls(tmp_path)
    assert str(e.value) == f"{path}: images are 32 x 32, not the 28 x 28 of {cls.__name__}"


# -- 7. special files, links and names -------------------------------------------------------

def test_fifos_and_devices_are_skipped_not_read(tmp_path):
    """A FIFO named x.png used to hang forever, /dev/zero behind a link to read until memory ran out."""
    files, _, _ = png_tree()
    root = write_tree(tmp_path / "tree", files)
    os.mkfifo(root / "cat" / "x.png")
    os.symlink("/dev/zero", root / "dog" / "z.png")
    (root / "dog" / "d.png").mkdir()
    batches = write_cifar_folder(tmp_path / "cifar", cifar_files())
    (batches / "data_batch_1").unlink()
    os.mkfifo(batches / "data_batch_1")
    os.remove(batches / "test_batch")
    os.symlink("/dev/zero", batches / "test_batch")
    code, out, err = run_python(f"""
        import os, datasets
        os.environ["NUMBACNN_CACHE"] = {str(tmp_path / "cache")!r}
        ds = datasets.ImageFolder({str(root)!r})
        print(len(ds), [s[0] for s in ds.samples])
        for train in (True, False):
            try:
                datasets.CIFAR10({str(tmp_path / "cifar")!r}, train=train)
            except datasets.DatasetError as e:
                print(e)
    """, timeout=60, address_space=3 << 30)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"5 {sorted(files)}"
    assert lines[1] == f"{batches}/data_batch_1: is a FIFO, device or socket, not a regular file"
    assert lines[2] == f"{batches}/test_batch: is a FIFO, device or socket, not a regular file"


@pytest.mark.parametrize("make, message", [
    (lambda root: os.symlink("missing.png", root / "cat" / "b.png"),
     "cat/b.png: cannot be read (a broken symbolic link)"),
    (lambda root: os.symlink("l.png", root / "cat" / "l.png"), "cat/l.png: cannot be read (a symbolic link loop)"),
    (lambda root: os.symlink("..", root / "cat" / "up"), "cat/up: a symbolic link loop"),
    (lambda root: (root / "cat" / os.fsdecode(b"\xff.png")).write_bytes(b"x"), "not valid UTF-8"),
])
def test_broken_links_loops_and_undecodable_names_are_named(tmp_path, cache_dir, make, message):
    files, _, _ = png_tree()
    root = write_tree(tmp_path / "tree", files)
    make(root)
    with pytest.raises(datasets.DatasetError) as e:
        datasets.ImageFolder(root)
    assert message in str(e.value) and str(root) in str(e.value)
    str(e.value).encode("utf-8")  # printable, even for a non-UTF-8 name


def test_hidden_folders_are_not_looked_at_and_linked_class_folders_are_followed(tmp_path, cache_dir):
    files, data, _ = png_tree()
    root = write_tree(tmp_path / "tree", {k: v for k, v in files.items() if k.startswith("cat")})
    write_tree(tmp_path / "elsewhere" / "dogs", {k[4:]: v for k, v in files.items() if k.startswith("dog")})
    os.symlink(tmp_path / "elsewhere" / "dogs", root / "dog")
    (root / ".git").mkdir()
    os.symlink("missing", root / ".git" / "broken.png")
    os.symlink(".", root / ".git" / "loop")
    ds = datasets.ImageFolder(root)
    np.testing.assert_array_equal(ds.data, data)
    assert ds.classes == ["cat", "dog"]


def test_tar_member_with_a_non_utf8_name(tmp_path, cache_dir):
    files, _, _ = png_tree()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT, errors="surrogateescape") as tar:
        for name, blob in list(files.items()) + [(os.fsdecode(b"cat/\xff.png"), files["cat/0.png"])]:
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    with pytest.raises(datasets.DatasetError, match=r"u.tar: cat/\\udcff.png: the file name is not valid UTF-8"):
        datasets.ImageFolder(write_bytes(tmp_path / "u.tar", buf.getvalue()))


@pytest.mark.parametrize("field, value, message", [
    ("flags", 1, "is encrypted"),  # general-purpose flag bit 0: encrypted
    ("method", 99, "compression method is not supported"),
])
def test_zip_members_that_cannot_be_read_are_named(tmp_path, cache_dir, field, value, message):
    files, _, _ = png_tree()
    blob = bytearray(zip_bytes(files))
    offsets = {"flags": (6, 8), "method": (8, 10)}[field]  # in the first local header, in the first directory entry
    for signature, at in zip((b"PK\x03\x04", b"PK\x01\x02"), offsets):
        struct.pack_into("<H", blob, blob.index(signature) + at, value)
    with pytest.raises(datasets.DatasetError, match=f"x.zip: cat/0.png cannot be read .*{message}"):
        datasets.ImageFolder(write_bytes(tmp_path / "x.zip", bytes(blob)))


# -- images ---------------------------------------------------------------------------------

@pytest.mark.parametrize("blob, message", [
    (png_declaring(9000, 9000), "9000x9000 pixels, more than the 67,108,864 an image may have"),
    (png_declaring(30000, 30000), "DecompressionBombError"),
    (encode(np.zeros((16, 16, 3), np.uint8), "JPEG")[:200], "not a readable image"),
    (encode(np.zeros((8, 8, 3), np.uint8), "PNG")[:45], "not a readable image"),  # cut inside IDAT
    (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n", "not a readable image"),  # never Ghostscript
], ids=["9000x9000 PNG", "30000x30000 PNG", "truncated JPEG", "truncated PNG", "PostScript named .png"])
def test_bad_images_are_named(tmp_path, cache_dir, blob, message):
    files, _, _ = png_tree()
    files["dog/bad.png"] = blob
    root = write_tree(tmp_path / "tree", files)
    with pytest.raises(datasets.DatasetError, match=f"{re.escape(str(root))}: dog/bad.png (is )?.*{message}"):
        datasets.ImageFolder(root)


def test_decoded_images_beyond_the_memory_budget_are_refused(tmp_path, cache_dir, monkeypatch):
    files, _, _ = png_tree()
    root = write_tree(tmp_path / "tree", files)
    monkeypatch.setattr(limits, "decoded_budget", lambda: 3 * 8 * 8 * 3)
    with pytest.raises(datasets.DatasetError, match=r"decoded images would take more than 576 bytes .* at dog/0.png"):
        datasets.ImageFolder(root)
    monkeypatch.setattr(limits, "decoded_budget", lambda: 5 * 8 * 8 * 3)
    assert len(datasets.ImageFolder(root)) == 5
