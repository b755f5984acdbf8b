"""Errors shared by every level of the engine, from the kernels up.

Kernels raise :class:`ShapeError` when an argument has the wrong shape, dtype, layout
or size; layers raise it for inputs they cannot take; containers and module calls add
the layer's name on the way out (``within``), so the user reads which layer it was.
"""
from __future__ import annotations


class ShapeError(ValueError):
    """An input a layer or kernel cannot take; ``path`` names the layer inside its model."""

    def __init__(self, message: str, path: tuple[str, ...] = ()):
        super().__init__(message)
        self.message = message
        self.path = path

    def within(self, name: str) -> "ShapeError":
        return ShapeError(self.message, (name,) + self.path)

    def __str__(self) -> str:
        return f"layer '{'.'.join(self.path)}': {self.message}" if self.path else self.message


QUOTE_LIMIT = 300   # characters of a foreign exception's line a message quotes (a hostile file's can be huge)


def first_line(e: BaseException, limit: int | None = None) -> str:
    """The first line of an exception's message (cut at ``limit`` characters; QUOTE_LIMIT
    where a message quotes what a library said about a hostile file), or its type's name
    when it has none."""
    lines = str(e).strip().splitlines()
    return lines[0][:limit] if lines else type(e).__name__


def one_line(e: BaseException) -> str:
    """An unexpected exception in one line: "TypeName: first line of its message"."""
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__
