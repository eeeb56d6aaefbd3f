"""Forward pass conventions, activations, the homework's AND/XOR networks, the visualization."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from reference import apply_layer, apply_net, jump, lookup, reLU, sigmoid
from reference.network import lecture_layout_to_batched
from reference.visualize import output_on_plane, visualize_network

CORNERS = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])


def lecture_net(weights, biases, activations, y):
    ws, bs = lecture_layout_to_batched(weights, biases)
    return apply_net(y, ws, bs, activations)


def test_jump_is_zero_at_zero_and_one_above():
    np.testing.assert_array_equal(jump(np.array([-1.0, 0.0, 1e-12, 3.0])), [0, 0, 1, 1])


def test_activation_spellings():
    assert lookup("reLU") is lookup("relu") is lookup("ReLU")
    assert lookup("step") is lookup("jump")
    with pytest.raises(ValueError, match="unknown activation 'sigmod'"):
        lookup("sigmod")
    np.testing.assert_allclose(sigmoid(np.array([0.0, 800.0, -800.0])), [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(reLU(np.array([-2.0, 0.0, 2.0])), [0, 0, 2])


def test_apply_layer_is_row_vector_convention():
    rng = np.random.default_rng(0)
    y, w, b = rng.normal(size=(5, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)
    out = apply_layer(y, w, b, "linear")
    assert out.shape == (5, 2)
    np.testing.assert_allclose(out[1], y[1] @ w + b)
    np.testing.assert_allclose(apply_layer(y[1], w, b, "linear"), out[1])


def test_and_warm_up_truth_table():
    """Homework hint: y_out = f(y0 + y1 - 1.5) on 0/1 inputs."""
    inputs = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    out = lecture_net([[[1.0, 1.0]]], [[-1.5]], ["jump"], inputs)[:, 0]
    np.testing.assert_array_equal(out, [0, 0, 0, 1])


def test_alternative_and_truth_table():
    """+1 exactly for y0 > 0 AND y1 > 0, with a jump hidden layer."""
    out = lecture_net([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 1.0]]], [[0.0, 0.0], [-1.5]],
                      ["jump", "jump"], CORNERS)[:, 0]
    np.testing.assert_array_equal(out, [1, 0, 0, 0])


def test_xor_two_hidden_layers_truth_table():
    """The hint's XOR network: 1 exactly when y0 * y1 < 0."""
    out = lecture_net(
        [[[-1.0, 0.0], [0, 1], [1, 0], [0, -1]], [[1, 1, 0, 0], [0, 0, 1, 1]], [[1, 1]]],
        [[0, 0, 0, 0], [-1.5, -1.5], [0]], ["jump", "jump", "linear"], CORNERS)[:, 0]
    np.testing.assert_array_equal(out, (CORNERS[:, 0] * CORNERS[:, 1] < 0).astype(float))


def test_xor_one_hidden_layer_truth_table():
    """The hint's one-hidden-layer XOR on the corners (-1,-1), (-1,+1), ..."""
    out = lecture_net([[[-1.0, 1.0], [1, -1]], [[1, 1]]], [[-1.5, -1.5], [0]],
                      ["jump", "linear"], CORNERS)[:, 0]
    np.testing.assert_array_equal(out, (CORNERS[:, 0] * CORNERS[:, 1] < 0).astype(float))


def test_lecture_layout_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="layer 1 expects 3 inputs but layer 0 has 2"):
        lecture_layout_to_batched([[[1, 0], [0, 1]], [[1, 1, 1]]], [[0, 0], [0]])


def test_visualize_network_returns_headless_figure_with_the_output_map():
    weights = [[[1.0, 1.0]]]
    fig = visualize_network(weights, [[-0.5]], ["jump"], M=50, y0range=[-1, 1], y1range=[-1, 1])
    assert isinstance(fig, Figure)
    image = [ax for ax in fig.axes if ax.images][0].images[0]
    ws, bs = lecture_layout_to_batched(weights, [[-0.5]])
    expected = output_on_plane(ws, bs, ["jump"], 50, (-1, 1), (-1, 1))
    np.testing.assert_array_equal(image.get_array(), expected)
    # y0 runs horizontally: the top-right corner (y0=y1=1) is 1, the bottom-left is 0.
    assert expected[-1, -1] == 1 and expected[0, 0] == 0
    # y0 horizontal: f(y0 - 0.5) depends on the column only
    fig2 = visualize_network([[[1.0, 0.0]]], [[-0.5]], ["jump"], M=20)
    img = [ax for ax in fig2.axes if ax.images][0].images[0].get_array()
    assert np.all(img[:, -1] == 1) and np.all(img[:, 0] == 0)
