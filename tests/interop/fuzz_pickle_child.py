"""Child process of test_torch_pickle's subprocess fuzz: ``python fuzz_pickle_child.py DIR N``.

Writes N files, alternately zip archives whose data.pkl is a valid checkpoint pickle with
random byte edits (overwrites, insertions, deletions, from a fixed seed) and torch < 1.6
streams with such edits anywhere, reads each with torch_load, and
prints ``loaded=A refused=B``. Any outcome other than a load or a WeightsError prints the
traceback and exits 1; a crash of the unpickler would end the process with a signal.
"""
import os
import sys
import traceback

import numpy as np
from torch_files import ODict, encode, write_legacy, write_pt   # beside this script

from engine.interop import WeightsError, torch_load


def mutate(data: bytes, rng) -> bytes:
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 6))):
        at = int(rng.integers(0, len(b)))
        kind = rng.integers(0, 3)
        if kind == 0:
            b[at] = int(rng.integers(0, 256))
        elif kind == 1:
            b[at:at] = bytes(rng.integers(0, 256, int(rng.integers(1, 5)), dtype=np.uint8))
        else:
            del b[at:at + int(rng.integers(1, 5))]
    return bytes(b)


def main(folder: str, n: int) -> int:
    rng = np.random.default_rng(20)
    state = ODict({"0.weight": np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2), "0.bias": np.zeros(2, np.float32),
                   "1.num_batches_tracked": np.array(7, np.int64)})
    data, storages = encode({"net": state, "epoch": 3, "acc": 0.5, "tags": ["a", b"b", (1, None)]})
    counts = {"loaded": 0, "refused": 0}
    path = os.path.join(folder, "fuzz.pt")
    legacy_data, legacy_storages = encode({"net": state, "epoch": 3}, legacy=True)
    legacy = open(write_legacy(path, pickle_bytes=legacy_data, storages=legacy_storages), "rb").read()
    for i in range(n):
        if i % 2:
            with open(path, "wb") as f:
                f.write(mutate(legacy, rng))
        else:
            write_pt(path, pickle_bytes=mutate(data, rng), storages=storages)
        try:
            torch_load(path)
            counts["loaded"] += 1
        except WeightsError:
            counts["refused"] += 1
        except Exception:  # noqa: BLE001 - the point: report anything else
            traceback.print_exc()
            return 1
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
