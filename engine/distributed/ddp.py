"""Data-parallel training over MPI, shaped like ``torch.nn.parallel.DistributedDataParallel``::

    engine.distributed.init_process_group()         # under mpirun -n N (or srun)
    model = DistributedDataParallel(model)          # every rank now holds rank 0's weights
    for x, y in loader:                             # loader over a DistributedSampler
        loss = crit(model(x), y)
        opt.zero_grad()
        loss.backward()                             # gradients averaged over the ranks here
        opt.step()                                  # the same update on every rank

How gradients are averaged (:class:`Reducer`, torch's design): the parameters, in reverse
order of registration (the order backward reaches them), are packed into buckets of
contiguous host memory of the parameters' dtype (float32), ``bucket_cap_mb`` MiB of
gradients each, plus one usage flag per parameter. A post-accumulate-grad hook on every parameter copies
its gradient into its slot as soon as backward has summed it; when a bucket's last
gradient arrives, the bucket goes out in a non-blocking MPI ``Iallreduce`` (buckets always
in the same order on every rank), so the sums travel while backward computes the
gradients of earlier layers, and every later hook lets MPI progress them (``Testall``).
The hook of the backward's last gradient waits for all buckets, divides by the number of
ranks and copies the averages back into ``.grad``, so ``loss.backward()`` returns with
averaged gradients. With ``overlap=False`` all gradients form one bucket, reduced by one
blocking ``Allreduce`` when the last arrives.

Parameters that the forward did not use are found by walking the output's graph after
the forward (cheap here, so always done: torch's ``find_unused_parameters``): their slot
holds their current gradient (or zeros) at once. A parameter with no gradient on any rank
keeps ``.grad`` None; one used on some ranks gets the average over all ranks.

Buffers (batch-norm running statistics) are broadcast from rank 0 before every training
forward (torch's ``broadcast_buffers``); evaluation forwards communicate nothing, so a
model may be evaluated on rank 0 alone. CUDA gradients are staged through the host
buckets (copied down in the hook, averaged, copied back up).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import time

import numpy as np

from .. import kernels
from ..autograd import Node, Tensor, is_grad_enabled
from ..nn import Module
from .comm import Communicator, abort_on_error, world

DEFAULT_BUCKET_MB = 1.0
"""Bucket size (MiB of gradients) of the overlapped reduction; see benchmarks/results_mpi.md."""
DEFAULT_OVERLAP = True
"""Iallreduce per bucket during backward (True) or one Allreduce at its end (False)."""


def _ops(a):
    return kernels.ops(kernels.device_of(a))


# --- state broadcast ---------------------------------------------------------------------------
def _digest(named_arrays) -> int:
    """A 63-bit fingerprint of the names, shapes and dtypes (not the values)."""
    desc = json.dumps([(n, list(np.shape(a)), str(np.dtype(a.dtype))) for n, a in named_arrays])
    return int.from_bytes(hashlib.sha256(desc.encode()).digest()[:8], "little") >> 1


def broadcast_arrays(comm: Communicator, arrays, root: int = 0) -> None:
    """Every rank's ``arrays`` (numpy or device arrays, written in place) take rank
    ``root``'s values; the arrays of each dtype travel in one host buffer."""
    groups: dict = {}
    for a in arrays:
        groups.setdefault(np.dtype(a.dtype), []).append(a)
    for dtype in sorted(groups, key=str):
        group = groups[dtype]
        flat = np.empty(sum(int(np.prod(a.shape, dtype=np.int64)) for a in group), dtype)
        views, o = [], 0
        for a in group:
            n = int(np.prod(a.shape, dtype=np.int64))
            views.append(flat[o:o + n].reshape(a.shape))
            o += n
        if comm.rank == root:
            for v, a in zip(views, group):
                _ops(a).copy_into(v, a)
        comm.broadcast_(flat, root)
        if comm.rank != root:
            for v, a in zip(views, group):
                _ops(a).copy_into(a, v)


def _buffers(module: Module) -> list:
    return [b for _, b in module.named_buffers()]


def broadcast_module(module: Module, comm: Communicator, root: int = 0) -> None:
    """Every rank's parameters and buffers take rank ``root``'s values. The ranks first
    compare their modules' parameter and buffer names, shapes and dtypes: if any rank's
    differ from ``root``'s, every rank raises ValueError (nothing is changed)."""
    named = [(n, p.array) for n, p in module.named_parameters()] + list(module.named_buffers())
    mine = np.array([_digest(named)], np.int64)
    theirs = comm.broadcast_(mine.copy(), root)
    if comm.any(mine[0] != theirs[0]):
        raise ValueError(f"the model on some rank has other parameters or buffers than rank {root}'s (names, shapes "
                         f"or dtypes differ); every rank must build the same model")
    broadcast_arrays(comm, [a for _, a in named], root)


# --- the reducer -------------------------------------------------------------------------------
def _tensors(out) -> list:
    """The tensors in a forward's output (a tensor, or lists, tuples and dicts of them)."""
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _tensors(o)]
    return []


def _reachable_leaves(outputs) -> set:
    """ids of the leaf tensors that a backward from ``outputs`` reaches."""
    leaves = {id(t) for t in outputs if t.requires_grad and t.grad_fn is None}
    stack = [t.grad_fn for t in outputs if t.grad_fn is not None]
    seen = set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        for edge in node.next_edges:
            if edge is None:
                continue
            if isinstance(edge[0], Node):
                stack.append(edge[0])
            else:
                leaves.add(id(edge[0]))
    return leaves


def plan_buckets(params, cap_bytes: float) -> list:
    """Parameters (anything with ``numel()`` and ``dtype``) grouped into buckets: in
    reverse order (the order backward reaches them), one dtype per bucket, a new bucket
    whenever the next parameter would take the current one past ``cap_bytes`` (a bucket
    holds at least one parameter)."""
    done, open_ = [], {}                 # open_: dtype -> (params, bytes) of the bucket being filled
    for p in reversed(list(params)):
        nbytes = p.numel() * np.dtype(p.dtype).itemsize
        group, size = open_.get(p.dtype, ([], 0))
        if group and size + nbytes > cap_bytes:
            done.append(group)
            group, size = [], 0
        open_[p.dtype] = (group + [p], size + nbytes)
    return done + [group for group, _ in open_.values()]


class _Bucket:
    """Gradients of a few parameters of one dtype in one host buffer: the gradient slots
    (views shaped like each parameter), then one usage flag per parameter."""

    def __init__(self, params: list, dtype):
        sizes = [p.numel() for p in params]
        total = sum(sizes)
        self.params = params
        self.buffer = np.zeros(total + len(params), dtype)
        self.grads = self.buffer[:total]
        self.flags = self.buffer[total:]
        self.slots, o = [], 0
        for p, n in zip(params, sizes):
            self.slots.append(self.buffer[o:o + n].reshape(p.shape))
            o += n
        self.expected = [False] * len(params)
        self.pending = 0
        self.request = None


IDLE, ARMED, LOCAL = "idle", "armed", "local"


class Reducer:
    """Averages the gradients of ``named_params`` ((name, Parameter) pairs; those that do
    not require grad are left out) over the ranks of ``comm`` during each backward that
    follows a :meth:`prepare` (see the module docstring). Every rank must build it from
    the same model. ``steps``, ``comm_seconds`` and ``exposed_seconds`` count the
    synchronised backwards, the time spent in MPI calls, and the part of it spent after
    a backward's last gradient had arrived (what the overlap did not hide)."""

    def __init__(self, named_params, comm: Communicator, bucket_cap_mb: float | None = None,
                 overlap: bool | None = None):
        params = [(n, p) for n, p in named_params if p.requires_grad]
        if not params:
            raise ValueError("DistributedDataParallel: the module has no parameter that requires grad")
        cap = DEFAULT_BUCKET_MB if bucket_cap_mb is None else bucket_cap_mb
        if isinstance(cap, bool) or not isinstance(cap, (int, float)) or not cap > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be a positive number, got {bucket_cap_mb!r}")
        self.overlap = DEFAULT_OVERLAP if overlap is None else bool(overlap)
        self.comm = comm.duplicate()
        self.world_size = comm.size
        self.names = {id(p): n for n, p in params}
        plan = plan_buckets([p for _, p in params], cap * 2**20 if self.overlap else float("inf"))
        self.buckets = [_Bucket(group, group[0].dtype) for group in plan]
        self.where = {id(p): (b, i) for b in self.buckets for i, p in enumerate(b.params)}
        for _, p in params:
            p.register_post_accumulate_grad_hook(self._ready)
        self.state = IDLE
        self.launched = 0
        self.arrived = 0               # gradients of the armed backward so far
        self.steps = 0                 # synchronised backwards so far
        self.comm_seconds = 0.0        # time spent in MPI calls (starts, progress, waits)
        self.exposed_seconds = 0.0     # of which, after the last gradient had arrived

    def prepare(self, outputs, sync: bool = True) -> None:
        """Called after a forward, before the backward of ``outputs``: finds the parameters
        that backward will reach and arms the hooks (with ``sync`` False, the backward only
        accumulates locally, as in torch's ``no_sync``)."""
        if self.state == ARMED:
            if self.arrived:
                missing = [self.names[id(p)] for b in self.buckets for p, e in zip(b.params, b.expected) if e]
                raise RuntimeError(f"DistributedDataParallel: a forward ran before the backward of the previous one "
                                   f"had averaged the gradients ({', '.join(missing[:3])} got none); run one backward "
                                   "per forward, in which every parameter the forward used gets a gradient")
            self._drop()
        outs = _tensors(outputs)
        if not is_grad_enabled() or not any(t.requires_grad for t in outs):
            self.state = IDLE
            return
        if not sync:
            self.state = LOCAL
            return
        reached = _reachable_leaves(outs)
        for b in self.buckets:
            b.pending = 0
            for i, p in enumerate(b.params):
                used = id(p) in reached
                b.expected[i] = used
                if used:
                    b.pending += 1
                    b.flags[i] = 1
                else:
                    self._hold(b, i, p)
        self.launched = 0
        self.arrived = 0
        self.state = ARMED
        self._launch()

    def _drop(self) -> None:
        """The armed forward's backward never ran (e.g. its loss was refused): completes
        the reductions prepare started (those of buckets no parameter of which was used)
        and forgets the step; every rank drops it, as every rank skips that backward."""
        if self.overlap:
            self.comm.MPI.Request.Waitall([b.request for b in self.buckets[:self.launched]])
        for b in self.buckets:
            b.request = None
        self.state = IDLE

    def _hold(self, b: _Bucket, i: int, p) -> None:
        """Slot i of bucket b takes p's gradient as it is now (zeros if it has none)."""
        if p.grad_array is None:
            b.slots[i].fill(0)
            b.flags[i] = 0
        else:
            _ops(p.grad_array).copy_into(b.slots[i], p.grad_array)
            b.flags[i] = 1

    def _ready(self, p) -> None:
        """The post-accumulate-grad hook: p's gradient for this backward is in p.grad."""
        if self.state != ARMED:
            if self.state == LOCAL:
                return
            raise RuntimeError("DistributedDataParallel: a gradient arrived for a backward that did not start from "
                               "the output of the wrapped model's forward (call the DistributedDataParallel "
                               "module, not the module inside it; run one backward per forward)")
        b, i = self.where[id(p)]
        if not b.expected[i]:
            raise RuntimeError(f"DistributedDataParallel: parameter '{self.names[id(p)]}' got a gradient though the "
                               "forward's output does not depend on it")
        b.expected[i] = False
        self.arrived += 1
        _ops(p.grad_array).copy_into(b.slots[i], p.grad_array)
        b.pending -= 1
        if b.pending == 0:
            self._launch()
        elif self.launched and self.overlap:
            t = time.perf_counter()
            self.comm.MPI.Request.Testall([c.request for c in self.buckets[:self.launched]])
            self.comm_seconds += time.perf_counter() - t

    def _launch(self) -> None:
        """Starts the reduction of every complete bucket whose predecessors have started
        (the same order on every rank); after the last, finishes the step."""
        t = time.perf_counter()
        while self.launched < len(self.buckets) and self.buckets[self.launched].pending == 0:
            b = self.buckets[self.launched]
            if self.overlap:
                b.request = self.comm.iallreduce_(b.buffer)
            else:
                self.comm.allreduce_(b.buffer)
            self.launched += 1
        if self.launched == len(self.buckets):
            if self.overlap:
                self.comm.MPI.Request.Waitall([b.request for b in self.buckets])
            spent = time.perf_counter() - t
            self.comm_seconds += spent
            self.exposed_seconds += spent
            self.steps += 1
            self._finish()
        else:
            self.comm_seconds += time.perf_counter() - t

    def _finish(self) -> None:
        """Every bucket is reduced: the averages go back into the parameters' gradients."""
        for b in self.buckets:
            b.request = None
            np.divide(b.grads, b.grads.dtype.type(self.world_size), out=b.grads)
            for i, p in enumerate(b.params):
                if b.flags[i] > 0:
                    kops = _ops(p.array)
                    if p.grad_array is None:
                        p.grad = kops.zeros(p.shape, p.dtype)
                    kops.copy_into(p.grad_array, b.slots[i])
        self.state = IDLE


class DistributedDataParallel(Module):
    """Wraps ``module`` for data-parallel training over the ranks of ``process_group``
    (a :class:`~engine.distributed.comm.Communicator`; default: every rank of the job).

    At construction every rank takes rank 0's parameters and buffers (and an exception that
    nothing catches on any rank will end the job: :func:`.comm.abort_on_error`). Then each training
    forward broadcasts rank 0's buffers (``broadcast_buffers``) and each backward of its
    output averages the gradients over the ranks (module docstring). ``bucket_cap_mb``:
    MiB of gradients per bucket; ``overlap``: reduce buckets during backward (True) or in
    one blocking allreduce at its end (False); defaults: DEFAULT_BUCKET_MB, DEFAULT_OVERLAP.
    ``device_ids`` / ``output_device``: None or the one device the module is on (a rank
    uses one device: GPU local_rank mod GPU count, see :func:`.devices.select_gpu`).
    ``find_unused_parameters`` is accepted for torch's sake: unused parameters are always
    found. ``state_dict`` keys carry torch's ``module.`` prefix; save ``ddp.module`` to get
    the plain model's."""

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0,
                 broadcast_buffers: bool = True, process_group: Communicator | None = None,
                 bucket_cap_mb: float | None = None, find_unused_parameters: bool = False,
                 overlap: bool | None = None):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps an nn.Module, got {type(module).__name__}")
        for name, value in (("device_ids", device_ids), ("output_device", output_device)):
            ids = value if isinstance(value, (list, tuple)) else [value]
            if value is not None and len(ids) != 1:
                raise ValueError(f"DistributedDataParallel: {name} must be None or one device (one device per "
                                 f"rank), got {value!r}")
        if dim != 0:
            raise ValueError(f"DistributedDataParallel: dim must be 0 (the batch axis), got {dim!r}")
        comm = process_group if process_group is not None else world()
        abort_on_error(comm)
        self.module = module
        self.device = module.device
        broadcast_module(module, comm)
        self.comm = comm
        self.broadcast_buffers = bool(broadcast_buffers)
        self.reducer = Reducer(module.named_parameters(), comm, bucket_cap_mb, overlap)
        self.require_backward_grad_sync = True

    spec_layer = False  # not in specs: save ``ddp.module``

    def forward(self, *args, **kwargs):
        training_step = self.training and is_grad_enabled()
        if training_step and self.broadcast_buffers and self.comm.size > 1:
            broadcast_arrays(self.comm, _buffers(self.module))
        out = self.module(*args, **kwargs)
        self.reducer.prepare(out, sync=self.require_backward_grad_sync)
        return out

    @contextlib.contextmanager
    def no_sync(self):
        """Backwards of forwards run inside only accumulate gradients locally; the first
        synchronised backward after averages the accumulated sums."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old
