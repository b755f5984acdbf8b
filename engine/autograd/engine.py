"""The backward pass: runs recorded nodes in reverse topological order.

``backward(roots, grads)`` counts, for every node reachable from the roots, how many
edges lead into it; a node runs once all of them have delivered (so a tensor used
twice gets the sum of both uses' gradients before its maker runs). A leaf tensor
likewise gets the sum of its uses' gradients once they have all arrived: its hooks
(``register_hook``) see that sum, which is then accumulated into its ``.grad`` (``+=``,
so several backward calls accumulate, as in torch), then its post-accumulate hooks run
(gradient buckets for distributed training hang there). Without ``retain_graph`` every
node releases what it saved once it has run.
"""
from __future__ import annotations

import numpy as np

from .. import kernels
from .function import RELEASED, Node


def _add(a, b):
    """a + b of two gradients of one tensor, None meaning zero (never in place: either
    may be held elsewhere, e.g. one gradient handed to both branches of a sum)."""
    if a is None or b is None:
        return b if a is None else a
    return kernels.ops(kernels.device_of(a)).add(a, b)


def _cast(g, dtype):
    """Gradient ``g`` in ``dtype``, the dtype of the tensor it is for (an op of mixed
    dtypes hands back wider ones, e.g. ``float32 * int64`` gives ``g * int64``, float64;
    torch casts every gradient to its input's dtype, and our kernels take one dtype). A
    numpy scalar (what numpy's arithmetic on 0-d arrays returns) becomes a 0-d array."""
    if isinstance(g, np.generic):
        g = np.asarray(g)
    if g is None or np.dtype(g.dtype) == dtype:
        return g
    if isinstance(g, np.ndarray):
        return g.astype(dtype)
    kops = kernels.ops(kernels.device_of(g))
    return kops.asarray(np.asarray(kops.to_host(g)).astype(dtype), dtype=dtype)


def backward(roots, grads, retain_graph: bool = False) -> None:
    """Accumulates d(sum of roots * grads)/d leaf into every reachable leaf's ``.grad``.

    roots: Tensors; grads: one array of each root's shape."""
    deps: dict = {}
    buffers: dict = {}
    leaf_deps: dict = {}     # id(leaf) -> uses not yet delivered
    leaf_grads: dict = {}    # id(leaf) -> sum of the delivered ones
    stack = []
    for t, g in zip(roots, grads):
        if t.grad_fn is None:
            if t.requires_grad:
                t._accumulate(g)
            continue
        node = t.grad_fn
        slot = buffers.setdefault(node, [None] * len(node.out_meta))
        slot[t.output_nr] = _add(slot[t.output_nr], g)
        if node not in deps:
            deps[node] = 0
            stack.append(node)
    # count the edges into every reachable node
    seen = set(deps)
    while stack:
        node = stack.pop()
        for edge in node.next_edges:
            if edge is None:
                continue
            nxt = edge[0]
            if not isinstance(nxt, Node):   # a leaf tensor
                leaf_deps[id(nxt)] = leaf_deps.get(id(nxt), 0) + 1
                continue
            deps[nxt] = deps.get(nxt, 0) + 1
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    ready = [n for n in buffers if deps[n] == 0]
    while ready:
        node = ready.pop()
        if node.released:
            raise RuntimeError(RELEASED)
        slot = buffers.pop(node)
        if all(g is None for g in slot):   # nothing flowed here: pass nothing on
            grads_in = (None,) * len(node.next_edges)
            if not retain_graph:
                node.release()
        else:
            grads_in = _run(node, slot, retain_graph)
        for edge, g in zip(node.next_edges, grads_in):
            if edge is None:
                continue
            target, index = edge
            if not isinstance(target, Node):   # a leaf: .grad gets the sum of its uses, once
                key = id(target)
                leaf_grads[key] = _add(leaf_grads.get(key), _cast(g, target.dtype))
                leaf_deps[key] -= 1
                if leaf_deps[key] == 0 and leaf_grads[key] is not None:
                    target._accumulate(leaf_grads.pop(key))
                continue
            tslot = buffers.setdefault(target, [None] * len(target.out_meta))
            tslot[index] = _add(tslot[index], _cast(g, target.out_meta[index][1]))
            deps[target] -= 1
            if deps[target] == 0:
                ready.append(target)


def _run(node, slot, retain_graph):
    """The node's input gradients for output gradients ``slot`` (None -> zeros, after
    the tensor hooks registered on that output)."""
    for i, g in enumerate(slot):
        if node.pre_hooks and i in node.pre_hooks and g is not None:
            for hook in node.pre_hooks[i]:
                r = hook(g)
                g = g if r is None else r
        if g is None:
            shape, dtype, device = node.out_meta[i]
            g = kernels.ops(device).zeros(shape, dtype)
        slot[i] = g
    grads_in = node.fn._backward(node, slot)
    if not isinstance(grads_in, tuple):
        grads_in = (grads_in,)
    n = len(node.next_edges)
    if len(grads_in) < n and all(e is None for e in node.next_edges[len(grads_in):]):
        grads_in = grads_in + (None,) * (n - len(grads_in))   # trailing non-tensor arguments
    if len(grads_in) != n:
        raise RuntimeError(f"{node.fn.__name__}.backward returned {len(grads_in)} gradients; its forward "
                           f"took {n} inputs")
    if not retain_graph:
        node.release()
    return grads_in
