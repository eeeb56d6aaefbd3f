"""Activation functions by the names the lectures use, with their derivatives.

The lecture code selects activations by string (``'sigmoid'``, ``'jump'``, ``'linear'``,
``'reLU'``); students will type those spellings, and also ``'relu'``, ``'ReLU'``, ``'step'``,
``'tanh'`` (the PSI lecture). All spellings map to one table, so a misspelling is a clear
``ValueError`` listing what is accepted, not a silent wrong network.

``jump`` is the step function of the single-layer quizzes: 1 for z > 0 and 0 otherwise, so 0 at
z = 0 exactly. Its true derivative is 0 almost everywhere, which stops gradient descent dead;
the lecture's training code therefore uses a smooth stand-in. Here :func:`derivative` returns the
true derivative, and ``derivative(name, z, surrogate=True)`` the stand-in used for training
(the derivative of a sigmoid, a choice that keeps the sign and scale of the step's "slope").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

ArrayFn = Callable[[np.ndarray], np.ndarray]


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)); exp overflows to inf for z < -709, which correctly gives 0.

    Written as in-place steps on one buffer: this is the hot loop of training and of the
    forward/backward benchmark, and each temporary array costs as much as the exp itself.
    """
    z = np.asarray(z, dtype=float)
    e = np.negative(z, out=np.empty_like(z))
    with np.errstate(over="ignore"):
        np.exp(e, out=e)
    e += 1.0
    return np.reciprocal(e, out=e)


def jump(z: np.ndarray) -> np.ndarray:
    """Step function: 1.0 where z > 0, else 0.0 (0 at z = 0, as in the lecture code)."""
    return np.where(np.asarray(z) > 0, 1.0, 0.0)


def linear(z: np.ndarray) -> np.ndarray:
    return np.asarray(z, dtype=float)


def reLU(z: np.ndarray) -> np.ndarray:
    """max(z, 0); derivative taken as 0 at z = 0 (the lecture's ``z > 0`` convention)."""
    z = np.asarray(z, dtype=float)
    return np.where(z > 0, z, 0.0)


def tanh(z: np.ndarray) -> np.ndarray:
    return np.tanh(np.asarray(z, dtype=float))


def _d_sigmoid(z: np.ndarray) -> np.ndarray:
    return _sigmoid_pair(z)[1]


def _sigmoid_pair(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sigmoid and its derivative s (1 - s) from one exp."""
    s = sigmoid(z)
    ds = np.subtract(1.0, s)
    ds *= s
    return s, ds


def _d_jump(z: np.ndarray) -> np.ndarray:
    return np.zeros_like(np.asarray(z, dtype=float))


def _d_linear(z: np.ndarray) -> np.ndarray:
    return np.ones_like(np.asarray(z, dtype=float))


def _d_reLU(z: np.ndarray) -> np.ndarray:
    return np.where(np.asarray(z) > 0, 1.0, 0.0)


def _d_tanh(z: np.ndarray) -> np.ndarray:
    return 1.0 - np.tanh(np.asarray(z, dtype=float)) ** 2


@dataclass(frozen=True)
class Activation:
    """An activation function f, its derivative f', and the f' used when training."""

    name: str
    f: ArrayFn
    df: ArrayFn
    df_train: ArrayFn

    def f_and_df(self, z: np.ndarray, surrogate: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(f(z), f'(z)) sharing work where possible (the forward pass needs both)."""
        if self.f is sigmoid:
            return _sigmoid_pair(z)
        return self.f(z), (self.df_train(z) if surrogate else self.df(z))

    def apply_in_place(self, zy: np.ndarray, df: np.ndarray, surrogate: bool = False) -> None:
        """Overwrite ``zy`` (holding z) with f(z) and ``df`` with f'(z), allocating nothing for
        sigmoid: the training loop's buffers are reused from step to step (see
        ``reference.backprop.Network``)."""
        if self.f is sigmoid:  # sigmoid(z) = (1 + tanh(z/2)) / 2: no overflow, no division
            np.multiply(zy, 0.5, out=zy)
            np.tanh(zy, out=zy)
            np.multiply(zy, 0.5, out=zy)
            zy += 0.5
            np.subtract(1.0, zy, out=df)
            df *= zy
            return
        np.copyto(df, self.df_train(zy) if surrogate else self.df(zy))
        np.copyto(zy, self.f(zy))


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation("sigmoid", sigmoid, _d_sigmoid, _d_sigmoid),
    "jump": Activation("jump", jump, _d_jump, _d_sigmoid),
    "linear": Activation("linear", linear, _d_linear, _d_linear),
    "reLU": Activation("reLU", reLU, _d_reLU, _d_reLU),
    "tanh": Activation("tanh", tanh, _d_tanh, _d_tanh),
}

_ALIASES = {
    "sigmoid": "sigmoid",
    "logistic": "sigmoid",
    "jump": "jump",
    "step": "jump",
    "heaviside": "jump",
    "linear": "linear",
    "identity": "linear",
    "relu": "reLU",
    "tanh": "tanh",
}


def lookup(name: str | Activation) -> Activation:
    """Look up an activation by any accepted spelling (case-insensitive)."""
    if isinstance(name, Activation):
        return name
    key = _ALIASES.get(str(name).lower())
    if key is None:
        accepted = ", ".join(sorted(ACTIVATIONS))
        raise ValueError(f"unknown activation {name!r}; use one of: {accepted}")
    return ACTIVATIONS[key]


def derivative(name: str | Activation, z: np.ndarray, surrogate: bool = False) -> np.ndarray:
    """f'(z) for the named activation; ``surrogate=True`` gives the stand-in used in training."""
    act = lookup(name)
    return act.df_train(z) if surrogate else act.df(z)
