"""A PyTorch script -> the same script on numbacnn, by renaming its imports and nothing
else (the table of the README's "Coming from PyTorch"):

    import torch                         -> import engine as torch
    import torch.nn as nn                -> import engine.nn as nn   (any torch.X as Y)
    import torchvision                   -> import engine.vision as torchvision
    import torchvision.X as Y            -> import engine.vision.X as Y
    from torch(vision)[.X] import ...    -> from engine[.vision][.X] import ...
    import torch.backends.cudnn as cudnn -> (deleted)
"""
import re

_IMPORT = re.compile(r"^(\s*)import (torch|torchvision)((?:\.\w+)*)(?: as (\w+))?\s*$")
_FROM = re.compile(r"^(\s*)from (torch|torchvision)((?:\.\w+)*) import (.+)$")
_CUDNN = re.compile(r"^\s*import torch\.backends\.cudnn as cudnn\s*$")
_ENGINE = {"torch": "engine", "torchvision": "engine.vision"}


def rename_line(line: str) -> "str | None":
    """The numbacnn form of one line (None: the line is deleted)."""
    if _CUDNN.match(line):
        return None
    m = _IMPORT.match(line)
    if m:
        indent, top, rest, alias = m.groups()
        if alias is None and rest:
            raise ValueError(f"cannot rename {line.strip()!r}: write 'import {top}{rest} as NAME'")
        return f"{indent}import {_ENGINE[top]}{rest} as {alias or top}"
    m = _FROM.match(line)
    if m:
        indent, top, rest, names = m.groups()
        return f"{indent}from {_ENGINE[top]}{rest} import {names}"
    return line


def rename_imports(source: str) -> str:
    """``source`` with every torch/torchvision import renamed (see the module docstring)."""
    lines = (rename_line(line) for line in source.splitlines())
    return "\n".join(line for line in lines if line is not None) + "\n"
