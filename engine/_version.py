"""The engine's version, in one place (the package and its checkpoints read it here)."""
__version__ = "0.1.0"
