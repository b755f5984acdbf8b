"""Argument types of the command line, and its parser: one sub-command per command
module, each adding its own (``add_parser(subparsers)``)."""
from __future__ import annotations

import argparse

from .errors import UserError


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are UserErrors (one line, exit status 2)."""

    def error(self, message):
        raise UserError(f"{self.prog}: {message} (see {self.prog} --help)")


def int_at_least(minimum: int):
    """An argparse type: a whole number >= minimum."""
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"must be {'at least 1' if minimum == 1 else '0 or more'}, got {v}")
        return v
    return parse


positive_int = int_at_least(1)
nonneg_int = int_at_least(0)


def nonneg_float(text):
    """An argparse type: a finite number >= 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not v >= 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return v


def fraction(text):
    """An argparse type: a number in [0, 1)."""
    v = nonneg_float(text)
    if v >= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return v


def size(text):
    """An argparse type: N or HxW, as [H, W]."""
    try:
        dims = tuple(int(d) for d in str(text).lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or HxW, got {text!r}") from None
    if len(dims) == 1:
        dims = dims * 2
    if len(dims) != 2 or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"expected N or HxW, got {text!r}")
    return list(dims)


def shape(text):
    """An argparse type: CxHxW (or HxW, one channel), as a tuple."""
    try:
        dims = tuple(int(d) for d in text.lower().replace(",", "x").split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected CxHxW such as 3x32x32, got {text!r}") from None
    if len(dims) == 2:
        dims = (1,) + dims
    if len(dims) != 3 or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"expected CxHxW such as 3x32x32, got {text!r}")
    return dims
