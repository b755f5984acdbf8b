"""Audit of the dataset readers against hostile and broken files (issue 14).

    python benchmarks/audit_readers.py [--seed 0] [--scale 1.0] [--package-root PATH]

Builds a reproducible corpus (seeded) of inputs in a temporary folder --
random bytes, truncations and bit flips of small valid files, hostile
pickles, special files (FIFOs, /dev/zero, broken links, link loops,
non-UTF-8 names), decompression bombs, crafted archives, damaged decode
caches -- and opens each with the public readers (``MNIST``, ``CIFAR10``,
``ImageFolder``) in a worker process, so that a crash is counted and the
worker restarted. Each input is handled cleanly when it ends in a
``DatasetError`` that names the file or folder, or in a correct load:

- identical to the original where the format can tell damage (gzip CRC, zip
  CRC, tar header checksums, PNG chunk CRCs, the decode cache's CRCs);
- the complete dataset in the documented layout (every image, the right
  shapes, labels in range) where it cannot (a raw IDX file, a pickle, a
  JPEG: a flipped pixel byte is just another pixel value).

Anything else is handled wrongly: a crash (signal), a hang (no answer in
``--timeout`` seconds), a memory blow-up (the worker's peak resident memory
grows by more than 256 MB on one input, or its 3 GiB address-space cap is
hit), another exception, an error that names no file, a partial or wrong
load, or a payload that ran (its marker file exists). ``--package-root``
audits the ``datasets`` package of another checkout (e.g. an older commit)
with the same corpus. Prints one table row per category.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import pickle
import random
import select
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from helpers import dataset_files as df  # noqa: E402 - the small valid files, bombs and crafted pickles the tests build

TRAIN = [f"data_batch_{k}" for k in range(1, 6)]
ADDRESS_SPACE = 3 << 30
RSS_GROWTH_MB = 256


# -- outcomes and damage ---------------------------------------------------------------

def digest(data, targets, names=()):
    h = hashlib.sha1(np.ascontiguousarray(data).tobytes())
    h.update(np.asarray(targets, np.int64).tobytes())
    h.update("\n".join(names).encode("utf-8", "backslashreplace"))
    return f"{data.shape}:{h.hexdigest()}"


# -- damage -----------------------------------------------------------------------

def flip(blob, rng):
    i = rng.randrange(len(blob) * 8)
    b = bytearray(blob)
    b[i // 8] ^= 1 << (i % 8)
    return bytes(b)


def truncate(blob, rng):
    return blob[:rng.randrange(len(blob))]


def random_bytes(rng, magic=b""):
    return magic + rng.randbytes(rng.randrange(0, 3000))


# -- the corpus ---------------------------------------------------------------------

class Corpus:
    """Cases: (category, label, reader, folder, oracle). oracle: "load=<digest>" (a valid
    input: must load, identically), "identical=<digest>" (a DatasetError or an identical
    load), "complete=<shape prefix>" (a DatasetError or a load of that shape), "error"
    (must raise DatasetError) or "marker" (a DatasetError, and no marker file)."""

    def __init__(self, base, seed, scale):
        self.base, self.rng, self.scale, self.cases = Path(base), random.Random(seed), scale, []

    def n(self, count):
        return max(1, round(count * self.scale))

    def add(self, category, label, reader, files, oracle, specials=()):
        folder = self.base / f"case{len(self.cases):05d}"
        for rel, blob in files.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(blob)
        folder.mkdir(parents=True, exist_ok=True)
        for make in specials:
            make(folder)
        self.cases.append((category, label, reader, str(folder), oracle))

    # MNIST / IDX
    def mnist(self):
        images, labels = df.mnist_arrays(12)
        idx = df.idx_bytes
        good = digest(images, labels)
        whole = "complete=(12, 28, 28)"
        seeds = {"images.gz": ("train-images-idx3-ubyte.gz", gzip.compress(idx(images)), "identical=" + good),
                 "labels.gz": ("train-labels-idx1-ubyte.gz", gzip.compress(idx(labels)), "identical=" + good),
                 "images raw": ("train-images-idx3-ubyte", idx(images), whole)}
        others = {"train-images-idx3-ubyte.gz": gzip.compress(idx(images)),
                  "train-labels-idx1-ubyte.gz": gzip.compress(idx(labels))}

        def case(category, label, name, blob, oracle):
            files = {f"mnist/{k}": v for k, v in others.items() if k.split("-")[1] != name.split("-")[1]}
            files[f"mnist/{name}"] = blob
            self.add(category, f"idx {label}", "mnist", files, oracle)

        for key, (name, blob, oracle) in seeds.items():
            case("valid files", key, name, blob, "load=" + good)
            for _ in range(self.n(25)):
                case("truncations", key, name, truncate(blob, self.rng), oracle)
            for _ in range(self.n(90)):
                case("bit flips", key, name, flip(blob, self.rng), oracle)
        for _ in range(self.n(30)):
            case("random bytes", "images", "train-images-idx3-ubyte", random_bytes(self.rng, b"\0\0\x08\x03"), whole)
            case("random bytes", "images.gz", "train-images-idx3-ubyte.gz", random_bytes(self.rng, b"\x1f\x8b"), whole)
        case("bombs", "gzip inflating to 1 GB after a 12-image header", "train-images-idx3-ubyte.gz",
             gzip.compress(idx(images)[:16]) + df.gzip_of_zeros(1024), "error")
        case("bombs", "gzip declaring 100,000,000 labels in 1 KB", "train-labels-idx1-ubyte.gz",
             gzip.compress(bytes([0, 0, 8, 1]) + struct.pack(">I", 100_000_000)) + df.gzip_of_zeros(1), "error")
        big = np.zeros((12, 32, 32), np.uint8)
        case("valid files", "32 x 32 images (not MNIST)", "train-images-idx3-ubyte.gz", gzip.compress(idx(big)), "error")

    # CIFAR-10 pickles
    def cifar(self):
        seeds = {"py2 cPickle p2": df.py2_cifar_files(3), "py3 p2": df.cifar_files(3, protocol=2),
                 "py3 p5": df.cifar_files(3, protocol=5)}
        data, labels = df.expected_cifar(seeds["py3 p2"], TRAIN)
        good, valid = "identical=" + digest(data, labels), "load=" + digest(data, labels)
        whole = f"complete={data.shape}"
        for key, files in seeds.items():
            self.add("valid files", f"cifar {key}", "cifar", _cifar_tree(files), valid)
            for which in ("data_batch_2", "batches.meta"):
                for _ in range(self.n(15)):
                    self.add("truncations", f"cifar {key} {which}", "cifar",
                             _cifar_tree(files, {which: truncate(files[which], self.rng)}), whole)
                for _ in range(self.n(60)):
                    self.add("bit flips", f"cifar {key} {which}", "cifar",
                             _cifar_tree(files, {which: flip(files[which], self.rng)}), whole)
        tgz = df.tar_bytes({f"cifar-10-batches-py/{k}": v for k, v in seeds["py2 cPickle p2"].items()}, gz=True)
        self.add("valid files", "cifar tar.gz", "cifar", {"cifar-10-python.tar.gz": tgz}, valid)
        for _ in range(self.n(20)):
            self.add("truncations", "cifar tar.gz", "cifar", {"cifar-10-python.tar.gz": truncate(tgz, self.rng)}, whole)
        for _ in range(self.n(50)):
            self.add("bit flips", "cifar tar.gz", "cifar", {"cifar-10-python.tar.gz": flip(tgz, self.rng)}, good)
        for _ in range(self.n(40)):
            self.add("random bytes", "cifar batch", "cifar",
                     _cifar_tree(seeds["py3 p2"], {"data_batch_3": random_bytes(self.rng, b"\x80\x02")}), whole)
        files = seeds["py2 cPickle p2"]
        for label, blob in hostile_pickles():
            self.add("hostile pickles", label, "cifar", _cifar_tree(files, {"data_batch_1": blob}), "marker")
        empty = df.cifar_batch(3, 1)
        empty[b"batch_label"] = b""
        self.add("valid files", "py3 p2 pickle holding b''", "cifar",
                 _cifar_tree(seeds["py3 p2"], {"data_batch_1": pickle.dumps(empty, 2)}), valid)
        for protocol in range(6):
            self.add("valid files", f"py3 protocol {protocol}", "cifar",
                     _cifar_tree(df.cifar_files(3, protocol=protocol)), valid)

    # ImageFolder: archives
    def archives(self):
        files, data, targets = df.png_tree()
        names = sorted(files)
        for kind, prefix in (("tar", "train/"), ("tar.gz", ""), ("zip", "train/")):
            blob = df.zip_bytes(files, prefix) if kind == "zip" else df.tar_bytes(files, prefix, kind == "tar.gz")
            good = "identical=" + digest(data, targets, [prefix + n for n in names])
            name = f"images.{kind}"
            self.add("valid files", kind, "imagefolder:" + name, {name: blob}, "load=" + good[10:])
            for _ in range(self.n(50)):
                self.add("truncations", kind, "imagefolder:" + name, {name: truncate(blob, self.rng)}, good)
            for _ in range(self.n(300 if kind != "tar.gz" else 200)):
                self.add("bit flips", kind, "imagefolder:" + name, {name: flip(blob, self.rng)}, good)
            for _ in range(self.n(20)):
                magic = {"tar": b"", "tar.gz": b"\x1f\x8b", "zip": b"PK\x03\x04"}[kind]
                self.add("random bytes", kind, "imagefolder:" + name, {name: random_bytes(self.rng, magic)}, "error")
        for label, name, blob, oracle in crafted_archives(files, good_digest=digest(data, targets, names)):
            self.add("crafted archives", label, "imagefolder:" + name, {name: blob}, oracle)
        self.add("bombs", "tar.gz: a 1 GB member in 1 MB", "imagefolder:b.tar.gz",
                 {"b.tar.gz": df.tar_gz_bomb("cat/0.png", 1024)}, "error")
        self.add("bombs", "zip: a 1 GB member in 1 MB", "imagefolder:b.zip", {"b.zip": df.zip_bomb("cat/0.png", 1024)},
                 "error")

    # ImageFolder: single images
    def images(self):
        rng = np.random.default_rng(3)
        smooth = np.stack(np.mgrid[0:16, 0:16], 2).sum(2, keepdims=True).repeat(3, 2).astype(np.uint8) * 7
        for fmt, ext in (("PNG", "png"), ("JPEG", "jpg"), ("GIF", "gif"), ("BMP", "bmp"), ("WEBP", "webp")):
            a = smooth if fmt == "JPEG" else rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
            blob = df.encode(a, fmt)
            exact = fmt == "PNG"
            good = digest(np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"))[None], [0], [f"cat/x.{ext}"])
            oracle = "identical=" + good if exact else "complete=(1,"
            self.add("valid files", f"{fmt} image", "imagefolder", {f"cat/x.{ext}": blob}, "load=" + good)
            for _ in range(self.n(20)):
                self.add("truncations", f"{fmt} image", "imagefolder", {f"cat/x.{ext}": truncate(blob, self.rng)},
                         oracle)
            for _ in range(self.n(70)):
                self.add("bit flips", f"{fmt} image", "imagefolder", {f"cat/x.{ext}": flip(blob, self.rng)}, oracle)
            for _ in range(self.n(8)):
                self.add("random bytes", f"{fmt} image", "imagefolder", {f"cat/x.{ext}": random_bytes(self.rng)},
                         "complete=(1,")
        self.add("bombs", "PNG declaring 9000 x 9000 pixels", "imagefolder", {"cat/x.png": df.png_declaring(9000, 9000)},
                 "error")
        self.add("bombs", "PNG declaring 30000 x 30000 pixels", "imagefolder",
                 {"cat/x.png": df.png_declaring(30000, 30000)}, "error")
        eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n"
        self.add("crafted archives", "PostScript named x.png", "imagefolder", {"cat/x.png": eps}, "error")

    # special files in folders
    def specials(self):
        files, data, targets = df.png_tree()
        good = "load=" + digest(data, targets, sorted(files))
        link, fifo, mkdir = _link, _fifo, _mkdir
        cases = [
            ("FIFO named cat/x.png", [fifo("cat/x.png")], good),
            ("/dev/zero behind cat/z.png", [link("cat/z.png", "/dev/zero")], good),
            ("broken link cat/b.png", [link("cat/b.png", "missing.png")], "error"),
            ("broken link in a hidden folder", [mkdir(".git"), link(".git/b.png", "missing.png")], good),
            ("link loop cat/l.png -> itself", [link("cat/l.png", "l.png")], "error"),
            ("folder loop cat/up -> ..", [link("cat/up", "..")], "identical=" + good[5:]),
            ("folder named cat/d.png", [mkdir("cat/d.png")], good),
        ]
        for label, makes, oracle in cases:
            self.add("special files", label, "imagefolder", files, oracle, makes)
        self.add("special files", "non-UTF-8 file name", "imagefolder", files, "error",
                 [lambda d: (Path(os.fsdecode(bytes(d) + b"/cat/\xff\xfe.png"))).write_bytes(files["cat/0.png"])])
        batches = df.py2_cifar_files(3)
        for label, make in (("FIFO as data_batch_1", fifo("cifar-10-batches-py/data_batch_1")),
                            ("/dev/zero as data_batch_1", link("cifar-10-batches-py/data_batch_1", "/dev/zero")),
                            ("broken link as data_batch_1", link("cifar-10-batches-py/data_batch_1", "nowhere"))):
            tree_files = {k: v for k, v in _cifar_tree(batches).items() if not k.endswith("data_batch_1")}
            self.add("special files", label, "cifar", tree_files, "error", [make])
        for label, make in (("/dev/zero as cifar-10-python.tar.gz", link("cifar-10-python.tar.gz", "/dev/zero")),
                            ("FIFO as images.tar", fifo("images.tar"))):
            reader = "cifar" if "cifar" in label else "imagefolder:images.tar"
            self.add("special files", label, reader, {}, "error", [make])

    # the ImageFolder decode cache
    def cache(self):
        files, data, targets = df.png_tree()
        good = "load=" + digest(data, targets, sorted(files))
        for _ in range(self.n(40)):
            self.add("damaged caches", "truncated", f"cache:truncate:{self.rng.random()}", files, good)
        for _ in range(self.n(250)):
            self.add("damaged caches", "bit flip", f"cache:flip:{self.rng.random()}:{self.rng.randrange(8)}", files,
                     good)


def _link(rel, target):
    """A maker of the symbolic link ``rel`` -> ``target`` in a case folder."""
    return lambda folder: os.symlink(target, folder / rel)


def _fifo(rel):
    return lambda folder: os.mkfifo(folder / rel)


def _mkdir(rel):
    return lambda folder: (folder / rel).mkdir(parents=True, exist_ok=True)


def _cifar_tree(files, replace=None):
    out = {f"cifar-10-batches-py/{k}": v for k, v in files.items()}
    for k, v in (replace or {}).items():
        out[f"cifar-10-batches-py/{k}"] = v
    return out


MARKER = "PWNED"


class _Reduce:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def hostile_pickles():
    """[(label, pickle bytes)]: code-running payloads (each would create the file MARKER in the
    current folder), allocation bombs, forbidden opcodes and unsafe arrays."""
    touch = f"touch {MARKER}"
    payloads = {"os.system": (os.system, (touch,)),
                "subprocess.call": (subprocess.call, (["touch", MARKER],)),
                "builtins.eval": (eval, (f"open({MARKER!r}, 'w')",)),
                "builtins.exec": (exec, (f"open({MARKER!r}, 'w')",)),
                "builtins.open": (open, (MARKER, "w"))}
    out = []
    for name, (func, args) in payloads.items():
        for protocol in range(6):
            evil = _Reduce(func, args)
            out.append((f"__reduce__ -> {name}, protocol {protocol}, as the batch",
                        pickle.dumps(evil, protocol)))
            out.append((f"__reduce__ -> {name}, protocol {protocol}, as 'data'",
                        pickle.dumps({b"data": evil, b"labels": [0, 1, 2]}, protocol)))
    t = touch.encode()
    out += [
        ("INST os.system", b"(S'" + t + b"'\nios\nsystem\n."),
        ("OBJ os.system", b"(cos\nsystem\nS'" + t + b"'\no."),
        ("NEWOBJ builtins.object", b"\x80\x02cbuiltins\nobject\n)\x81."),
        ("NEWOBJ_EX builtins.object", b"\x80\x04cbuiltins\nobject\n)}\x92."),
        ("STACK_GLOBAL posix.system", b"\x80\x04\x8c\x05posix\x8c\x06system\x93\x8c" + bytes([len(t)]) + t + b"\x85R."),
        ("GLOBAL numpy.load", b"cnumpy\nload\n(S'x.npy'\ntR."),
        ("GLOBAL numpy.ndarray called", b"\x80\x02cnumpy\nndarray\nK\x05\x85R."),
        ("BUILD on a dtype: uint8 given an object dtype's flags", df.forged_flags_pickle()),
        ("object-dtype array with forged pointers (_reconstruct)", df.object_array_pickle()),
        ("object-dtype array (numpy, protocol 2)", pickle.dumps(np.array([1, "x"], dtype=object), 2)),
        ("object-dtype array (numpy, protocol 5)", pickle.dumps(np.array([1, "x"], dtype=object), 5)),
        ("structured dtype with an object field", pickle.dumps(np.zeros(2, [("a", "O"), ("b", "u1")]), 2)),
        ("EXT1 extension code", b"\x80\x02\x82\x01."),
        ("PERSID", b"Pfoo\n."),
        ("BINPERSID", b"\x80\x02X\x03\x00\x00\x00fooQ."),
        ("memo index 2**29 (LONG_BINPUT, 9 bytes)", b"\x80\x02Nr" + struct.pack("<I", 1 << 29) + b"."),
        ("memo index 10**9 (PUT)", b"Np1000000000\n."),
        ("BINBYTES8 declaring 2**40 bytes", b"\x80\x04\x8e" + struct.pack("<Q", 1 << 40) + b"xx."),
        ("BYTEARRAY8 declaring 2**40 bytes", b"\x80\x05\x96" + struct.pack("<Q", 1 << 40) + b"xx."),
        ("FRAME declaring 2**40 bytes", b"\x80\x04\x95" + struct.pack("<Q", 1 << 40) + b"N."),
        ("LONG4 declaring 2**31 bytes", b"\x80\x02\x8b" + struct.pack("<i", 2**31 - 1) + b"xx."),
        ("bytes(10**10) through __builtin__.bytes",
         b"\x80\x02c__builtin__\nbytes\n\x8a\x05" + (10**10).to_bytes(5, "little") + b"\x85R."),
        ("_codecs.encode with the zlib codec", b"\x80\x02c_codecs\nencode\nC\x01x\x8c\x04zlib\x86R."),
        ("numpy.dtype('V1000000000')", b"\x80\x02cnumpy\ndtype\nX\x0b\x00\x00\x00V1000000000\x85R."),
        ("77 bytes: _reconstruct of 300,000 images, no data", df.unfinished_array_pickle()),
        ("nested list of 10**9 labels (6 KB of opcodes)", df.nested_labels_pickle()),
        ("labels nested 100,000 lists deep", df.labels_pickle(b"]" * 100_000 + b"a" * 99_999)),
        ("trailing bytes after STOP", pickle.dumps(df.cifar_batch(3, 1), 2) + b"junk"),
    ]
    return out


def crafted_archives(files, good_digest):
    out = []
    plain = df.zip_bytes(files)
    enc = bytearray(plain)
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = enc.find(sig)
        enc[pos + flag_at] |= 1
    out.append(("zip member marked encrypted", "e.zip", bytes(enc), "error"))
    odd = bytearray(plain)
    for sig, method_at in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        pos = odd.find(sig)
        odd[pos + method_at:pos + method_at + 2] = struct.pack("<H", 99)
    out.append(("zip member with compression method 99", "m.zip", bytes(odd), "error"))
    longer = bytearray(plain)
    pos = longer.find(b"PK\x01\x02")
    longer[pos + 28] += 60  # the first directory entry's name length
    out.append(("zip directory with a corrupted name length", "n.zip", bytes(longer), "error"))
    fewer = bytearray(plain)
    pos = fewer.rfind(b"PK\x05\x06")
    size = struct.unpack_from("<I", fewer, pos + 12)[0]
    first = fewer.find(b"PK\x01\x02")
    entry = 46 + struct.unpack_from("<HHH", fewer, first + 28)[0] + sum(struct.unpack_from("<HH", fewer, first + 30))
    struct.pack_into("<I", fewer, pos + 12, size - entry)
    struct.pack_into("<I", fewer, pos + 16, first + entry)
    out.append(("zip end record skipping the first entry", "f.zip", bytes(fewer), "error"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as tar:
        for name, blob in list(files.items()) + [(os.fsdecode(b"cat/\xff.png"), files["cat/0.png"])]:
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    out.append(("tar member with a non-UTF-8 name", "u.tar", buf.getvalue(), "error"))
    whole = df.tar_bytes(files)
    member_end = len(whole.rstrip(b"\0")) + (-len(whole.rstrip(b"\0"))) % 512  # the last member's padded end
    out.append(("tar cut at a member boundary (no end marker)", "c.tar", whole[:member_end], "error"))
    out.append(("tar with a symlink member named x.png", "s.tar", _tar_with_symlink(files), "load=" + good_digest))
    return out


def _tar_with_symlink(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, blob in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
        info = tarfile.TarInfo("cat/x.png")
        info.type, info.linkname = tarfile.SYMTYPE, "/dev/zero"
        tar.addfile(info)
    return buf.getvalue()


# -- the worker ----------------------------------------------------------------------

def worker():
    """Reads cases (JSON lines) on stdin, answers one JSON line each."""
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    import warnings
    warnings.simplefilter("ignore")
    import datasets
    for line in sys.stdin:
        reader, folder = json.loads(line)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        os.chdir(folder)
        os.environ["NUMBACNN_CACHE"] = os.path.join(folder, "..", "cache-" + os.path.basename(folder))
        try:
            answer = {"status": "loaded", "digest": _run(datasets, reader, Path(folder))}
        except datasets.DatasetError as e:
            answer = {"status": "error", "message": str(e)}
        except BaseException as e:  # noqa: BLE001 - everything else is what the audit counts
            answer = {"status": "exception", "message": f"{type(e).__name__}: {e}"[:300]}
        answer["rss_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


def _run(datasets, reader, folder):
    if reader == "mnist":
        ds = datasets.MNIST(folder)
        return digest(ds.data, ds.targets)
    if reader == "cifar":
        ds = datasets.CIFAR10(folder)  # a flipped class name is just another name: not checked
        if len(ds.classes) != len(df.CIFAR_CLASSES) or ds.targets.min() < 0 or ds.targets.max() > 9:
            return "wrong number of classes or labels out of range"
        return digest(ds.data, ds.targets)
    if reader.startswith("imagefolder"):
        source = folder / reader.partition(":")[2] if ":" in reader else folder
        ds = datasets.ImageFolder(source)
        return digest(ds.data, ds.targets, [name for name, _ in ds.samples])
    _, damage, *args = reader.split(":")  # cache:flip:<where>:<bit> or cache:truncate:<where>
    datasets.ImageFolder(folder)
    (cache_file,) = Path(os.environ["NUMBACNN_CACHE"]).glob("*.npz")
    blob = bytearray(cache_file.read_bytes())
    at = int(float(args[0]) * len(blob))
    if damage == "flip":
        blob[at] ^= 1 << int(args[1])
    else:
        del blob[at:]
    cache_file.write_bytes(bytes(blob))
    ds = datasets.ImageFolder(folder)
    return digest(ds.data, ds.targets, [name for name, _ in ds.samples])


# -- the parent ----------------------------------------------------------------------

class Worker:
    def __init__(self, package_root):
        env = dict(os.environ, PYTHONPATH=str(package_root), OPENBLAS_NUM_THREADS="1", PYTHONHASHSEED="0")
        self.proc = subprocess.Popen([sys.executable, __file__, "--worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)

    def ask(self, reader, folder, timeout):
        """The worker's answer, or {"status": "crash"|"hang"} (the worker is then gone)."""
        self.proc.stdin.write(json.dumps([reader, folder]) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if line:
            return json.loads(line)
        if not ready:
            self.proc.kill()
            self.proc.wait()
            return {"status": "hang", "message": f"no answer in {timeout} s"}
        code = self.proc.wait()
        return {"status": "crash", "message": f"worker died with exit status {code}"}

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def judge(answer, oracle, folder):
    """None if handled cleanly, else why not."""
    status, (kind, _, expected) = answer["status"], oracle.partition("=")
    if status in ("crash", "hang", "exception"):
        return f"{status}: {answer['message']}"
    if answer["rss_mb"] > RSS_GROWTH_MB:
        return f"memory blow-up: peak resident memory grew by {answer['rss_mb']:.0f} MB"
    if kind == "marker" and os.path.exists(os.path.join(folder, MARKER)):
        return "a payload ran (its marker file exists)"
    if status == "error":
        if kind == "load":
            return f"a valid input refused: {answer['message'][:150]}"
        return None if folder in answer["message"] else f"error naming no file: {answer['message'][:150]}"
    if kind in ("load", "identical") and answer["digest"] == expected:
        return None
    if kind == "complete" and answer["digest"].startswith(expected):
        return None
    return f"loaded where {'an error' if kind in ('error', 'marker') else kind + ' ' + expected[:24]} was expected"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the number of random cases")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds before an input counts as a hang")
    parser.add_argument("--package-root", default=str(ROOT), help="checkout whose datasets package is audited")
    parser.add_argument("--verbose", action="store_true", help="print every input's outcome")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker()
    base = Path(tempfile.mkdtemp(prefix="audit_readers_"))
    try:
        corpus = Corpus(base, args.seed, args.scale)
        for build in (corpus.mnist, corpus.cifar, corpus.archives, corpus.images, corpus.specials, corpus.cache):
            build()
        tried, wrong, examples = defaultdict(int), defaultdict(int), defaultdict(list)
        started, proc = time.time(), Worker(args.package_root)
        for category, label, reader, folder, oracle in corpus.cases:
            answer = proc.ask(reader, folder, args.timeout)
            problem = judge(answer, oracle, folder)
            if args.verbose:
                print(f"{category} | {label} | {answer['status']} | {problem or 'ok'} | "
                      f"{answer.get('message', answer.get('digest', ''))[:160]}", flush=True)
            tried[category] += 1
            if problem:
                wrong[category] += 1
                examples[category].append(f"{label}: {problem}")
            if answer["status"] in ("crash", "hang") or answer.get("rss_mb", 0) > RSS_GROWTH_MB:
                proc = Worker(args.package_root)
        proc.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"datasets package: {Path(args.package_root).resolve()}/datasets; seed {args.seed}, "
          f"{sum(tried.values())} inputs in {time.time() - started:.0f} s\n")
    print("| category | inputs tried | handled cleanly | handled wrongly | first examples of wrong handling |")
    print("| --- | ---: | ---: | ---: | --- |")
    for category in tried:
        shown = "; ".join(examples[category][:3]).replace("|", "/")
        print(f"| {category} | {tried[category]} | {tried[category] - wrong[category]} | {wrong[category]} | {shown} |")
    print(f"| **all** | {sum(tried.values())} | {sum(tried.values()) - sum(wrong.values())} | "
          f"{sum(wrong.values())} | |")


if __name__ == "__main__":
    sys.exit(main())
