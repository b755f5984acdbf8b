"""``python -m engine``: the numbacnn command line (engine/cli/)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
