"""Pictures of networks and of their output over the (y0, y1) plane, headless.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot, no GUI backend), so they render
the same in a notebook, a grader and CI. ``visualize_network`` takes the lecture's layout,
``weights[j][m, k]`` = weight from input k to output m, as students will pass it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from reference.network import apply_net, grid, lecture_layout_to_batched


def output_on_plane(
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    activations: str | Sequence[str],
    M: int = 100,
    y0range: Sequence[float] = (-1.0, 1.0),
    y1range: Sequence[float] = (-1.0, 1.0),
) -> np.ndarray:
    """The first output neuron on an M x M grid, ``[M (y1), M (y0)]`` (batched weight layout)."""
    points, _, _ = grid(M, y0range, y1range)
    return apply_net(points, weights, biases, activations)[:, 0].reshape(M, M)


def draw_network(ax, weights: Sequence[np.ndarray], biases: Sequence[np.ndarray],
                 linewidth: float = 5.0) -> None:
    """Neurons as dots in columns, links coloured by sign (red +, blue -), width by |weight|."""
    sizes = [weights[0].shape[0]] + [w.shape[1] for w in weights]
    wmax = max(float(np.max(np.abs(w))) for w in weights) or 1.0
    bmax = max(float(np.max(np.abs(b))) for b in biases) or 1.0

    def ypos(n: int) -> np.ndarray:
        return np.arange(n) - (n - 1) / 2

    for j, w in enumerate(weights):
        y_in, y_out = ypos(w.shape[0]), ypos(w.shape[1])
        for k in range(w.shape[0]):
            for m in range(w.shape[1]):
                colour = "tab:red" if w[k, m] > 0 else "tab:blue"
                ax.plot([j, j + 1], [y_in[k], y_out[m]], color=colour, alpha=0.8,
                        linewidth=linewidth * abs(w[k, m]) / wmax)
    for j, n in enumerate(sizes):
        bias = np.zeros(n) if j == 0 else np.asarray(biases[j - 1], dtype=float)
        ax.scatter(np.full(n, j), ypos(n), s=120, c=bias, cmap="bwr", vmin=-bmax, vmax=bmax,
                   edgecolors="black", zorder=3)
    ax.set_axis_off()


def visualize_network(
    weights: Sequence[Sequence[Sequence[float]]],
    biases: Sequence[Sequence[float]],
    activations: str | Sequence[str],
    M: int = 100,
    y0range: Sequence[float] = (-1.0, 1.0),
    y1range: Sequence[float] = (-1.0, 1.0),
    size: float = 8.0,
    linewidth: float = 5.0,
) -> Figure:
    """The lecture's ``visualize_network``: network drawing (left) and output over the plane."""
    ws, bs = lecture_layout_to_batched(weights, biases)
    if ws[0].shape[0] != 2:
        raise ValueError(f"visualize_network needs 2 inputs (y0, y1), got {ws[0].shape[0]}")
    fig = Figure(figsize=(size, size / 2), layout="constrained")
    ax_net, ax_out = fig.subplots(1, 2)
    draw_network(ax_net, ws, bs, linewidth)
    values = output_on_plane(ws, bs, activations, M, y0range, y1range)
    image = ax_out.imshow(values, origin="lower", cmap="bwr", interpolation="nearest",
                          extent=(y0range[0], y0range[1], y1range[0], y1range[1]))
    ax_out.set_xlabel("$y_0$")
    ax_out.set_ylabel("$y_1$")
    fig.colorbar(image, ax=ax_out, shrink=0.8)
    return fig


def plane_figure(
    values: np.ndarray,
    extent: Sequence[float] = (-1.0, 1.0, -1.0, 1.0),
    title: str | None = None,
    labels: tuple[str, str] = ("$y_1$", "$y_2$"),
    size: float = 2.6,
) -> Figure:
    """A single output map, as the quiz pictures show it (0 white, 1 dark)."""
    fig = Figure(figsize=(size, size), layout="constrained")
    ax = fig.subplots()
    ax.imshow(values, origin="lower", cmap="Greys", vmin=0, vmax=1, extent=tuple(extent),
              interpolation="nearest")
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.axhline(0, color="tab:gray", linewidth=0.5)
    ax.axvline(0, color="tab:gray", linewidth=0.5)
    if title:
        ax.set_title(title)
    return fig
