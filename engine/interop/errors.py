"""The one error of weight import and export."""


class WeightsError(ValueError):
    """A weights file that cannot be read or written, or weights that do not fit the
    model; the message is one sentence naming the file and what is wrong."""
