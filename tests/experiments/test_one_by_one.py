"""one-by-one's exact checks and depth's plain twin, on their own."""
import numpy as np
import pytest

from engine.experiments import depth, one_by_one
from engine.experiments.activation import steps_to
from engine.experiments.permute import mlp_like, permuted
from engine.nn import Residual


@pytest.mark.parametrize("n, c, o, size", [(1, 1, 1, 1), (2, 8, 5, 6), (3, 17, 9, 5), (2, 64, 32, 4)])
def test_conv1x1_is_a_per_pixel_linear(n, c, o, size):
    """Equal up to float32 rounding (the kernels may sum the channels in another order)."""
    check = one_by_one.conv1x1_vs_linear(n, c, o, size, seed=3)
    assert check["shape"] == (n, o, size, size)
    assert check["equal"] and check["max_diff"] <= check["tolerance"], f"max |difference| {check['max_diff']}"


@pytest.mark.parametrize("n, c, o", [(1, 1, 1), (2, 16, 10), (3, 3, 7)])
def test_linear_over_7x7_is_a_7x7_conv(n, c, o):
    check = one_by_one.linear_vs_conv7(n, c, o, seed=5)
    assert check["shape"] == (n, o)
    assert check["equal"] and check["max_diff"] <= check["tolerance"]


def test_googlenet_reductions_save_parameters_and_macs():
    rows = one_by_one.googlenet_reductions()
    assert len(rows) == 18                                  # 9 Inception blocks x (3x3, 5x5) branches
    assert rows[0][1] == (192, 32, 32) and rows[-1][1] == (832, 8, 8)
    for block, shape, branch, pw, mw, pd, md in rows:
        assert pw < pd and mw < md
    # the first block's 5x5 branch by hand: 192 -> 1x1 16 -> 5x5 32 against 192 -> 5x5 32 at 32x32
    assert rows[1][3:] == (192 * 16 + 16 + 16 * 32 * 25 + 32, (192 * 16 + 16 * 32 * 25) * 1024,
                           192 * 32 * 25 + 32, 192 * 32 * 25 * 1024)


@pytest.mark.parametrize("d", [8, 20, 56])
def test_plain_twin_drops_only_the_shortcuts(d):
    res, plain = depth.cifar_net(d, True), depth.cifar_net(d, False)
    assert not any(isinstance(m, Residual) for m in plain.modules())
    assert sum(isinstance(m, Residual) for m in res.modules()) == 3 * (d - 2) // 6
    # the two projection shortcuts (1x1 conv + batch norm) are all the parameters that differ
    assert res.num_parameters() - plain.num_parameters() == (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)
    assert plain.output_shape((3, 32, 32)) == (10,)


@pytest.mark.parametrize("d", [7, 9, 2, 0])
def test_depth_must_be_6n_plus_2(d):
    with pytest.raises(ValueError, match=r"depth must be 6n \+ 2"):
        depth.cifar_net(d, False)


def test_steps_to_target():
    acc = np.array([0.1, 0.2, 0.5, 0.9, 0.9, 0.95])
    assert steps_to(acc, 0.9, 1) == 4
    assert steps_to(acc, 0.9, 2) == 5
    assert steps_to(acc, 0.99, 2) is None
    assert steps_to(acc[:1], 0.0, 2) is None


def test_permutation_and_the_matched_mlp():
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    perm = np.random.default_rng(0).permutation(12)
    out = permuted(images, perm)
    assert np.array_equal(out.reshape(2, 12), images.reshape(2, 12)[:, perm])
    assert abs(mlp_like(6422).num_parameters() - 6422) <= 795 // 2
