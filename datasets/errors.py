"""The errors and warnings the dataset readers raise."""


class DatasetError(ValueError):
    """A dataset is missing or broken; the message names the file and what is wrong."""


class ChecksumWarning(UserWarning):
    """A dataset file differs from the official one but is structurally valid
    (re-encoded copies are legitimate), so it is loaded anyway."""
