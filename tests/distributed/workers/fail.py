"""Worker, run under mpirun by tests/distributed: rank 1 fails at step 3 of a
data-parallel training loop while the others go on into the gradient allreduce.

argv[1]: "raise" (an exception nothing catches: init_process_group's hook prints it and
aborts the job) or "kill" (SIGKILL to itself: mpirun ends the job). Either way mpirun
must exit with a non-zero status instead of leaving rank 0 waiting for ever.
"""
import os
import signal
import sys

import numpy as np

import engine
import engine.distributed as dist
from engine import nn, optim


def main(how):
    engine.set_num_threads(1)
    comm = dist.init_process_group()
    engine.manual_seed(0)
    model = dist.DistributedDataParallel(nn.Sequential(nn.Flatten(), nn.Linear(16, 10)))
    opt = optim.SGD(model.parameters(), lr=0.1)
    crit = nn.CrossEntropyLoss()
    rng = np.random.default_rng(comm.rank)
    for step in range(1, 100_000):
        if comm.rank == 1 and step == 3:
            if how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise ValueError("rank 1 broke on purpose at step 3")
        x = engine.tensor(rng.standard_normal((4, 16)).astype(np.float32))
        loss = crit(model(x), engine.tensor(rng.integers(0, 10, 4)))
        opt.zero_grad()
        loss.backward()
        opt.step()


if __name__ == "__main__":
    main(sys.argv[1])
