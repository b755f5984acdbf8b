"""DataLoader: batches (x, y) from a dataset, with batch-wise transforms.

Fast path: when the dataset (seen through any Subsets) exposes ``data``
(uint8 (N, H, W) or (N, H, W, C)) and ``targets``, and its ``transform`` and
the loader's ``transform`` are made of batch transforms, each batch is
gathered from ``data`` by index and transformed in one fused pass
(``transforms.run``). Otherwise samples come from ``dataset[i]`` one by one
and are stacked (the loader's ``transform`` then runs on the stacked batch).

Determinism: batch ``b`` of epoch ``e`` is a pure function of
(``seed``, ``e``, ``b``): the shuffle order comes from
``SeedSequence(seed, spawn_key=(e, 0))`` and the batch's random transform
parameters from ``SeedSequence(seed, spawn_key=(e, b + 1))``. So any
``num_workers`` gives the same batches, and ``state_dict`` /
``load_state_dict`` resume a run exactly.
"""

import collections
import itertools
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..autograd import Tensor, random
from .batch import Batch
from .subset import Subset
from .transforms import batch_steps, random_context, run

PREFETCH_PER_WORKER = 2  # runs of batches queued or in the making, per worker thread
IMAGES_PER_TASK = 512


class DataLoader:
    """Iterate over ``dataset`` in batches ``(x, y)``.

    x: float32 (N, C, H, W), contiguous (MNIST gives N x 1 x 28 x 28);
    y: int64 (N,); both :class:`~engine.autograd.Tensor` (``np.asarray`` gives
    the arrays). Images still uint8 after the transforms are converted as
    ToTensor would. With a user callable in the dataset's transform, x is
    whatever its outputs stack to (as float32).

    batch_size: samples per batch; shuffle: a new permutation every epoch;
    num_workers: background threads that prepare batches ahead (0: in the
    calling thread); drop_last: drop a final short batch; seed: int for
    reproducible shuffling and augmentation (None: drawn from the engine's
    generator, so ``engine.manual_seed`` makes a run repeat);
    collate_fn: a function of the list of samples that makes the batch (then
    the loader yields what it returns); pin_memory, timeout,
    persistent_workers and prefetch_factor are accepted (threads need none of
    them); worker_init_fn and generator are refused;
    transform: a batch transform (or Compose, or a callable taking the
    stacked batch) applied after the dataset's own ``transform``;
    sampler: what orders the samples instead of ``shuffle`` (an iterable of
    dataset indices with ``len``, e.g. a DistributedSampler, whose ``rank``,
    when not 0, is also mixed into the random transforms' seeds so that ranks
    augment differently); ``set_epoch`` and ``load_state_dict`` pass the
    epoch on to a sampler that has ``set_epoch``.

    Each ``iter()`` runs the next epoch (starting at 0); ``set_epoch(e)``
    picks it explicitly.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, num_workers=0, drop_last=False, seed=None,
                 transform=None, sampler=None, collate_fn=None, pin_memory=False, timeout=0,
                 worker_init_fn=None, persistent_workers=False, prefetch_factor=None, generator=None):
        for name, value in (("worker_init_fn", worker_init_fn), ("generator", generator)):
            if value is not None:
                raise NotImplementedError(f"DataLoader: {name} is not supported (the workers are threads of one "
                                          "process, seeded per batch from seed= or engine.manual_seed)")
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int; got {batch_size!r}")
        if int(num_workers) != num_workers or num_workers < 0:
            raise ValueError(f"num_workers must be a non-negative int; got {num_workers!r}")
        if sampler is not None and shuffle:
            raise ValueError("sampler and shuffle=True are mutually exclusive: the sampler orders the samples")
        self.sampler = sampler
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.num_workers = int(num_workers)
        self.drop_last = bool(drop_last)
        self.transform = transform
        self.collate_fn = collate_fn
        # a drawn seed stays below 2**53: exact in a checkpoint's JSON
        self.seed = int(random.generator().integers(0, 2**53)) if seed is None else _check_seed(seed)
        self._epoch = 0
        self._start = 0
        self._position = None
        # workers make runs of consecutive batches (about IMAGES_PER_TASK images),
        # so handing results between threads costs little per batch
        self._run_length = max(1, IMAGES_PER_TASK // self.batch_size)

    # -- size and state -------------------------------------------------------
    def __len__(self):
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def epoch(self):
        """The epoch the next ``iter()`` runs."""
        return self._epoch

    def set_epoch(self, epoch):
        """Make the next ``iter()`` run ``epoch`` from its first batch."""
        self._epoch, self._start, self._position = int(epoch), 0, None
        self._sampler_epoch()

    def state_dict(self):
        """``{"seed", "epoch", "batch"}``: where the batches handed out so far
        end (the next batch to produce), or where the next ``iter()`` starts."""
        if self._position is None:
            epoch, batch = self._epoch, self._start
        else:
            epoch, batch = self._position
        if batch >= len(self):
            epoch, batch = epoch + 1, 0
        return {"seed": self.seed, "epoch": epoch, "batch": batch}

    def load_state_dict(self, state):
        """Resume: the next ``iter()`` continues exactly from ``state``."""
        self.seed = _check_seed(state["seed"])
        self._epoch, self._start, self._position = int(state["epoch"]), int(state.get("batch", 0)), None
        self._sampler_epoch()

    def _sampler_epoch(self):
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(self._epoch)

    # -- iteration ------------------------------------------------------------
    def __iter__(self):
        epoch, start = self._epoch, self._start
        self._epoch, self._start, self._position = epoch + 1, 0, (epoch, start)
        return self._iterate(epoch, start)

    def _iterate(self, epoch, start):
        plan = self._plan()
        order = self._order(epoch)
        stop = len(self)
        if self.num_workers == 0:
            for b in range(start, stop):
                out = self._make_batch(plan, epoch, b, order)
                self._position = (epoch, b + 1)
                yield out
            return
        run = self._run_length
        with ThreadPoolExecutor(self.num_workers, thread_name_prefix="numbacnn-loader") as pool:
            runs = (pool.submit(self._make_run, plan, epoch, first, min(first + run, stop), order)
                    for first in range(start, stop, run))
            pending = collections.deque(itertools.islice(runs, PREFETCH_PER_WORKER * self.num_workers))
            try:
                b = start
                while pending:
                    batches = pending.popleft().result()
                    pending.extend(itertools.islice(runs, 1))
                    for out in batches:
                        b += 1
                        self._position = (epoch, b)
                        yield out
            finally:
                for future in pending:
                    future.cancel()

    def _make_run(self, plan, epoch, first, stop, order):
        return [self._make_batch(plan, epoch, b, order) for b in range(first, stop)]

    def _order(self, epoch):
        n = len(self.dataset)
        if self.sampler is not None:
            order = np.fromiter(iter(self.sampler), dtype=np.int64)
            if len(order) and (order.min() < 0 or order.max() >= n):
                bad = order[(order < 0) | (order >= n)][0]
                raise IndexError(f"the DataLoader's sampler gave index {bad}, outside the dataset's {n} samples")
            return order
        if not self.shuffle:
            return np.arange(n, dtype=np.int64)
        return shuffle_order(self.seed, epoch, n)

    def _rng(self, epoch, b):
        rank = getattr(self.sampler, "rank", 0)
        key = (epoch, b + 1, rank) if rank else (epoch, b + 1)
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=key))

    def _plan(self):
        """The fast path for the dataset and transforms as they are now
        (looked up every epoch, so a changed ``dataset.transform`` counts),
        or None for the per-sample path."""
        return None if self.collate_fn is not None else _fast_path(self.dataset, self.transform)

    def _make_batch(self, fast, epoch, b, order):
        """Batch ``b`` of ``epoch`` as two tensors: a pure function of (seed, epoch, b)."""
        x, y = self._make_arrays(fast, epoch, b, order)
        return x if self.collate_fn is not None else (Tensor(x), Tensor(y))

    def _make_arrays(self, fast, epoch, b, order):
        positions = order[b * self.batch_size:(b + 1) * self.batch_size]
        if fast is not None:
            index = positions if fast.index is None else fast.index[positions]
            rng = self._rng(epoch, b) if fast.random else None
            x = run(fast.steps, Batch(fast.data, index), rng, to_tensor=True)
            y = fast.targets[index]
            if fast.target_transform is not None:
                y = _as_targets([fast.target_transform(int(t)) for t in y])
            return x, y
        rng = self._rng(epoch, b)
        with random_context(rng):
            samples = [self.dataset[int(i)] for i in positions]
        if self.collate_fn is not None:
            return self.collate_fn(samples), None
        x = np.stack([np.asarray(s[0]) for s in samples])
        y = _as_targets([s[1] for s in samples])
        if self.transform is not None:
            steps = batch_steps(self.transform)
            x = self.transform(x) if steps is None else run(steps, Batch(x, owned=True), rng, to_tensor=True)
        if np.asarray(x).dtype == np.uint8:
            x = run([], Batch(x, owned=True), None, to_tensor=True)
        return np.ascontiguousarray(x, dtype=np.float32), y


def shuffle_order(seed, epoch, n):
    """The shuffled order (int64) of ``n`` samples in ``epoch``: a pure function of (seed, epoch)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(epoch, 0))).permutation(n)


def _check_seed(seed):
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}")
    return int(seed)


def _as_targets(values):
    y = np.asarray(values)
    return y.astype(np.int64) if y.dtype.kind in "iub" else y


_FastPath = collections.namedtuple("_FastPath", "data index targets steps random target_transform")


def _fast_path(dataset, loader_transform):
    """How to build batches straight from arrays, or None when the dataset
    must be read sample by sample."""
    index = None
    while isinstance(dataset, Subset):
        index = dataset.indices if index is None else dataset.indices[index]
        dataset = dataset.dataset
    data = getattr(dataset, "data", None)
    targets = getattr(dataset, "targets", None)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim not in (3, 4) or targets is None:
        return None
    targets = np.asarray(targets)
    if targets.shape != (len(data),) or targets.dtype.kind not in "iu":
        return None
    steps = batch_steps(getattr(dataset, "transform", None))
    loader_steps = batch_steps(loader_transform)
    if steps is None or loader_steps is None:
        return None
    if index is not None and len(index) and (index.min() < 0 or index.max() >= len(data)):
        raise IndexError(f"a Subset index is outside the dataset's {len(data)} samples")
    steps = steps + loader_steps
    return _FastPath(data, index, targets.astype(np.int64, copy=False), steps, any(t.random for t in steps),
                     getattr(dataset, "target_transform", None))
