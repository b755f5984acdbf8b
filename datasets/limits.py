"""How much memory a dataset file may make the readers allocate.

Every size a file declares (an IDX header, a zip directory, a tar header, a
pickled array, an image header) is checked against the file and against
these limits before anything is allocated, so a small file cannot make a
reader ask for gigabytes. Tests and unusual datasets may change them.
"""

import os

MAX_FILE_BYTES = 2 << 30
"""No single dataset file (IDX, pickle, image, archive) is read beyond this size."""

INFLATE_RATIO = 100
"""A compressed stream (gzip, a zip member) may inflate to at most this many
times the size of the file that holds it (real datasets: about 5) ..."""

INFLATE_FLOOR = 16 << 20
"""... or to this many bytes, whichever is more (small archives pad to 10 KiB records)."""

MAX_IMAGE_PIXELS = 1 << 26
"""Pixels one image may have (8192 x 8192); larger ones are refused as decompression bombs."""


def inflate_limit(compressed_bytes):
    """The most bytes a compressed file of ``compressed_bytes`` may inflate to."""
    return max(INFLATE_FLOOR, INFLATE_RATIO * compressed_bytes)


def decoded_budget():
    """The most bytes the decoded images of one dataset may take: a quarter
    of the machine's physical memory (8 GiB where that is unknown), so that
    the decoded list and the stacked array fit together."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows) or no such name
        return 8 << 30
