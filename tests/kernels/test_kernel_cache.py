"""The CPU kernels' Numba cache follows every source of the package, not only each kernel's
own file (engine/kernels/cpu/kernel_cache.py): a change in any source removes the cached
kernels once; unchanged sources keep them; other files are left alone."""
from engine.kernels.cpu import kernel_cache


def _package(tmp_path):
    pkg = tmp_path / "cpu"
    (pkg / "__pycache__").mkdir(parents=True)
    (pkg / "simd.py").write_text("def vmax(): pass\n")
    (pkg / "conv.py").write_text("def conv(): pass\n")
    return pkg


def _cached(pkg):
    for name in ("conv.conv-1.py311.nbi", "conv.conv-1.py311.1.nbc"):
        (pkg / "__pycache__" / name).write_bytes(b"compiled")
    (pkg / "__pycache__" / "conv.cpython-311.pyc").write_bytes(b"bytecode")


def _names(pkg):
    return sorted(p.name for p in (pkg / "__pycache__").iterdir())


def test_an_edit_to_any_source_removes_the_cached_kernels_once(tmp_path):
    pkg = _package(tmp_path)
    _cached(pkg)
    assert kernel_cache.sync(pkg)                    # nothing said which sources they came from
    assert _names(pkg) == ["conv.cpython-311.pyc", kernel_cache.STAMP]
    _cached(pkg)
    assert not kernel_cache.sync(pkg)                # the same sources: kept
    assert "conv.conv-1.py311.nbi" in _names(pkg)
    (pkg / "simd.py").write_text("def vmax(): return 1\n")   # a helper's file, not the kernel's
    assert kernel_cache.sync(pkg)
    assert _names(pkg) == ["conv.cpython-311.pyc", kernel_cache.STAMP]
    assert (pkg / "__pycache__" / kernel_cache.STAMP).read_text() == kernel_cache.fingerprint(pkg)

