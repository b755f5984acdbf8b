"""Worker, run under mpirun by tests/distributed: DistributedDataParallel, SyncBatchNorm
and DistributedSampler on R ranks (argv: a comma list of CONFIGS to run).

Training configurations (plain-overlap, plain-end, syncbn, tiny): R ranks of batch B end
with the weights of one process of batch R*B. Each builds its model with a different seed
on every rank and wraps it in DistributedDataParallel (every rank then holds rank 0's
weights); the ranks read their shards through DataLoader(sampler=DistributedSampler) and
take STEPS SGD steps. After every step every rank's parameters and buffers are compared
bit for bit with rank 0's; after the last, with a reference trained in this process on
the whole batch (DataLoader(shuffle=True) of batch R*B and the same seed, which reads the
same samples). Rank 0 prints "ok CONFIG" for each; a failed check raises, and
init_process_group's hook ends the job with a non-zero status.
"""
import sys

import numpy as np

import engine
import engine.distributed as dist
from engine import nn, optim
from engine.data import DataLoader
from engine.train import Trainer

B = 4            # batch per rank
STEPS = 5
SEED = 3         # sampler / loader seed
CONFIGS = ("plain-overlap", "plain-end", "syncbn", "tiny", "unused", "syncbn-grad", "errors")


class Images:
    """A dataset of uint8 8x8 images and int64 labels (the loader's fast path)."""

    def __init__(self, n):
        rng = np.random.default_rng(7)
        self.data = rng.integers(0, 256, (n, 8, 8), dtype=np.uint8)
        self.targets = rng.integers(0, 10, n).astype(np.int64)
        self.transform = None

    def __len__(self):
        return len(self.data)


def build(kind):
    if kind == "tiny":
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
    layers = [nn.Conv2d(1, 4, 3, padding=1)] + ([nn.BatchNorm2d(4)] if kind == "syncbn" else [])
    return nn.Sequential(*layers, nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10))


def state(model):
    return {k: np.asarray(v) for k, v in model.state_dict().items()}


def same_on_every_rank(comm, model, what):
    """Raises unless every rank's parameters and buffers are rank 0's, bit for bit."""
    mine = np.concatenate([np.asarray(v, np.float64).ravel() for v in state(model).values()])
    root = comm.broadcast_(mine.copy())
    if comm.any(mine.view(np.uint64).tobytes() != root.view(np.uint64).tobytes()):
        raise AssertionError(f"{what}: the ranks' weights differ")


def train_equivalence(comm, kind, overlap, bucket_mb):
    R = comm.size
    data = Images(R * B * STEPS)
    engine.manual_seed(100)
    ref = build(kind)
    engine.manual_seed(100 + comm.rank)
    model = build(kind)
    if comm.rank and np.array_equal(state(model)["1.weight" if kind == "tiny" else "0.weight"],
                                    state(ref)["1.weight" if kind == "tiny" else "0.weight"]):
        raise AssertionError("the ranks' seeds should give different initial weights")
    if kind == "syncbn":
        model = dist.SyncBatchNorm.convert_sync_batchnorm(model)
        assert type(model[1]).__name__ == "SyncBatchNorm" and model.spec() == ref.spec()
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=bucket_mb, overlap=overlap)
    same_on_every_rank(comm, model, f"{kind} after the broadcast")
    for k, v in state(model).items():
        np.testing.assert_array_equal(v, state(ref)[k], err_msg=f"{kind}: rank 0's weights did not arrive: {k}")
    if overlap and len(ddp.reducer.buckets) < 2:
        raise AssertionError(f"{kind}: expected several buckets, got {len(ddp.reducer.buckets)}")
    loader = DataLoader(data, batch_size=B, sampler=dist.DistributedSampler(data, seed=SEED))
    ref_loader = DataLoader(data, batch_size=R * B, shuffle=True, seed=SEED)
    assert len(loader) == len(ref_loader) == STEPS
    crit = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ref_opt = optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    for step, ((x, y), (xr, yr)) in enumerate(zip(loader, ref_loader)):
        opt.zero_grad()
        crit(ddp(x), y).backward()
        opt.step()
        ref_opt.zero_grad()
        crit(ref(xr), yr).backward()
        ref_opt.step()
        same_on_every_rank(comm, model, f"{kind} after step {step + 1}")
    got, want = state(model), state(ref)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-5,
                                   err_msg=f"{kind} ({R} ranks): {k} differs from one process of batch {R * B}")


class Heads(nn.Module):
    """A trunk and three heads: head_b is used on odd ranks only, head_c never."""

    def __init__(self, use_b):
        super().__init__()
        self.trunk, self.head_a, self.head_b, self.head_c = (nn.Linear(64, 8), nn.Linear(8, 10), nn.Linear(8, 10),
                                                            nn.Linear(8, 10))
        self.use_b = use_b

    def forward(self, x):
        h = self.trunk(x.flatten(1))
        return self.head_a(h) + self.head_b(h) if self.use_b else self.head_a(h)


def unused_parameters(comm):
    """A parameter used on some ranks gets the average over all (zero where unused); one
    used nowhere keeps grad None; no_sync accumulates locally and the next synchronised
    backward averages the sum."""
    engine.manual_seed(5)
    model = Heads(use_b=comm.rank % 2 == 1)
    ddp = dist.DistributedDataParallel(model)
    rng = np.random.default_rng(comm.rank)
    x = engine.tensor(rng.standard_normal((B, 64)).astype(np.float32))
    y = engine.tensor(rng.integers(0, 10, B))
    crit = nn.CrossEntropyLoss()
    crit(ddp(x), y).backward()
    if model.head_c.weight.grad is not None:
        raise AssertionError("a parameter no rank used got a gradient")
    if model.head_b.weight.grad is None:
        raise AssertionError("a parameter used on other ranks got no average")
    same_grads(comm, model, "unused")
    # local (odd ranks' head_b) gradient, to know what the average must be
    plain = Heads(use_b=comm.rank % 2 == 1)
    plain.load_state_dict(model.state_dict())
    crit(plain(x), y).backward()
    local = plain.head_b.weight.grad.numpy() if comm.rank % 2 else np.zeros((10, 8), np.float32)
    total = comm.allreduce_(local.astype(np.float64).copy())
    np.testing.assert_allclose(model.head_b.weight.grad.numpy(), total / comm.size, rtol=1e-5, atol=1e-7)
    # no_sync: two local backwards, then one synchronised: the average of the sums
    model.zero_grad()
    plain.zero_grad()
    with ddp.no_sync():
        crit(ddp(x), y).backward()
    crit(ddp(x * 2), y).backward()
    crit(plain(x), y).backward()
    crit(plain(x * 2), y).backward()
    want = comm.allreduce_(plain.trunk.weight.grad.numpy().astype(np.float64).copy()) / comm.size
    np.testing.assert_allclose(model.trunk.weight.grad.numpy(), want, rtol=1e-5, atol=1e-7)
    same_grads(comm, model, "no_sync")


def same_grads(comm, model, what):
    mine = np.concatenate([p.grad.numpy().astype(np.float64).ravel() for p in model.parameters()
                           if p.grad is not None])
    root = comm.broadcast_(mine.copy())
    if comm.any(not np.array_equal(mine, root)):
        raise AssertionError(f"{what}: the ranks' gradients differ")


def syncbn_gradients(comm):
    """SyncBatchNorm on each rank's shard = BatchNorm2d on the concatenated batch, in
    float64: outputs, input gradients, the sum over ranks of the weight gradients, and
    the running statistics."""
    R = comm.size
    rng = np.random.default_rng(11)
    x_all = rng.standard_normal((R * 3, 3, 5, 5)) * 2 + 1
    g_all = rng.standard_normal(x_all.shape)
    shard = slice(comm.rank, None, R)
    engine.manual_seed(1)
    bn = nn.BatchNorm2d(3).double()
    bn.weight.data = engine.tensor(rng.standard_normal(3))
    sync = dist.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm2d(3).double())
    sync.load_state_dict(bn.state_dict())
    xs = engine.tensor(x_all[shard].copy(), requires_grad=True)
    ys = sync(xs)
    ys.backward(engine.tensor(g_all[shard].copy()))
    xa = engine.tensor(x_all, requires_grad=True)
    ya = bn(xa)
    ya.backward(engine.tensor(g_all))
    np.testing.assert_allclose(ys.numpy(), ya.numpy()[shard], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xs.grad.numpy(), xa.grad.numpy()[shard], rtol=1e-9, atol=1e-11)
    for name in ("weight", "bias"):
        total = comm.allreduce_(getattr(sync, name).grad.numpy().copy())
        np.testing.assert_allclose(total, getattr(bn, name).grad.numpy(), rtol=1e-10, atol=1e-12)
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(sync, name), getattr(bn, name), rtol=1e-12)


def expect_error(kind, text, fn):
    try:
        fn()
    except kind as e:
        if text not in str(e):
            raise AssertionError(f"expected {text!r} in the message, got {e}") from None
        return
    raise AssertionError(f"expected {kind.__name__} ({text})")


def argument_errors(comm):
    """torch's names for the job; bad arguments are named; ranks whose models differ all
    raise (nothing hangs); a backward that is not the wrapper's output's is refused; a
    forward whose backward never ran is dropped, one whose backward reached only some
    parameters is an error; the Trainer refuses a wrapped model."""
    if (dist.get_rank(), dist.get_world_size(), dist.is_initialized()) != (comm.rank, comm.size, True):
        raise AssertionError("get_rank / get_world_size / is_initialized disagree with the communicator")
    model = build("tiny")
    expect_error(ValueError, "bucket_cap_mb must be a positive number, got 0",
                 lambda: dist.DistributedDataParallel(model, bucket_cap_mb=0))
    expect_error(ValueError, "device_ids must be None or one device", lambda: dist.DistributedDataParallel(
        model, device_ids=[0, 1]))
    expect_error(ValueError, "dim must be 0", lambda: dist.DistributedDataParallel(model, dim=1))
    expect_error(ValueError, "has no parameter that requires grad",
                 lambda: dist.DistributedDataParallel(build("tiny").requires_grad_(False)))
    other = build("tiny") if comm.rank == 0 else nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    expect_error(ValueError, "every rank must build the same model", lambda: dist.DistributedDataParallel(other))
    ddp = dist.DistributedDataParallel(build("tiny"))
    x = engine.tensor(np.ones((2, 1, 8, 8), np.float32))
    ddp(x).sum().backward()
    expect_error(RuntimeError, "call the DistributedDataParallel module, not the module inside it",
                 lambda: ddp.module(x).sum().backward())
    ddp(x)
    ddp(x).sum().backward()                       # a forward whose backward never ran is dropped
    same_grads(comm, ddp.module, "a dropped forward")
    ddp(x)
    ddp.module[1](x.flatten(1)).sum().backward()  # a backward that reaches only part of the forward
    expect_error(RuntimeError, "run one backward per forward", lambda: ddp(x))
    expect_error(TypeError, "pass ddp.module, not the DistributedDataParallel wrapper", lambda: Trainer(
        ddp, optim.SGD(ddp.parameters(), lr=0.1), nn.CrossEntropyLoss(), [], distributed=True))


def main(configs):
    engine.set_num_threads(1)
    comm = dist.init_process_group()
    for config in configs:
        if config not in CONFIGS:
            raise SystemExit(f"unknown config {config!r}; choose from {CONFIGS}")
        if config == "plain-overlap":
            train_equivalence(comm, "plain", True, 0.0002)
        elif config == "plain-end":
            train_equivalence(comm, "plain", False, None)
        elif config == "syncbn":
            train_equivalence(comm, "syncbn", True, 0.0002)
        elif config == "tiny":
            train_equivalence(comm, "tiny", True, 0.001)
        elif config == "unused":
            unused_parameters(comm)
        elif config == "errors":
            argument_errors(comm)
        else:
            syncbn_gradients(comm)
        if comm.rank == 0:
            print("ok", config, flush=True)


if __name__ == "__main__":
    main(sys.argv[1].split(","))
