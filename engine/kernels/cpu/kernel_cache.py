"""Numba's on-disk cache of the CPU kernels, kept in step with all of their sources.

Numba checks a cached kernel against its own file's modification time and size only, but
the kernels inline helpers and SIMD intrinsics from other files of this package
(:mod:`.simd`, :mod:`.vmath`). After an edit or a ``git pull`` that changed only those, a
process loaded the old compiled code: seen when ``simd.vmax`` changed and the fused
convolution + ReLU kept its old behaviour until ``conv_direct.py`` itself was touched.

:func:`sync` (run when the kernel set is imported, before any kernel is called or loaded)
fingerprints the package's sources and, when the fingerprint differs from the one stored
beside the cache, removes the package's cache files, so each kernel compiles once more
and is cached again. It looks after the cache Numba keeps in the package's
``__pycache__`` (a clone or an editable install); a read-only install caches elsewhere,
and an upgrade there rewrites every source file, which Numba's own check sees.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

STAMP = "numbacnn-kernel-sources.sha1"
_CACHE_SUFFIXES = (".nbi", ".nbc")


def fingerprint(package: Path) -> str:
    """SHA-1 of the package's ``*.py`` files, names and contents, in name order."""
    h = hashlib.sha1()
    for path in sorted(package.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def sync(package: Path = Path(__file__).resolve().parent) -> bool:
    """Removes the cached kernels in ``package/__pycache__`` when the sources changed since
    they were cached (or nothing says which sources they came from); returns whether it
    removed any. Does nothing where the cache directory cannot be written."""
    cache = package / "__pycache__"
    stamp = cache / STAMP
    now = fingerprint(package)
    try:
        if stamp.read_text() == now:
            return False
    except OSError:
        pass
    if not os.access(cache if cache.is_dir() else package, os.W_OK):
        return False
    removed = False
    for path in cache.glob("*"):
        if path.suffix in _CACHE_SUFFIXES:
            try:
                path.unlink()
                removed = True
            except OSError:          # gone already (another process starting at the same time)
                pass
    tmp = cache / f"{STAMP}.{os.getpid()}.tmp"
    try:
        cache.mkdir(exist_ok=True)
        tmp.write_text(now)
        os.replace(tmp, stamp)
    except OSError:                  # a full disk: the next start removes them again
        pass
    return removed
