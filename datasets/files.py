"""Reading dataset files without surprises: regular files only, opened
without blocking, sizes bounded, gzip inflated with a cap and CRC-checked."""

import errno
import os
import stat
import tempfile
import zlib
from pathlib import Path

from . import limits
from .errors import DatasetError

GZIP_MAGIC = b"\x1f\x8b"


def printable(name):
    """``name`` (a str or path) with any undecodable bytes of a non-UTF-8
    file name written as escapes, so a message naming it can be printed."""
    return str(name).encode("utf-8", "backslashreplace").decode("utf-8")


def reason(error, path):
    """Why the OSError ``error`` happened to ``path``, in words."""
    if error.errno == errno.ENOENT and os.path.islink(path):
        return "a broken symbolic link"
    if error.errno == errno.ELOOP:
        return "a symbolic link loop"
    return error.strerror or str(error)


def open_regular(path, limit=limits.MAX_FILE_BYTES):
    """(binary file object, size) of the regular file ``path`` (symbolic links followed).

    Raises DatasetError naming ``path`` when it cannot be opened (missing, a
    broken link, a link loop, no permission), is not a regular file (a
    folder, a FIFO, a device such as /dev/zero) or holds more than ``limit``
    bytes (None: any size). The file is opened non-blocking, so a FIFO cannot hang the reader.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as e:
        raise DatasetError(f"{printable(path)}: cannot be read ({reason(e, path)})") from None
    f = os.fdopen(fd, "rb")
    st = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(st.st_mode):
        problem = f"is {'a folder' if stat.S_ISDIR(st.st_mode) else 'a FIFO, device or socket'}, not a regular file"
    elif limit is not None and st.st_size > limit:
        problem = f"{st.st_size:,} bytes, more than the {limit:,} a dataset file may have"
    if problem:
        f.close()
        raise DatasetError(f"{printable(path)}: {problem}")
    return f, st.st_size


def read_file(path, limit=limits.MAX_FILE_BYTES):
    """The bytes of the regular file ``path``; DatasetError as ``open_regular`` says."""
    f, size = open_regular(path, limit)
    with f:
        try:
            return f.read(size)
        except OSError as e:
            raise DatasetError(f"{printable(path)}: cannot be read ({reason(e, path)})") from None


def gunzip(blob, path, limit, head=False):
    """The bytes the gzip data ``blob`` (of file ``path``) holds: every
    member, concatenated, each checked against its CRC-32 and length.

    Inflates at most ``limit`` bytes: a stream holding more raises
    DatasetError naming ``path`` -- unless ``head``, where the first
    ``limit`` bytes are what is wanted (a header) and are returned as soon
    as they are out. Zero bytes after the last member (padding) are ignored.
    """
    out, size, data = [], 0, blob
    try:
        while data:
            stream = zlib.decompressobj(wbits=31)  # gzip wrapper, checks CRC and length
            while not stream.eof:
                chunk = stream.decompress(data, limit + 1 - size)  # max_length >= 1 here
                data = stream.unconsumed_tail
                out.append(chunk)
                size += len(chunk)
                if size > limit or (head and size >= limit):
                    if head:
                        return b"".join(out)[:limit]
                    raise DatasetError(f"{printable(path)}: inflates to more than {limit:,} bytes "
                                       f"(a decompression bomb, or data after what the header declares)")
                if not chunk and not data:
                    raise DatasetError(f"{printable(path)}: broken gzip stream (truncated)")
            data = stream.unused_data
            if not data.strip(b"\0"):
                break
    except zlib.error as e:
        raise DatasetError(f"{printable(path)}: broken gzip stream ({e})") from None
    return b"".join(out)


def write_atomic(path, write, replace=True):
    """Calls ``write(fileobj)`` on a temporary file beside ``path`` (its
    folder made if missing), syncs it and moves it to ``path``: over what is
    there when ``replace``, else only where nothing is (FileExistsError
    otherwise, the existing file untouched). ``path`` is whole or as it was;
    the temporary file never stays. OSError when the folder is not writable."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            _move_new(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _move_new(tmp, path):
    """Moves ``tmp`` to ``path`` where no ``path`` exists: a hard link, which
    fails rather than replace; on a file system without hard links, a rename
    after a check."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "File exists", str(path)) from None
        os.replace(tmp, path)
