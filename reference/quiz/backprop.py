"""The three backpropagation questions, each answered by doing the computation.

1. dz/dw_k for z = f(w_n f(... f(w_1 y))): every option is evaluated at random points and
   compared with a central finite difference of z; the option that agrees is the key.
2. Brute-force numerical gradient: a counting network is handed to a brute-force gradient routine
   (cost at the unperturbed weights, then once per weight with that weight nudged, each cost a
   sample average); the number of network evaluations it makes is compared with each option's
   formula for several (N, M, S).
3. Shapes: ``dot(transpose(y_layer[-3-j]), delta)`` is evaluated on arrays of the given shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference.activations import _d_sigmoid, sigmoid
from reference.quiz.base import Question, lettered, rng_for, shuffled, single_match

QUIZ = "quiz04-backprop"


# 1. The chain rule --------------------------------------------------------------------------

@dataclass(frozen=True)
class Chain:
    """z = f(w_n f(w_{n-1} ... f(w_1 y))): the pre-activations z_i as expressions."""

    depth: int

    def z_expr(self, i: int) -> str:
        """Python for z_i = w_i f(z_{i-1}) with z_1 = w_1 y."""
        return "w1*y" if i == 1 else f"w{i}*f({self.z_expr(i - 1)})"

    def z_latex(self, i: int) -> str:
        return "w_1 y" if i == 1 else f"w_{i} f({self.z_latex(i - 1)})"

    def input_to(self, k: int) -> tuple[str, str]:
        """The activation feeding layer k: y for k = 1, else f(z_{k-1})."""
        if k == 1:
            return "y", "y"
        return f"f({self.z_expr(k - 1)})", f"f({self.z_latex(k - 1)})"

    def product(self, k: int, weights_from: int, last: str) -> tuple[str, str]:
        """f'(z_n) [w_n] f'(z_{n-1}) ... f'(z_k) * X, with w_i included for i >= weights_from.

        ``last`` is "input" (the right factor), "dinput" (f' instead of f), or "none".
        """
        py, tex = [], []
        for i in range(self.depth, k - 1, -1):
            py.append(f"df({self.z_expr(i)})")
            tex.append(f"f'({self.z_latex(i)})")
            if i > k and i >= weights_from:
                py.append(f"w{i}")
                tex.append(f"w_{i}")
            if i == k and weights_from <= k and k > 1:
                py.append(f"w{k}")
                tex.append(f"w_{k}")
        if last != "none":
            x_py, x_tex = self.input_to(k)
            if last == "dinput" and k > 1:
                x_py, x_tex = x_py.replace("f(", "df(", 1), x_tex.replace("f(", "f'(", 1)
            py.append(x_py)
            tex.append(x_tex)
        return "*".join(py), " ".join(tex)


def chain_value(expr: str, point: dict[str, float]) -> float:
    names = {"f": sigmoid, "df": _d_sigmoid, **{k: np.float64(v) for k, v in point.items()}}
    return float(eval(expr, {"__builtins__": {}}, names))  # our own expressions


def finite_difference(chain: Chain, k: int, point: dict[str, float], h: float = 1e-5) -> float:
    z = chain.z_expr(chain.depth)
    z = f"f({z})"
    up, down = dict(point), dict(point)
    up[f"w{k}"] += h
    down[f"w{k}"] -= h
    return (chain_value(z, up) - chain_value(z, down)) / (2 * h)


def make_derivative(seed: int | None = None) -> Question:
    qid = "backprop.derivative"
    if seed is None:
        depth, k, rng = 3, 2, np.random.default_rng(3)
    else:
        rng = rng_for(seed, qid)
        depth = int(rng.integers(3, 5))
        k = int(rng.integers(2, depth))
    chain = Chain(depth)
    # The deck's four options: no weights; one weight too many; right; f' on the input factor.
    candidates = [
        chain.product(k, depth + 1, "input"),
        chain.product(k, k, "input"),
        chain.product(k, k + 1, "input"),
        chain.product(k, k + 1, "dinput"),
    ]
    if seed is not None:
        candidates = shuffled(candidates, rng)
    points = [
        {"y": float(rng.uniform(-1, 1)), **{f"w{i}": float(rng.uniform(-2, 2))
                                            for i in range(1, depth + 1)}}
        for _ in range(5)
    ]
    exact = [finite_difference(chain, k, p) for p in points]
    letters = lettered([f"${tex}$" for _, tex in candidates])
    agree = {
        letters_key: all(np.isclose(chain_value(py, p), e, rtol=1e-5, atol=1e-9)
                         for p, e in zip(points, exact, strict=True))
        for letters_key, (py, _) in zip(letters, candidates, strict=True)
    }
    answer = single_match(qid, agree)
    return Question(
        qid=qid, quiz=QUIZ, title="Backpropagation: the chain rule", seed=seed,
        prompt=(f"$z = f({chain.z_latex(depth)})$\n\n"
                f"$\\dfrac{{\\partial z}}{{\\partial w_{k}}} = $ ?"),
        options=letters, answer=answer,
        reason=(f"({answer}) equals a central finite difference of z with respect to w_{k} at "
                f"{len(points)} random points (f = sigmoid); the other options do not"),
        data={"depth": depth, "k": k, "options_python": [py for py, _ in candidates]},
    )


# 2. Brute-force gradient ------------------------------------------------------------------

class CountingNetwork:
    """N layers of M neurons (N-1 weight matrices), counting every evaluation on one sample."""

    def __init__(self, N: int, M: int, rng: np.random.Generator) -> None:
        self.weights = [rng.normal(size=(M, M)) for _ in range(N - 1)]
        self.evaluations = 0

    def __call__(self, y: np.ndarray) -> np.ndarray:
        self.evaluations += 1
        for w in self.weights:
            y = sigmoid(y @ w)
        return y


def brute_force_gradient(net: CountingNetwork, samples: np.ndarray, targets: np.ndarray,
                         h: float = 1e-6) -> list[np.ndarray]:
    """dC/dw for every weight by nudging it: C is the average over samples, one net call each."""
    def cost() -> float:
        return float(np.mean([0.5 * np.sum((net(y) - t) ** 2)
                              for y, t in zip(samples, targets, strict=True)]))

    base = cost()
    grads = []
    for w in net.weights:
        g = np.empty_like(w)
        for index in np.ndindex(w.shape):
            w[index] += h
            g[index] = (cost() - base) / h
            w[index] -= h
        grads.append(g)
    return grads


def count_evaluations(N: int, M: int, S: int, rng: np.random.Generator) -> int:
    net = CountingNetwork(N, M, rng)
    brute_force_gradient(net, rng.normal(size=(S, M)), rng.normal(size=(S, M)))
    return net.evaluations


COUNT_OPTIONS = [
    ("(1 + (N - 1)*M)", "(1 + (N - 1)M)"),
    ("S*(1 + (N - 1)*M**2)", "S(1 + (N - 1)M^2)"),
    ("S*(1 + (N - 1)*M)", "S(1 + (N - 1)M)"),
    ("S*(1 + (N - 1)**2*M)", "S(1 + (N - 1)^2 M)"),
]


def make_brute_force(seed: int | None = None) -> Question:
    qid = "backprop.brute_force"
    rng = np.random.default_rng(4) if seed is None else rng_for(seed, qid)
    sizes = [(4, 3, 2), (3, 2, 5), (5, 2, 3)]
    counts = {size: count_evaluations(*size, rng) for size in sizes}
    if seed is None:
        letters = lettered([f"${tex}$" for _, tex in COUNT_OPTIONS])
        agree = {
            letter: all(eval(py, {}, dict(zip("NMS", size, strict=True))) == n  # noqa: S307
                        for size, n in counts.items())
            for letter, (py, _) in zip(letters, COUNT_OPTIONS, strict=True)
        }
        prompt_numbers = "here $N = 4$"
        shown = None
    else:
        N, M, S = int(rng.integers(3, 6)), int(rng.integers(2, 5)), int(rng.integers(2, 6))
        shown = (N, M, S)
        n = count_evaluations(N, M, S, rng)
        values = sorted({int(eval(py, {}, {"N": N, "M": M, "S": S}))  # noqa: S307
                         for py, _ in COUNT_OPTIONS})
        letters = lettered([str(v) for v in shuffled(values, rng)])
        agree = {letter: int(text) == n for letter, text in letters.items()}
        counts[shown] = n
        prompt_numbers = f"here $N = {N}$, $M = {M}$, $S = {S}$: how many evaluations exactly"
    answer = single_match(qid, agree)
    counted = "; ".join(f"N={a}, M={b}, S={c}: {n}" for (a, b, c), n in counts.items())
    return Question(
        qid=qid, quiz=QUIZ, title="Backpropagation: brute-force gradient cost", seed=seed,
        prompt=("In a network with $N$ layers of $M$ neurons each, and for $S$ samples: what "
                "would be the amount of network evaluations required if one tries to deduce all "
                "the derivatives of the (sample-averaged) cost function with respect to the "
                f"weights brute-force numerically? ({prompt_numbers})"),
        options=letters, answer=answer,
        reason=f"an instrumented brute-force gradient made {counted} network evaluations",
        data={"counts": {str(k): v for k, v in counts.items()}, "shown": shown},
    )


# 3. Shapes --------------------------------------------------------------------------------

def make_shape(seed: int | None = None) -> Question:
    qid = "backprop.shape"
    if seed is None:
        batch, n_in, n_out = 100, 25, 50
        rng = None
    else:
        rng = rng_for(seed, qid)
        batch, n_in, n_out = (int(v) for v in rng.choice(np.arange(5, 130, 5), 3, replace=False))
    y_layer = np.zeros((batch, n_in))
    delta = np.zeros((batch, n_out))
    shape = list(np.dot(np.transpose(y_layer), delta).shape)
    texts = [[n_out, n_in], [n_in, n_out], [batch, n_in, batch, n_out], [n_in, batch],
             [n_in, batch, batch, n_out], [n_in, batch, n_out]]
    if rng is not None:
        texts = shuffled(texts, rng)
    letters = lettered([str(t) for t in texts])
    answer = single_match(qid, {k: eval(v) == shape for k, v in letters.items()})  # noqa: S307
    return Question(
        qid=qid, quiz=QUIZ, title="Backpropagation: shapes", seed=seed,
        code=(f"shape(y_layer[-3-j]) == [{batch}, {n_in}]\nshape(delta) == [{batch}, {n_out}]\n"
              "dot(transpose(y_layer[-3-j]), delta)"),
        prompt=(f"```python\nshape(y_layer[-3-j]) == [{batch}, {n_in}]\n"
                f"shape(delta) == [{batch}, {n_out}]\n```\n\nWhat is the shape of "
                "`dot(transpose(y_layer[-3-j]), delta)`?"),
        options=letters, answer=answer,
        reason=f"evaluating it on zero arrays of those shapes gives shape {shape}",
        data={"shapes": [[batch, n_in], [batch, n_out]]},
    )


def questions(seed: int | None = None) -> list[Question]:
    return [make_derivative(seed), make_brute_force(seed), make_shape(seed)]
