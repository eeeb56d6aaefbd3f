"""Seeded data generators for the classifier homework (lecture 3 and the PSI lecture).

Every generator takes an explicit ``numpy.random.Generator`` and returns balanced classes:
exactly half of the samples in each class (n must be even), in shuffled order, with one-hot
labels ``[n, 2]`` where column 1 is the "positive" class named in each docstring.
"""

from __future__ import annotations

from itertools import product

import numpy as np


def _balanced_labels(n: int, rng: np.random.Generator) -> np.ndarray:
    if n <= 0 or n % 2:
        raise ValueError(f"n must be a positive even number for balanced classes, got {n}")
    classes = np.repeat([0, 1], n // 2)
    rng.shuffle(classes)
    return classes


def one_hot(classes: np.ndarray, n_classes: int = 2) -> np.ndarray:
    return np.eye(n_classes)[np.asarray(classes, dtype=int)]


def lorentzian(x: np.ndarray, A: float, x0: float, R: float) -> np.ndarray:
    return A / (((x - x0) / R) ** 2 + 1.0)


def gaussian(x: np.ndarray, A: float, x0: float, R: float) -> np.ndarray:
    return A * np.exp(-(((x - x0) / R) ** 2))


def gaussian_vs_lorentzian(
    n: int, rng: np.random.Generator, M: int = 100, x_max: float = 10.0, noise: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """1D curves on M points of [-x_max, x_max]: ``(x, curves[n, M], labels[n, 2])``.

    Class 1 is Lorentzian A/(((x-x0)/R)^2+1), class 0 Gaussian A exp(-((x-x0)/R)^2), with random
    A in [0.5, 2], x0 in [-x_max/2, x_max/2], R in [0.5, 3] (the original homework's setup).
    """
    classes = _balanced_labels(n, rng)
    x = np.linspace(-x_max, x_max, M)
    A = rng.uniform(0.5, 2.0, size=(n, 1))
    x0 = rng.uniform(-x_max / 2, x_max / 2, size=(n, 1))
    R = rng.uniform(0.5, 3.0, size=(n, 1))
    curves = np.where(classes[:, None] == 1, lorentzian(x, A, x0, R), gaussian(x, A, x0, R))
    if noise > 0:
        curves = curves + noise * rng.standard_normal(curves.shape)
    return x, curves, one_hot(classes)


def circles_vs_squares(
    n: int, rng: np.random.Generator, size: int = 20, noise: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Filled shapes on a ``size x size`` grid: ``(images[n, size, size], labels[n, 2])``.

    Class 1 is a circle, class 0 an axis-aligned square, with random centre and radius (the
    square's half-side) between 2 and size/4 pixels, fully inside the image. ``noise`` adds
    Gaussian pixel noise of that standard deviation.
    """
    classes = _balanced_labels(n, rng)
    r = rng.uniform(2.0, size / 4, size=n)
    cx = rng.uniform(r, size - 1 - r)
    cy = rng.uniform(r, size - 1 - r)
    yy, xx = np.mgrid[0:size, 0:size]
    dx = xx[None] - cx[:, None, None]
    dy = yy[None] - cy[:, None, None]
    rr = r[:, None, None]
    circle = dx**2 + dy**2 <= rr**2
    square = (np.abs(dx) <= rr) & (np.abs(dy) <= rr)
    images = np.where(classes[:, None, None] == 1, circle, square).astype(float)
    if noise > 0:
        images = images + noise * rng.standard_normal(images.shape)
    return images, one_hot(classes)


def is_one_rectangle(image: np.ndarray) -> bool:
    """True when the 1-pixels form exactly one filled, axis-aligned, non-empty rectangle."""
    img = np.asarray(image).reshape(3, 3) if np.size(image) == 9 else np.asarray(image)
    rows, cols = np.nonzero(img)
    if rows.size == 0:
        return False
    box = img[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    return bool(np.all(box == 1) and rows.size == box.size)


def all_3x3_images() -> tuple[np.ndarray, np.ndarray]:
    """All 512 binary 3x3 images, flattened row by row, and their one-rectangle labels (0/1)."""
    images = np.array(list(product([0, 1], repeat=9)), dtype=float)
    labels = np.array([is_one_rectangle(img) for img in images], dtype=int)
    return images, labels


def rectangle_images(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A balanced sample of 3x3 images: ``(x[n, 9], labels[n, 2])``, class 1 = one rectangle.

    There are only 36 one-rectangle images among the 512, so positives repeat for large n;
    negatives are drawn without replacement while possible.
    """
    classes = _balanced_labels(n, rng)
    images, labels = all_3x3_images()
    pos, neg = images[labels == 1], images[labels == 0]
    n_pos = int(classes.sum())
    x = np.empty((n, 9))
    x[classes == 1] = pos[rng.choice(len(pos), n_pos, replace=n_pos > len(pos))]
    x[classes == 0] = neg[rng.choice(len(neg), n - n_pos, replace=n - n_pos > len(neg))]
    return x, one_hot(classes)
