"""Where datasets live when no root is given."""

import os
from pathlib import Path


def default_root(root=None):
    """The data root: ``root`` if given, else ``$NUMBACNN_DATA``, else ``./data``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("NUMBACNN_DATA")
    return Path(env).expanduser() if env else Path("data")
