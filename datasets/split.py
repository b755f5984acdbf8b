"""The fixed train/validation split of a dataset that has no official test split."""

import numpy as np

HOLDOUT_FRACTION = 0.1


def holdout(dataset, train, fraction=HOLDOUT_FRACTION, seed=None):
    """A fixed, deterministic train/validation split of ``dataset``.

    Within each class, ``round(fraction * n_class)`` samples (at least one
    when the class has two or more) are the validation part
    (``train=False``), the rest the training part. seed None: the last ones
    in the dataset's order (sorted file names for an ImageFolder), each part
    in that order. seed an int: a draw of that seed within each class, and
    each part in an order drawn with it (so its first N images mix the
    classes). The same files and seed always land on the same side.
    """
    targets = np.asarray(dataset.targets)
    rng = None if seed is None else np.random.default_rng(seed)
    held = np.zeros(len(targets), bool)
    for c in np.unique(targets):
        members = np.flatnonzero(targets == c)
        k = held_count(len(members), fraction)
        if rng is not None:
            members = rng.permutation(members)
        held[members[len(members) - k:]] = True
    keep = np.flatnonzero(~held if train else held)
    part = "training" if train else "validation"
    if rng is None:
        which = f"the last {fraction:.0%} of each class's files are validation"
    else:
        keep = rng.permutation(keep)
        which = f"{fraction:.0%} of each class's files, drawn with seed {seed}, are validation"
    note = f"{part} part of a fixed per-class hold-out: {which} ({len(keep):,} of {len(targets):,} images)"
    return dataset.select(keep, note)


def held_count(n, fraction):
    """How many of a class's ``n`` samples ``holdout`` holds out: ``round(fraction * n)``,
    at least one when the class has two or more."""
    k = int(round(fraction * n))
    return max(k, 1) if n >= 2 else k
