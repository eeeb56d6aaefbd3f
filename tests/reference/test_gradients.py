"""Backprop gradients equal finite differences for every activation, depth and batch size."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from reference.backprop import backprop, cost, forward
from reference.curve_fitting import f_theta, grad_f_theta

ACTIVATION_NAMES = ["sigmoid", "linear", "reLU", "tanh", "jump"]


def numerical_gradient(weights, biases, activations, y_in, y_target, h=1e-6):
    def c():
        y_layer, _ = forward(weights, biases, activations, y_in)
        return cost(y_layer[-1], y_target)

    grads = []
    for params in (weights, biases):
        layer_grads = []
        for p in params:
            g = np.zeros_like(p)
            for index in np.ndindex(p.shape):
                old = p[index]
                p[index] = old + h
                up = c()
                p[index] = old - h
                down = c()
                p[index] = old
                g[index] = (up - down) / (2 * h)
            layer_grads.append(g)
        grads.append(layer_grads)
    return grads


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 4), min_size=2, max_size=5),
    batch=st.integers(1, 6),
    names=st.lists(st.sampled_from(ACTIVATION_NAMES), min_size=4, max_size=4),
    seed=st.integers(0, 2**32 - 1),
)
def test_backprop_equals_finite_differences(sizes, batch, names, seed):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(a, b)) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    biases = [rng.normal(size=b) for b in sizes[1:]]
    activations = names[: len(weights)]
    y_in = rng.normal(size=(batch, sizes[0]))
    y_target = rng.normal(size=(batch, sizes[-1]))

    y_layer, df_layer = forward(weights, biases, activations, y_in)
    # Finite differences are meaningless within h of a kink (reLU, jump): keep away from them.
    zs = []
    y = y_in
    for w, b, yl in zip(weights, biases, y_layer[1:], strict=True):
        zs.append(y @ w + b)
        y = yl
    assume(all(np.min(np.abs(z)) > 1e-3 for z in zs))

    dw, db = backprop(weights, y_layer, df_layer, y_target)
    num_dw, num_db = numerical_gradient(weights, biases, activations, y_in, y_target)
    for analytic, numeric in zip(dw + db, num_dw + num_db, strict=True):
        assert analytic.shape == numeric.shape
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


@settings(max_examples=30, deadline=None)
@given(batch=st.integers(1, 50), seed=st.integers(0, 2**32 - 1))
def test_gradient_is_a_batch_average(batch, seed):
    """Repeating every sample k times must not change any layer's gradient (mistake 1)."""
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(2, 3)), rng.normal(size=(3, 3)), rng.normal(size=(3, 1))]
    biases = [rng.normal(size=3), rng.normal(size=3), rng.normal(size=1)]
    acts = ["sigmoid", "sigmoid", "linear"]
    y_in, y_t = rng.normal(size=(batch, 2)), rng.normal(size=(batch, 1))
    once = backprop(weights, *forward(weights, biases, acts, y_in), y_t)
    thrice = backprop(weights, *forward(weights, biases, acts, np.tile(y_in, (3, 1))),
                      np.tile(y_t, (3, 1)))
    for a, b in zip(once[0] + once[1], thrice[0] + thrice[1], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_cost_has_the_one_half():
    """C = 1/2 <|y_out - y_target|^2> (mistake 2): one sample, distance 2 gives C = 2."""
    assert cost(np.array([[1.0, 0.0]]), np.array([[1.0, 2.0]])) == 2.0


@settings(max_examples=40, deadline=None)
@given(theta0=st.floats(-5, 5), theta1=st.floats(-3, 3), seed=st.integers(0, 2**32 - 1))
def test_curve_fitting_gradient_equals_finite_differences(theta0, theta1, seed):
    """The corrected d/dtheta1 has the square in the denominator (mistake 3)."""
    x = np.random.default_rng(seed).normal(scale=2.0, size=20)
    theta = np.array([theta0, theta1])
    h = 1e-6
    for k in range(2):
        e = np.zeros(2)
        e[k] = h
        numeric = (f_theta(theta + e, x) - f_theta(theta - e, x)) / (2 * h)
        np.testing.assert_allclose(grad_f_theta(theta, x)[k], numeric, rtol=1e-5, atol=1e-7)


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 5), min_size=2, max_size=5),
    batches=st.lists(st.integers(1, 7), min_size=1, max_size=3),
    names=st.lists(st.sampled_from(ACTIVATION_NAMES), min_size=4, max_size=4),
    seed=st.integers(0, 2**32 - 1),
)
def test_network_workspace_path_equals_the_functions(sizes, batches, names, seed):
    """Network.forward/backprop reuse buffers between calls; they must compute exactly what
    forward()/backprop() compute, also when the batch size changes between calls."""
    from reference.backprop import Network

    rng = np.random.default_rng(seed)
    net = Network.random(sizes, names[: len(sizes) - 1], rng)
    for batch in batches:
        y_in = rng.normal(size=(batch, sizes[0]))
        y_target = rng.normal(size=(batch, sizes[-1]))
        out = net.forward(y_in, surrogate=True)
        y_layer, df_layer = forward(net.weights, net.biases, net.activations, y_in, surrogate=True)
        np.testing.assert_allclose(out, y_layer[-1], rtol=1e-12, atol=1e-14)
        for a, b in zip(net.df_layer, df_layer, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
        net.backprop(y_target)
        dw, db = backprop(net.weights, y_layer, df_layer, y_target)
        for a, b in zip(net.dw_layer + net.db_layer, dw + db, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
