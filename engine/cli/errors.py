"""How the command line ends: a user's mistake in one line on stderr and exit status 2,
a bug in one line and status 1 (``--traceback`` shows it whole); in a distributed run,
every rank ends with the status of the one that failed."""
from __future__ import annotations

import datasets

from ..bench import BenchError
from ..distributed.launch import end_job
from ..errors import ShapeError, first_line
from ..interop import WeightsError
from ..onnx import ExportError
from ..train.checkpoint import CheckpointError
from ..train.recipe import RecipeError

PROG = "numbacnn"


class UserError(Exception):
    """A mistake on the command line; printed as one line, exit status 2."""


# errors whose first line is already what the user needs to read
_ONE_LINE = (UserError, RecipeError, CheckpointError, datasets.DatasetError, ShapeError, WeightsError, ExportError,
             BenchError)


def user_message(e: BaseException) -> str | None:
    """The one-line message of an error a user can cause, or None for a bug."""
    if isinstance(e, _ONE_LINE):
        return first_line(e)
    if isinstance(e, (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)):
        return f"{e.strerror}: {e.filename}" if e.filename else first_line(e)
    if isinstance(e, MemoryError):
        return "out of memory: try a smaller --batch-size"
    return None


def finish(code: int) -> int:
    """``code``; in a distributed run, after ending every rank with it (the others would
    wait for this one for ever)."""
    end_job(code)
    return code
