"""Compile every CUDA kernel to PTX for a real GPU (sm_90) without needing one, and check
that no float32 kernel computes in float64.

The CUDA simulator runs kernels as Python, so it never type-checks them the way the
CUDA compiler does; this script does: numba's CUDA pipeline + libNVVM turn each kernel
(with the argument types the engine launches it with) into PTX, which is then searched
for double-precision instructions. Where ``ptxas`` is installed it also reports each
kernel's registers, spills and local memory.

    NUMBA_ENABLE_CUDASIM=0 python tests/cuda/ptx_check.py [--cc 9.0] [--ptxas]

Needs libNVVM (the CUDA toolkit, or the nvidia-cuda-nvcc wheel), not a GPU or driver.
Exit status 0 when every kernel compiled and the float32 ones are free of float64.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

os.environ["NUMBA_ENABLE_CUDASIM"] = "0"


def _patch_for_compile_only(cc):
    """Lets numba-cuda compile to PTX with no driver and no NVRTC: the target compute
    capability is given instead of read from a device."""
    from numba.cuda import cuda_paths
    from numba.cuda.cudadrv import nvrtc
    import numba.cuda.dispatcher as disp
    nvrtc.get_supported_ccs = lambda: ((5, 0), (6, 0), (7, 0), (7, 5), (8, 0), (8, 6), (8, 9), (9, 0))
    try:
        cuda_paths._get_nvrtc_path()
    except Exception:
        cuda_paths._get_nvrtc_path = lambda: cuda_paths._env_path_tuple("none", None)
    disp.get_current_device = lambda: SimpleNamespace(compute_capability=cc)


def _kernels():
    """[(name, python function, signature tuple, float64 allowed)]."""
    import numpy as np
    from numba import types as T

    from engine.kernels.cuda import (activation, batchnorm, conv, dropout, gemm, loss, lrn, optim, pool,
                                     reduce, tensor)

    f, d, i, b = T.float32[::1], T.float64[::1], T.int64, T.boolean
    s, u, li, ni = T.float32, T.uint64, T.int64[::1], T.int32[::1]
    sig = {"f": f, "d": d, "i": i, "b": b, "s": s, "u": u, "L": li, "N": ni, "S": T.float64}

    def S(code):
        return tuple(sig[c] for c in code)

    out = []
    add = lambda name, k, code, f64=False: out.append((name, getattr(k, "py_func", k), S(code), f64))  # noqa: E731
    add("tensor._fill", tensor._fill, "fs")
    add("tensor._add", tensor._add, "fff")
    add("tensor._copy_channels", tensor._copy_channels, "ffiiiiib")
    add("tensor._argmax_rows", tensor._argmax_rows, "fiiL")
    for n in ("_relu", "_sigmoid", "_tanh"):
        add(f"activation.{n}", getattr(activation, n), "ff")
    for n in ("_relu_bwd", "_sigmoid_bwd", "_tanh_bwd"):
        add(f"activation.{n}", getattr(activation, n), "fff")
    add("activation._leaky", activation._leaky, "fsf")
    add("activation._leaky_bwd", activation._leaky_bwd, "ffsf")
    add("dropout._dropout", dropout._dropout, "fusuff")
    add("dropout._mul", dropout._mul, "fff")
    add("optim._sgd", optim._sgd, "fffsssbsbb")
    add("optim._adam", optim._adam, "ffffsssssbss")
    add("conv._im2col", conv._im2col, "f" + "i" * 12 + "f")
    add("conv._col2im", conv._col2im, "f" + "i" * 13 + "f")
    k, _ = gemm.make_sgemm(*gemm.GPU_TILE)
    add("gemm.sgemm[GPU tile]", k, "fffff" + "iii" + "iiiibb" + "iiiibb" + "iiiib" + "iib")
    k64, _ = gemm.make_sgemm(*gemm.GPU_TILE_F64, dtype=np.float64)
    add("gemm.sgemm[float64 tile]", k64, "ddddd" + "iii" + "iiiibb" + "iiiibb" + "iiiib" + "iib", True)
    add("gemm._splitk_reduce", gemm._splitk_reduce, "fiiiffi" + "iiiib")
    add("reduce.partials", reduce._make_partials(np.float32), "ffiiiiiiff")
    add("reduce._sum_partials", reduce._sum_partials, "fiif")
    add("batchnorm._bn_finalize_train", batchnorm._bn_finalize_train, "fffiiiisssffff")
    add("batchnorm._bn_apply", batchnorm._bn_apply, "fffffiiiff")
    add("batchnorm._bn_eval_stats", batchnorm._bn_eval_stats, "ffsiff")
    add("batchnorm._bn_finalize_grads", batchnorm._bn_finalize_grads, "ffiiff")
    add("batchnorm._bn_dx_train", batchnorm._bn_dx_train, "ffffffiiiif")
    add("batchnorm._bn_dx_eval", batchnorm._bn_dx_eval, "ffiiif")
    add("batchnorm._bn_fold", batchnorm._bn_fold, "ffbffffsiiff")
    add("lrn._lrn_fwd", lrn._lrn_fwd, "fiiisssiff")
    add("lrn._lrn_bwd", lrn._lrn_bwd, "ffffiiissif")
    add("loss.ce_fwd", loss._make_ce_fwd(np.float32), "fLiisff")
    add("loss.sq_sum", loss._make_sq_sum(np.float32), "ffif")
    add("loss._ce_bwd", loss._ce_bwd, "fLiissf")
    add("loss._mse_bwd", loss._mse_bwd, "ffsf")
    add("pool._max_fwd", pool._max_fwd, "f" + "i" * 12 + "fN")
    add("pool._max_bwd", pool._max_bwd, "fNiiif")
    add("pool._avg_fwd", pool._avg_fwd, "f" + "i" * 11 + "bif")
    add("pool._avg_bwd", pool._avg_bwd, "f" + "i" * 11 + "bif")
    add("pool._adaptive_fwd", pool._adaptive_fwd, "fiiiiif")
    add("pool._adaptive_bwd", pool._adaptive_bwd, "fiiiiif")
    return out


F64 = re.compile(r"^\s*(?!ld\.param|cvt\.\w+\.f64\.f32)[a-z]+(\.[a-z0-9]+)*\.f64\b", re.M)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cc", default="9.0")
    ap.add_argument("--ptxas", action="store_true", help="also run ptxas -v (registers, spills)")
    ap.add_argument("--only", default=None, help="substring of the kernel names to check")
    args = ap.parse_args(argv)
    cc = tuple(int(v) for v in args.cc.split("."))
    from numba import cuda
    if "simulator" in cuda.device_array.__module__:
        print("ptx_check: the CUDA simulator is on; run with NUMBA_ENABLE_CUDASIM=0")
        return 2
    from numba.cuda.cudadrv import nvvm
    if not nvvm.is_available():
        print("ptx_check: libNVVM not found (install the CUDA toolkit or nvidia-cuda-nvcc)")
        return 3
    _patch_for_compile_only(cc)
    ptxas = shutil.which("ptxas") or ("/usr/local/cuda/bin/ptxas" if os.path.exists("/usr/local/cuda/bin/ptxas")
                                      else None)
    bad = 0
    t_all = time.time()
    for name, fn, sig, f64_ok in _kernels():
        if args.only and args.only not in name:
            continue
        t0 = time.time()
        try:
            ptx, _ = cuda.compile_ptx(fn, sig, cc=cc, fastmath=True)
        except Exception as e:
            bad += 1
            first = str(e).strip().splitlines()
            print(f"FAIL {name}: does not compile: {type(e).__name__}: {first[-1] if first else ''}")
            continue
        body = "\n".join(ln for ln in ptx.splitlines() if not ln.lstrip().startswith("//"))
        f64 = [m.group(0).strip() for m in F64.finditer(body)]
        status = "ok  "
        if f64 and not f64_ok:
            status = "FAIL"
            bad += 1
        line = f"{status} {name:34s} {time.time() - t0:5.1f}s  f64 instructions: {len(f64)}"
        if f64 and not f64_ok:
            line += f" (e.g. {f64[0]})"
        if args.ptxas and ptxas:
            with tempfile.TemporaryDirectory() as tmp:
                p = Path(tmp) / "k.ptx"
                p.write_text(ptx)
                r = subprocess.run([ptxas, "-v", f"--gpu-name=sm_{cc[0]}{cc[1]}", str(p), "-o", str(p) + ".cubin"],
                                   capture_output=True, text=True)
                regs = re.search(r"Used (\d+) registers", r.stderr)
                spill = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", r.stderr)
                stack = re.search(r"(\d+) bytes stack frame", r.stderr)
                line += (f"  regs {regs.group(1) if regs else '?'}, stack {stack.group(1) if stack else '?'} B, "
                         f"spills {spill.group(1) + '/' + spill.group(2) if spill else '?'} B")
        print(line, flush=True)
    print(f"{'all kernels compile; no float64 in float32 kernels' if not bad else f'{bad} problem(s)'} "
          f"({time.time() - t_all:.0f}s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
