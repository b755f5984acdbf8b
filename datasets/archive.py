"""Image files from a folder tree or a .tar / .tar.gz / .zip of one, and the
strict tar reading that CIFAR-10's archive shares.

Nothing is loaded partially without a word: a tar must end in its
end-of-archive marker, a zip's directory must list as many entries as its
end record declares and every member's local header must agree with it,
and the member sizes an archive declares are checked against the archive's
own size (``limits.inflate_limit``) before anything is read.
"""

import io
import lzma
import os
import stat
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

from . import limits
from .errors import DatasetError
from .files import GZIP_MAGIC, gunzip, printable, read_file, reason

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".zip")

# what the tar and zip modules raise for a damaged archive: UnicodeError is a ValueError;
# RuntimeError covers an encrypted zip member, NotImplementedError (an unknown compression
# method) and RecursionError (a long chain of GNU long-name headers)
_ARCHIVE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, ValueError, OverflowError,
                   RuntimeError, zlib.error, lzma.LZMAError)


def is_archive(path):
    return Path(path).name.lower().endswith(ARCHIVE_SUFFIXES)


def _clean(name):
    """An archive member name without empty or "." components."""
    return "/".join(p for p in name.replace("\\", "/").split("/") if p not in ("", "."))


def _wanted(name):
    """An image file, not hidden and not macOS resource-fork litter."""
    return (name.lower().endswith(IMAGE_EXTENSIONS)
            and not any(p.startswith(".") or p == "__MACOSX" for p in name.split("/")))


def _check_name(name, where):
    """Raise DatasetError unless the file name ``name`` is valid UTF-8."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise DatasetError(f"{printable(where)}: the file name is not valid UTF-8") from None


def folder_images(folder):
    """[(relative name with '/' separators, path, os.stat_result)] of the
    image files under ``folder``, sorted by name.

    Hidden entries (names starting with ".") are never looked at. Symbolic
    links are followed; one that leads back to a folder above it is refused
    as a loop. What is neither a regular file nor a folder (a FIFO, a device
    such as /dev/zero, a socket) is skipped. DatasetError names an image
    that cannot be reached (a broken link, a link loop), an image whose name
    is not UTF-8, and a folder that cannot be listed.
    """
    folder = Path(folder)
    try:
        top = os.stat(folder)
    except OSError as e:
        raise DatasetError(f"{printable(folder)}: cannot be read ({reason(e, folder)})") from None
    out, stack = [], [(folder, "", ((top.st_dev, top.st_ino),))]
    while stack:
        path, rel, ancestors = stack.pop()
        try:
            with os.scandir(path) as it:
                entries = list(it)
        except OSError as e:
            raise DatasetError(f"{printable(path)}: cannot be listed ({reason(e, path)})") from None
        for entry in entries:
            if entry.name.startswith("."):
                continue
            name = rel + entry.name
            try:
                st = os.stat(entry.path)
            except OSError as e:
                if _wanted(name):
                    raise DatasetError(f"{printable(entry.path)}: cannot be read ({reason(e, entry.path)})") from None
                continue
            if stat.S_ISDIR(st.st_mode):
                if (st.st_dev, st.st_ino) in ancestors:
                    raise DatasetError(f"{printable(entry.path)}: a symbolic link loop (leads back to a folder "
                                       f"that holds it)")
                stack.append((entry.path, name + "/", ancestors + ((st.st_dev, st.st_ino),)))
            elif stat.S_ISREG(st.st_mode) and _wanted(name):
                _check_name(name, entry.path)
                out.append((name, Path(entry.path), st))
    out.sort(key=lambda item: item[0])
    return out


def open_tar(blob, path):
    """(TarFile over an in-memory copy, the list of its members) for the tar
    bytes ``blob`` (gzipped or not) of the file ``path``.

    Every header is read and what follows the last member must be the
    end-of-archive marker (zero blocks): the tar module silently stops at a
    damaged header or at a truncation, which here raises DatasetError. A
    gzipped tar is inflated in memory first (at most
    ``limits.inflate_limit`` bytes): tarfile reads members through gzip
    twice as slowly, and the members are held anyway.
    """
    raw = gunzip(blob, path, limits.inflate_limit(len(blob))) if blob[:2] == GZIP_MAGIC else blob
    try:
        tar = tarfile.open(fileobj=io.BytesIO(raw), mode="r:")
        members = tar.getmembers()
    except _ARCHIVE_ERRORS as e:
        raise DatasetError(f"{printable(path)}: not a readable tar archive ({type(e).__name__}: {e})") from None
    end = tar.offset
    if len(raw) - end < tarfile.BLOCKSIZE or raw[end:].strip(b"\0"):
        where = f"after {members[-1].name!r}" if members else "at its start"
        raise DatasetError(f"{printable(path)}: damaged or truncated tar archive (no valid header or "
                           f"end-of-archive marker at byte {end:,}, {where})")
    declared = sum(m.size for m in members if m.isfile())
    if declared > limits.inflate_limit(len(blob)):
        raise DatasetError(f"{printable(path)}: its members declare {declared:,} bytes, more than a "
                           f"{len(blob):,}-byte archive can plausibly hold")
    return tar, members


def read_member(tar, member, path):
    """The bytes of the tar ``member`` of the archive file ``path``."""
    try:
        return tar.extractfile(member).read()
    except _ARCHIVE_ERRORS as e:
        raise DatasetError(f"{printable(path)}: {printable(member.name)} cannot be read "
                           f"({type(e).__name__}: {e})") from None


def _zip_entry_count(blob):
    """How many entries the end-of-central-directory record of the zip bytes
    ``blob`` declares (its zip64 record's count where there is one); found
    the way the zipfile module finds it."""
    end = blob.rfind(b"PK\x05\x06", max(0, len(blob) - 22 - 65535))
    count = struct.unpack_from("<H", blob, end + 10)[0]
    record = end - 20 - 56
    if record >= 0 and blob[end - 20:end - 16] == b"PK\x06\x07" and blob[record:record + 4] == b"PK\x06\x06":
        count = struct.unpack_from("<Q", blob, record + 32)[0]
    return count


class ImageFiles:
    """The image files under a folder or in a .tar/.tar.gz/.tgz/.zip archive.

    ``names``: their relative names ('/' separators, no "." components),
    sorted; ``read(name)``: the bytes of one. Use as a context manager.
    Files are read one at a time, so a folder is never held in memory whole.
    """

    def __init__(self, source):
        self.source = Path(source)
        self._members = {}
        self._zip = self._tar = None
        if self.source.is_dir():
            self._members = {name: path for name, path, _ in folder_images(self.source)}
        elif not is_archive(self.source):
            raise DatasetError(f"{printable(source)}: not a folder or a {', '.join(ARCHIVE_SUFFIXES)} archive")
        elif self.source.name.lower().endswith(".zip"):
            self._open_zip(read_file(self.source))
        else:
            self._tar, members = open_tar(read_file(self.source), self.source)
            self._members = {_clean(m.name): m for m in members if m.isfile() and _wanted(_clean(m.name))}
            for name in self._members:  # tar names are bytes, decoded with surrogate escapes
                _check_name(name, f"{self.source}: {name}")
        self.names = sorted(self._members)

    def _open_zip(self, blob):
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(blob))
            infos = self._zip.infolist()
            declared = _zip_entry_count(blob)
        except _ARCHIVE_ERRORS as e:
            raise DatasetError(f"{printable(self.source)}: not a readable zip archive ({type(e).__name__}: {e})") from None
        if len(infos) != declared:
            raise DatasetError(f"{printable(self.source)}: damaged zip archive (its directory lists {len(infos)} "
                               f"entries, its end record declares {declared})")
        size = sum(i.file_size for i in infos)
        if size > limits.inflate_limit(len(blob)):
            raise DatasetError(f"{printable(self.source)}: its members declare {size:,} bytes, more than a "
                               f"{len(blob):,}-byte archive can plausibly hold")
        for info in infos:  # every local header must agree with the directory (name, method, encryption)
            self._zip_member(info, read=False)
        # every entry but a folder is a file, as zipfile extracts it (Unix mode bits are not trusted)
        self._members = {_clean(i.filename): i for i in infos if not i.is_dir() and _wanted(_clean(i.filename))}

    def _zip_member(self, info, read=True):
        """The bytes of the zip member ``info``, checked against its CRC-32;
        with ``read=False`` only its local header is checked (b'')."""
        try:
            with self._zip.open(info) as f:
                return f.read() if read else b""
        except _ARCHIVE_ERRORS as e:
            raise DatasetError(f"{printable(self.source)}: {printable(info.filename)} cannot be read "
                               f"({type(e).__name__}: {e})") from None

    def read(self, name):
        """The bytes of the image file ``name``."""
        member = self._members[name]
        if self._tar is not None:
            return read_member(self._tar, member, self.source)
        if self._zip is None:
            return read_file(member)
        return self._zip_member(member)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for handle in (self._zip, self._tar):
            if handle is not None:
                handle.close()
