"""A NumPy softmax classifier: the lecture-3 Keras network without Keras.

The original homework used Dense(30, relu) -> Dense(20, relu) -> Dense(2, softmax) with
categorical cross-entropy and Adam. This is the same network on the shared forward/backprop code
of :mod:`reference.backprop`: the output layer is linear, softmax is applied on top, and for
softmax + cross-entropy the output error is simply (p - y_target) / batchsize.

``mask`` switches hidden neurons off (lecture-3 homework 1: "explore the role of various neurons
by switching weights on/off"): ``mask[j]`` multiplies the outputs of hidden layer j.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from reference.backprop import backprop_from_delta, forward
from reference.network import random_network


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def cross_entropy(p: np.ndarray, y_target: np.ndarray) -> float:
    return float(-np.mean(np.sum(y_target * np.log(np.clip(p, 1e-12, 1.0)), axis=1)))


@dataclass
class Adam:
    """Adam (Kingma & Ba) with the Keras defaults."""

    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-7
    t: int = 0
    m: list[np.ndarray] = field(default_factory=list, repr=False)
    v: list[np.ndarray] = field(default_factory=list, repr=False)

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        if not self.m:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
        self.t += 1
        for p, g, m, v in zip(params, grads, self.m, self.v, strict=True):
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * g * g
            m_hat = m / (1 - self.beta1**self.t)
            v_hat = v / (1 - self.beta2**self.t)
            p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


@dataclass
class Classifier:
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    hidden_activation: str = "reLU"

    @classmethod
    def create(
        cls, layer_sizes: Sequence[int], rng: np.random.Generator, hidden_activation: str = "reLU"
    ) -> Classifier:
        """Glorot-uniform weights (the Keras default) and zero biases."""
        weights, biases = random_network(layer_sizes, rng, spread=1.0)
        for j, (n_in, n_out) in enumerate(zip(layer_sizes[:-1], layer_sizes[1:], strict=True)):
            weights[j] *= np.sqrt(6.0 / (n_in + n_out))
            biases[j][:] = 0.0
        return cls(weights, biases, hidden_activation)

    @property
    def activations(self) -> list[str]:
        return [self.hidden_activation] * (len(self.weights) - 1) + ["linear"]

    def _masked(self, mask: Sequence[np.ndarray] | None) -> tuple[list, list]:
        if mask is None:
            return self.weights, self.biases
        # Switching hidden neuron k of layer j off = zeroing its outgoing weights.
        weights = [w.copy() for w in self.weights]
        for j, m in enumerate(mask):
            weights[j + 1] = weights[j + 1] * np.asarray(m, dtype=float)[:, None]
        return weights, self.biases

    def predict_proba(self, x: np.ndarray, mask: Sequence[np.ndarray] | None = None) -> np.ndarray:
        weights, biases = self._masked(mask)
        y_layer, _ = forward(weights, biases, self.activations, x.reshape(len(x), -1))
        return softmax(y_layer[-1])

    def predict(self, x: np.ndarray, mask: Sequence[np.ndarray] | None = None) -> np.ndarray:
        return np.argmax(self.predict_proba(x, mask), axis=1)

    def accuracy(self, x: np.ndarray, labels: np.ndarray, mask=None) -> float:
        return float(np.mean(self.predict(x, mask) == np.argmax(labels, axis=1)))

    def fit(
        self,
        x: np.ndarray,
        labels: np.ndarray,
        rng: np.random.Generator,
        epochs: int = 30,
        batchsize: int = 32,
        lr: float = 1e-3,
    ) -> np.ndarray:
        """Mini-batch Adam on cross-entropy; returns the mean loss per epoch."""
        x = x.reshape(len(x), -1)
        optimizer = Adam(lr=lr)
        history = np.empty(epochs)
        for epoch in range(epochs):
            order = rng.permutation(len(x))
            losses = []
            for start in range(0, len(x), batchsize):
                idx = order[start : start + batchsize]
                y_layer, df_layer = forward(self.weights, self.biases, self.activations, x[idx])
                p = softmax(y_layer[-1])
                losses.append(cross_entropy(p, labels[idx]))
                delta = (p - labels[idx]) / len(idx)
                dw, db = backprop_from_delta(self.weights, y_layer, df_layer, delta)
                optimizer.step(self.weights + self.biases, dw + db)
            history[epoch] = np.mean(losses)
        return history
