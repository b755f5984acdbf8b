"""Shared widgets: curve plots, image grids, heat maps, the layer table."""
from .. import qtcompat  # noqa: F401  (PySide6 6.12.0 signal refcount fix, before any pyqtgraph signal)
