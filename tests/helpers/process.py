"""Test helper for child processes: the environment in which a child Python imports this
checkout's engine and the test helpers (the repository and tests/ on PYTHONPATH)."""
import os
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent


def child_env(**extra) -> dict:
    """os.environ plus ``extra``, with the repository and tests/ first on PYTHONPATH."""
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(TESTS)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH")
                                                                      else []))
    return env
