"""The forward pass in the lecture's batched row-vector convention.

A batch of inputs is ``y[batch, n_in]``; a layer's weights are ``w[n_in, n_out]`` and biases
``b[n_out]``, so ``z = y @ w + b`` (lecture 1 "new order", and the PSI formula
a_j = g(sum_i a_i W_ij + b_j)). A single input vector ``y[n_in]`` works too and gives ``[n_out]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reference.activations import Activation, lookup


def apply_layer(
    y_in: np.ndarray, w: np.ndarray, b: np.ndarray, activation: str | Activation = "sigmoid"
) -> np.ndarray:
    """One layer: f(y_in @ w + b)."""
    z = np.asarray(y_in, dtype=float) @ np.asarray(w, dtype=float) + np.asarray(b, dtype=float)
    return lookup(activation).f(z)


def _per_layer(activations: str | Sequence[str], n_layers: int) -> list[str]:
    if isinstance(activations, str | Activation):
        return [activations] * n_layers
    activations = list(activations)
    if len(activations) != n_layers:
        raise ValueError(f"{n_layers} layers need {n_layers} activations, got {len(activations)}")
    return activations


def apply_net(
    y_in: np.ndarray,
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    activations: str | Sequence[str] = "sigmoid",
) -> np.ndarray:
    """All layers in turn; ``activations`` is one name for every layer or one per layer."""
    if len(weights) != len(biases):
        raise ValueError(f"{len(weights)} weight matrices but {len(biases)} bias vectors")
    y = np.asarray(y_in, dtype=float)
    for w, b, act in zip(weights, biases, _per_layer(activations, len(weights)), strict=True):
        y = apply_layer(y, w, b, act)
    return y


def random_network(
    layer_sizes: Sequence[int], rng: np.random.Generator, spread: float = 1.0
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Weights and biases drawn uniformly from [-spread, spread], as in the lecture's examples."""
    weights = [
        rng.uniform(-spread, spread, size=(n_in, n_out))
        for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:], strict=True)
    ]
    biases = [rng.uniform(-spread, spread, size=n_out) for n_out in layer_sizes[1:]]
    return weights, biases


def grid(
    M: int, y0range: Sequence[float] = (-1.0, 1.0), y1range: Sequence[float] = (-1.0, 1.0)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An M x M grid of the (y0, y1) plane as a batch ``[M*M, 2]``, plus the two axes.

    Row index runs over y1 and column index over y0, so ``values.reshape(M, M)`` shown with
    ``imshow(origin='lower')`` puts y0 horizontally, as ``visualize_network`` does.
    """
    y0 = np.linspace(y0range[0], y0range[1], M)
    y1 = np.linspace(y1range[0], y1range[1], M)
    Y0, Y1 = np.meshgrid(y0, y1)
    return np.column_stack([Y0.ravel(), Y1.ravel()]), y0, y1


def lecture_layout_to_batched(
    weights: Sequence[Sequence[Sequence[float]]], biases: Sequence[Sequence[float]]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Convert the lecture's ``weights[j][out, in]`` layout to ``[in, out]`` matrices."""
    ws = [np.atleast_2d(np.asarray(w, dtype=float)).T for w in weights]
    bs = [np.atleast_1d(np.asarray(b, dtype=float)) for b in biases]
    for j, (w, b) in enumerate(zip(ws, bs, strict=True)):
        if w.shape[1] != b.shape[0]:
            raise ValueError(f"layer {j}: {w.shape[1]} output neurons but {b.shape[0]} biases")
        if j > 0 and ws[j - 1].shape[1] != w.shape[0]:
            raise ValueError(
                f"layer {j} expects {w.shape[0]} inputs but layer {j - 1} has {ws[j - 1].shape[1]}"
            )
    return ws, bs
