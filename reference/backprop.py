"""Backpropagation for a multi-layer network, in the lecture-2 names and shapes.

Per layer j the forward pass stores ``y_layer[j]`` (values, ``[batch, n_j]``; ``y_layer[0]`` is
the input) and ``df_layer[j]`` (f'(z) of layer j+1's neurons, ``[batch, n_{j+1}]``). Backprop
gives ``dw_layer[j]`` with the shape of ``weights[j]`` (``[n_j, n_{j+1}]``, independent of the
batch size) and ``db_layer[j]`` with the shape of ``biases[j]``.

The cost is C = 1/2 < |y_out - y_target|^2 >: half the squared distance, summed over output
neurons and averaged over the batch. The gradient below is exactly the gradient of that C; the
tests check it against finite differences for every activation, depth and batch size.

The three known mistakes of the original course code, and what this module does instead:

1. The lecture's ``backprop`` divides only the last layer's ``dw`` by the batch size and forgets
   it for hidden layers (the tutorial adds it). Here the output error ``delta`` is divided by the
   batch size once, so every layer's gradient carries exactly one 1/batchsize.
2. The lecture's cost has no factor 1/2, while its gradient ``(y_out - y_target) * f'`` is the
   gradient of the cost *with* 1/2 (the tutorial's ``0.5 * mean(...)``). Here C has the 1/2.
3. The 2020 curve-fitting notebook's d/dtheta1 misses the square in the denominator; see
   :mod:`reference.curve_fitting` for the correct 2 theta0 (x - theta1) / ((x - theta1)^2 + 1)^2.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from reference.activations import lookup
from reference.network import random_network


def forward(
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    activations: Sequence[str],
    y_in: np.ndarray,
    surrogate: bool = False,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Forward pass keeping what backprop needs: ``(y_layer, df_layer)``.

    ``surrogate=True`` stores the training stand-in derivative for ``'jump'`` layers.
    """
    y = np.atleast_2d(np.asarray(y_in, dtype=float))
    y_layer, df_layer = [y], []
    for w, b, name in zip(weights, biases, activations, strict=True):
        z = y @ w
        z += b
        y, df = lookup(name).f_and_df(z, surrogate)
        df_layer.append(df)
        y_layer.append(y)
    return y_layer, df_layer


def cost(y_out: np.ndarray, y_target: np.ndarray) -> float:
    """C = 1/2 <|y_out - y_target|^2>, summed over outputs, averaged over the batch."""
    diff = np.atleast_2d(y_out) - np.atleast_2d(y_target)
    return 0.5 * float(np.mean(np.sum(diff**2, axis=1)))


def backward_step(delta: np.ndarray, w: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Move the error one layer down: (delta @ w.T) * f'(z) (lecture 2's ``backward_step``)."""
    back = delta @ w.T
    back *= df
    return back


def backprop_from_delta(
    weights: Sequence[np.ndarray], y_layer: Sequence[np.ndarray], df_layer: Sequence[np.ndarray],
    delta: np.ndarray,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Gradients given dC/dz of the output layer (already including 1/batchsize).

    Shared by the squared-error network below and the softmax classifier, whose output error
    is (p - y_target)/batchsize.
    """
    n = len(weights)
    dw_layer: list[np.ndarray] = [np.empty(0)] * n
    db_layer: list[np.ndarray] = [np.empty(0)] * n
    for j in range(n - 1, -1, -1):
        dw_layer[j] = y_layer[j].T @ delta
        db_layer[j] = delta.sum(axis=0)
        if j > 0:
            delta = backward_step(delta, weights[j], df_layer[j - 1])
    return dw_layer, db_layer


def backprop(
    weights: Sequence[np.ndarray], y_layer: Sequence[np.ndarray], df_layer: Sequence[np.ndarray],
    y_target: np.ndarray,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``(dw_layer, db_layer)``: the gradient of :func:`cost` with respect to every parameter."""
    y_out = y_layer[-1]
    batchsize = y_out.shape[0]
    delta = (y_out - np.atleast_2d(y_target)) * df_layer[-1] / batchsize
    return backprop_from_delta(weights, y_layer, df_layer, delta)


@dataclass
class _Workspace:
    """The arrays one training step writes, kept from step to step.

    Why: a step of a [2, 100, 100, 1] network at batch 1000 creates a dozen arrays of 800 kB.
    Fresh arrays that size come from mmap and each of their pages faults on first write, which on
    virtual machines costs more than the arithmetic (PyTorch avoids it with a caching allocator).
    The lecture code overwrote its global ``y_layer`` lists every step too.
    """

    batch: int
    y: list[np.ndarray]
    df: list[np.ndarray]
    delta: list[np.ndarray]
    dw: list[np.ndarray]
    db: list[np.ndarray]
    ones: np.ndarray
    """sums over the batch as ``ones @ delta``: a BLAS call, faster than ``delta.sum(axis=0)``"""

    @classmethod
    def for_network(cls, weights: Sequence[np.ndarray], batch: int) -> _Workspace:
        outs = [w.shape[1] for w in weights]
        return cls(
            batch=batch,
            y=[np.empty(0)] + [np.empty((batch, n)) for n in outs],
            df=[np.empty((batch, n)) for n in outs],
            delta=[np.empty((batch, n)) for n in outs],
            dw=[np.empty_like(w) for w in weights],
            db=[np.empty(w.shape[1]) for w in weights],
            ones=np.ones(batch),
        )


@dataclass
class Network:
    """A trainable network holding the lecture's per-layer arrays between calls.

    ``forward``/``backprop`` compute exactly what the functions of the same names compute (a
    test checks they agree), but into a :class:`_Workspace`: the arrays in ``y_layer``,
    ``df_layer``, ``dw_layer`` and ``db_layer`` are overwritten by the next call, as in the
    lecture code. Copy them to keep them.
    """

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    activations: list[str]
    y_layer: list[np.ndarray] = field(default_factory=list, repr=False)
    df_layer: list[np.ndarray] = field(default_factory=list, repr=False)
    dw_layer: list[np.ndarray] = field(default_factory=list, repr=False)
    db_layer: list[np.ndarray] = field(default_factory=list, repr=False)
    _workspace: _Workspace | None = field(default=None, repr=False, compare=False)

    @classmethod
    def random(
        cls,
        layer_sizes: Sequence[int],
        activations: str | Sequence[str],
        rng: np.random.Generator,
        spread: float = 1.0,
    ) -> Network:
        weights, biases = random_network(layer_sizes, rng, spread)
        if isinstance(activations, str):
            activations = [activations] * len(weights)
        return cls(weights, biases, list(activations))

    def _buffers(self, batch: int) -> _Workspace:
        if self._workspace is None or self._workspace.batch != batch:
            self._workspace = _Workspace.for_network(self.weights, batch)
        return self._workspace

    def forward(self, y_in: np.ndarray, surrogate: bool = True) -> np.ndarray:
        y = np.atleast_2d(np.asarray(y_in, dtype=float))
        ws = self._buffers(y.shape[0])
        ws.y[0] = y
        for j, (w, b, name) in enumerate(zip(self.weights, self.biases, self.activations,
                                             strict=True)):
            z = np.matmul(ws.y[j], w, out=ws.y[j + 1])
            z += b
            lookup(name).apply_in_place(z, ws.df[j], surrogate)
        self.y_layer, self.df_layer = ws.y, ws.df
        return ws.y[-1]

    def backprop(self, y_target: np.ndarray) -> None:
        """Same arithmetic as :func:`backprop`, written into the workspace."""
        ws = self._buffers(self.y_layer[-1].shape[0])
        delta = np.subtract(self.y_layer[-1], y_target, out=ws.delta[-1])
        delta *= self.df_layer[-1]
        delta /= ws.batch
        for j in range(len(self.weights) - 1, -1, -1):
            np.matmul(self.y_layer[j].T, delta, out=ws.dw[j])
            np.dot(ws.ones, delta, out=ws.db[j])
            if j > 0:
                delta = np.matmul(delta, self.weights[j].T, out=ws.delta[j - 1])
                delta *= self.df_layer[j - 1]
        self.dw_layer, self.db_layer = ws.dw, ws.db

    def gradient_step(self, eta: float) -> None:
        for w, b, dw, db in zip(self.weights, self.biases, self.dw_layer, self.db_layer,
                                strict=True):
            w -= eta * dw
            b -= eta * db

    def train_batch(self, y_in: np.ndarray, y_target: np.ndarray, eta: float) -> float:
        """One forward pass, backprop and step; returns the cost before the step."""
        y_out = self.forward(y_in)
        self.backprop(y_target)
        self.gradient_step(eta)
        return cost(y_out, y_target)

    def train(
        self,
        target: Callable[[np.ndarray], np.ndarray],
        steps: int,
        batchsize: int,
        eta: float,
        rng: np.random.Generator,
        input_range: tuple[float, float] = (-1.0, 1.0),
    ) -> np.ndarray:
        """Fit ``target`` on inputs drawn uniformly from ``input_range``; the cost history."""
        n_in = self.weights[0].shape[0]
        history = np.empty(steps)
        for step in range(steps):
            y_in = rng.uniform(*input_range, size=(batchsize, n_in))
            history[step] = self.train_batch(y_in, target(y_in), eta)
        return history

    def __call__(self, y_in: np.ndarray) -> np.ndarray:
        return forward(self.weights, self.biases, self.activations, y_in)[0][-1]
