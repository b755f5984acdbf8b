"""256-bit SIMD vectors for the CPU kernels: a Numba type and the few operations a
register-tiled kernel needs.

LLVM vectorises a long loop of independent element operations by itself, but not a
register-tiled product (a tile of output values kept in registers while a reduction runs
over them); written with scalars, such kernels ran at a tenth of the machine's peak. Here a
``vec`` is an LLVM ``<8 x float>`` (float32) or ``<4 x double>`` (float64) value: a kernel
keeps a tile of them in local variables, which LLVM holds in registers, and each
``vfma`` is one fused multiply-add instruction (AVX2 + FMA; on older CPUs LLVM splits
them into SSE pairs).

    L = lanes(a)            elements per vector for a's dtype (8 or 4), a constant
    v = vzero(a)            a vector of zeros of a's dtype
    v = vload(a, i)         a[i:i+L] of a C-contiguous 1-d array (no bounds check)
    vstore(a, i, v)         a[i:i+L] = v
    v = vsplat(a, i)        a[i] in every lane
    v = vfma(x, y, z)       x*y + z, lane by lane
    v = vadd(x, y)          x + y, lane by lane
    v = vsub(x, y)          x - y, lane by lane
    v = vmax(x, y)          max(x, y), lane by lane; a NaN in x is kept (torch's relu keeps NaN)
    v = vziplo(x, y)        x0 y0 x1 y1 ... (the lower halves interleaved); vziphi: the upper
    v = vevens(x, y)        x0 x2 ... y0 y2 ... (the even lanes of x then y); vodds: the odd
    s = vsum(v)             the sum of v's lanes
    s = vtranspose(src, i, si, dst, o, so)
                            an L x L block transposed: dst[o + q*so:][:L] = lane q of the
                            vectors src[i + k*si:][:L], k < L; s: their sums (lane k: the
                            sum of vector k's lanes)
    f = bits_float(i)       the float32 (float64) whose bits are the int32 (int64) i, a
                            scalar that LLVM vectorises with the loop around it (vmath.py)

The loads and stores do not check bounds: callers size their buffers for whole vectors.
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

from .parallel import helper

VECTOR_BYTES = 32


class Vec(types.Type):
    """A 256-bit vector of float32 or float64."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.lanes = VECTOR_BYTES * 8 // dtype.bitwidth
        super().__init__(name=f"vec{self.lanes}x{dtype}")


@register_model(Vec)
class _VecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        elem = ir.FloatType() if fe_type.dtype == types.float32 else ir.DoubleType()
        super().__init__(dmm, fe_type, ir.VectorType(elem, fe_type.lanes))


def _vec_of(arr):
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and arr.layout == "C"
            and arr.dtype in (types.float32, types.float64)):
        raise TypeError(f"SIMD vectors need a contiguous 1-d float32 or float64 array, got {arr}")
    return Vec(arr.dtype)


def _element_ptr(context, builder, arrty, arr, idx):
    data = cgutils.create_struct_proxy(arrty)(context, builder, value=arr).data
    return builder.gep(data, [idx])


@intrinsic
def lanes(typingctx, arr):
    n = _vec_of(arr).lanes

    def codegen(context, builder, sig, args):
        return context.get_constant(types.intp, n)
    return types.intp(arr), codegen


@intrinsic
def vzero(typingctx, arr):
    vt = _vec_of(arr)

    def codegen(context, builder, sig, args):
        return ir.Constant(context.get_value_type(vt), None)
    return vt(arr), codegen


@intrinsic
def vload(typingctx, arr, idx):
    vt = _vec_of(arr)

    def codegen(context, builder, sig, args):
        p = _element_ptr(context, builder, sig.args[0], args[0], args[1])
        ptr = builder.bitcast(p, context.get_value_type(vt).as_pointer())
        return builder.load(ptr, align=arr.dtype.bitwidth // 8)
    return vt(arr, idx), codegen


@intrinsic
def vstore(typingctx, arr, idx, v):
    _vec_of(arr)

    def codegen(context, builder, sig, args):
        p = _element_ptr(context, builder, sig.args[0], args[0], args[1])
        ptr = builder.bitcast(p, context.get_value_type(sig.args[2]).as_pointer())
        builder.store(args[2], ptr, align=arr.dtype.bitwidth // 8)
        return context.get_dummy_value()
    return types.none(arr, idx, v), codegen


@intrinsic
def vsplat(typingctx, arr, idx):
    vt = _vec_of(arr)

    def codegen(context, builder, sig, args):
        s = builder.load(_element_ptr(context, builder, sig.args[0], args[0], args[1]))
        lt = context.get_value_type(vt)
        one = builder.insert_element(ir.Constant(lt, ir.Undefined), s, ir.Constant(ir.IntType(32), 0))
        mask = ir.Constant(ir.VectorType(ir.IntType(32), vt.lanes), [0] * vt.lanes)
        return builder.shuffle_vector(one, ir.Constant(lt, ir.Undefined), mask)
    return vt(arr, idx), codegen


@intrinsic
def vfma(typingctx, x, y, z):
    if not (isinstance(x, Vec) and x == y == z):
        return None

    def codegen(context, builder, sig, args):
        t = args[0].type
        name = f"llvm.fma.v{t.count}f{x.dtype.bitwidth}"
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(t, [t, t, t]), name)
        return builder.call(fn, args)
    return x(x, y, z), codegen


def _lanewise(emit):
    """An intrinsic f(x, y) of two vectors of one type: ``emit(builder, x, y)``, lane by lane."""
    def f(typingctx, x, y):
        if not (isinstance(x, Vec) and x == y):
            return None

        def codegen(context, builder, sig, args):
            return emit(builder, *args)
        return x(x, y), codegen
    return f


vadd = intrinsic(_lanewise(lambda b, x, y: b.fadd(x, y)))
vsub = intrinsic(_lanewise(lambda b, x, y: b.fsub(x, y)))
# x where x > y or x is NaN: a NaN reaching a fused ReLU stays NaN, as in torch
vmax = intrinsic(_lanewise(lambda b, x, y: b.select(b.fcmp_unordered(">", x, y), x, y)))

def _shuffle(mask_of):
    """An intrinsic f(x, y) of two vectors of one type: lanes of (x, y) concatenated,
    picked by ``mask_of(L)``."""
    def f(typingctx, x, y):
        if not (isinstance(x, Vec) and x == y):
            return None
        mask = ir.Constant(ir.VectorType(ir.IntType(32), x.lanes), mask_of(x.lanes))

        def codegen(context, builder, sig, args):
            return builder.shuffle_vector(args[0], args[1], mask)
        return x(x, y), codegen
    return f


vziplo = intrinsic(_shuffle(lambda L: [i // 2 + (L if i % 2 else 0) for i in range(L)]))
vziphi = intrinsic(_shuffle(lambda L: [L // 2 + i // 2 + (L if i % 2 else 0) for i in range(L)]))
vevens = intrinsic(_shuffle(lambda L: list(range(0, 2 * L, 2))))
vodds = intrinsic(_shuffle(lambda L: list(range(1, 2 * L, 2))))


@intrinsic
def vsum(typingctx, v):
    if not isinstance(v, Vec):
        return None

    def codegen(context, builder, sig, args):
        acc = builder.extract_element(args[0], ir.Constant(ir.IntType(32), 0))
        for i in range(1, v.lanes):
            acc = builder.fadd(acc, builder.extract_element(args[0], ir.Constant(ir.IntType(32), i)))
        return acc
    return v.dtype(v), codegen


@intrinsic
def bits_float(typingctx, i):
    if i not in (types.int32, types.int64):
        return None
    ft = types.float32 if i == types.int32 else types.float64

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(ft))
    return ft(i), codegen


@helper
def _zip_round(r):
    # one round of an 8 x 8 transpose: vectors i and i + 4 zipped into 2i and 2i + 1
    return (vziplo(r[0], r[4]), vziphi(r[0], r[4]), vziplo(r[1], r[5]), vziphi(r[1], r[5]),
            vziplo(r[2], r[6]), vziphi(r[2], r[6]), vziplo(r[3], r[7]), vziphi(r[3], r[7]))


@helper
def vtranspose(src, s, ss, dst, d, ds):
    # log2(L) rounds of zips pairing vectors i and i + L/2 (see the module docstring)
    L = lanes(dst)
    if L == 8:
        r = (vload(src, s), vload(src, s + ss), vload(src, s + 2 * ss), vload(src, s + 3 * ss),
             vload(src, s + 4 * ss), vload(src, s + 5 * ss), vload(src, s + 6 * ss), vload(src, s + 7 * ss))
        t = _zip_round(_zip_round(_zip_round(r)))
        vstore(dst, d, t[0])
        vstore(dst, d + ds, t[1])
        vstore(dst, d + 2 * ds, t[2])
        vstore(dst, d + 3 * ds, t[3])
        vstore(dst, d + 4 * ds, t[4])
        vstore(dst, d + 5 * ds, t[5])
        vstore(dst, d + 6 * ds, t[6])
        vstore(dst, d + 7 * ds, t[7])
        return vadd(vadd(vadd(t[0], t[1]), vadd(t[2], t[3])), vadd(vadd(t[4], t[5]), vadd(t[6], t[7])))
    r0, r1, r2, r3 = vload(src, s), vload(src, s + ss), vload(src, s + 2 * ss), vload(src, s + 3 * ss)
    a0, a1, a2, a3 = vziplo(r0, r2), vziphi(r0, r2), vziplo(r1, r3), vziphi(r1, r3)
    t0, t1, t2, t3 = vziplo(a0, a2), vziphi(a0, a2), vziplo(a1, a3), vziphi(a1, a3)
    vstore(dst, d, t0)
    vstore(dst, d + ds, t1)
    vstore(dst, d + 2 * ds, t2)
    vstore(dst, d + 3 * ds, t3)
    return vadd(vadd(t0, t1), vadd(t2, t3))
