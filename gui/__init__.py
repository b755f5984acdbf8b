"""numbacnn studio: the PySide6 + pyqtgraph desktop trainer (``python -m gui``,
``numbacnn-studio``).

``state`` (the Qt-free app state the views observe), ``worker`` (the one engine
thread and its Qt bridge), ``backend`` and ``modelspec`` (Qt-free glue to the engine),
``app`` (the main window), ``panels`` (one file per tab) and ``widgets`` (plots, image
grids, heat maps, the layer table).
"""
