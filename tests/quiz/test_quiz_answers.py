"""The computed keys agree with the lectures, and every variant's key survives a second,
independent computation (different evaluation route than the one that produced it)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import numpy as np
import pytest

from reference.activations import jump
from reference.quiz import Pool, active_pool, all_questions, question, questions, seed_for_student
from reference.quiz import sgd as sgd_quiz
from reference.sgd import estimate_eta_from_variance

# small seeds, and 64-bit seeds as a course's pool makes them (default pool, a term's salt)
SEEDS = [1, 2, 3, 17, 123, 2024, Pool().seed("quiz01-single-layer", 0),
         Pool("ws2025", 32).seed("quiz04-backprop", 31)]


def key_text(q):
    return q.options[q.answer]


# -- the lecture versions agree with the decks (../shared/notes/course-code.md) -------------

def test_python_quiz_keys_agree_with_the_deck():
    assert key_text(question("python.range")) == "0 1"
    assert key_text(question("python.recursion")) == "45"


@pytest.mark.parametrize(("qid", "deck_answer"), [
    ("numpy.element", 22),
    ("numpy.row", [33, 44]),
    ("numpy.column", [22, 44]),
    ("numpy.flatten", [11, 22, 33, 44]),
    ("numpy.assign_column", [[19, 22], [50, 44]]),
    ("numpy.fancy_index", [33, 11, 44]),
])
def test_numpy_quiz_keys_agree_with_the_deck(qid, deck_answer):
    assert ast.literal_eval(key_text(question(qid))) == deck_answer


def test_backprop_keys_agree_with_the_deck():
    d = question("backprop.derivative")
    assert d.answer == "c"
    assert key_text(d) == "$f'(w_3 f(w_2 f(w_1 y))) w_3 f'(w_2 f(w_1 y)) f(w_1 y)$"
    assert key_text(question("backprop.brute_force")) == "$S(1 + (N - 1)M^2)$"
    assert key_text(question("backprop.shape")) == "[25, 50]"


def test_sgd_key_is_the_eta_that_generated_the_trajectory():
    q = question("sgd.eta")
    assert float(key_text(q)) == sgd_quiz.LECTURE_ETA
    w = q.data["trajectory"]
    # the deck's stationary variance 1/(eta(2-eta)) identifies the same option
    var_eta = estimate_eta_from_variance(w)
    assert sgd_quiz.nearest_option(var_eta) == sgd_quiz.ETA_OPTIONS.index(float(key_text(q)))


def test_single_layer_lecture_keys_render_the_asked_formula():
    assert question("single_layer.which_output_1").answer == "c"     # picture of f(-y2)
    assert question("single_layer.which_output_2").answer == "a"     # f(1 - y1 + y2)
    assert key_text(question("single_layer.obtain_1")) == "$y^{out} = f(2y_1 + y_2 - 2)$"
    assert key_text(question("single_layer.obtain_2")) == "$y^{out} = f(y_2^3 - 2y_2 + y_1)$"


# -- variants: deterministic and independently verified -------------------------------------

def test_variants_are_deterministic_per_seed_and_differ_across_seeds():
    def fingerprint(seed):
        return [(q.qid, dict(q.options), q.answer, q.prompt) for q in all_questions(seed)]

    assert fingerprint(5) == fingerprint(5)
    assert fingerprint(5) != fingerprint(6)
    assert fingerprint(None) != fingerprint(5)


def test_student_seed_is_stable_per_quiz_and_a_seed_of_the_pool():
    a = seed_for_student("  Ada.Lovelace ", "quiz01-single-layer")
    assert a == seed_for_student("ada.lovelace", "quiz01-single-layer")
    assert a != seed_for_student("ada.lovelace", "quiz02-python-numpy")
    pool = active_pool()
    assert a in {pool.seed("quiz01-single-layer", k) for k in range(pool.variants)}
    with pytest.raises(ValueError):
        seed_for_student("  ", "quiz01-single-layer")


def _step_at(expr, y1, y2):
    return jump(eval(expr, {"__builtins__": {}}, {"y1": y1, "y2": y2}))


@pytest.mark.parametrize("seed", [None, *SEEDS])
def test_single_layer_keys_hold_at_random_points(seed):
    """Not the grid comparison: evaluate the formulas at random points of the plane."""
    rng = np.random.default_rng(99)
    for q in questions("quiz01-single-layer", seed):
        lo, hi = q.data["extent"]
        y1, y2 = rng.uniform(lo, hi, 5000), rng.uniform(lo, hi, 5000)
        if "pictures" in q.data:
            target = _step_at(q.data["asked"], y1, y2)
            candidates = q.data["pictures"]
        else:
            target = _step_at(q.data["target"], y1, y2)
            candidates = q.data["options"]
        agree = [np.array_equal(_step_at(c, y1, y2), target) for c in candidates]
        assert agree.count(True) == 1, q.qid
        assert "abcd"[agree.index(True)] == q.answer, q.qid


@pytest.mark.parametrize("seed", [None, *SEEDS[:3]])
def test_snippet_keys_match_a_separate_python_process(seed):
    for q in questions("quiz02-python-numpy", seed):
        d = q.data
        program = "import json, numpy as np\n" + d["setup"] + "\n"
        if d["expression"]:
            program += f"_v = {d['expression']}\n"
        elif d["result_name"]:
            program += f"_v = {d['result_name']}\n"
        else:
            program += "_v = None\n"
        program += "print('@@' + json.dumps(np.asarray(_v).tolist() if _v is not None else None))"
        run = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
        key = key_text(q)
        if run.returncode != 0:
            assert key == "error", q.qid
            continue
        printed, _, payload = run.stdout.rpartition("@@")
        if d["printed"]:
            assert printed.split() == key.split(), q.qid
        else:
            assert json.loads(payload) == ast.literal_eval(key), q.qid


@pytest.mark.parametrize("seed", [None, *SEEDS])
def test_derivative_key_with_another_activation(seed):
    """The key was found with f = sigmoid; it must also hold for f = tanh."""
    q = question("backprop.derivative", seed)
    depth, k = q.data["depth"], q.data["k"]
    rng = np.random.default_rng(7)
    p = {"y": 0.3, **{f"w{i}": float(rng.uniform(-1.5, 1.5)) for i in range(1, depth + 1)}}
    names = {"f": np.tanh, "df": lambda z: 1 - np.tanh(z) ** 2}

    def z_of(params):
        a = params["y"]
        for i in range(1, depth + 1):
            a = np.tanh(params[f"w{i}"] * a)
        return a

    h = 1e-6
    up, down = dict(p), dict(p)
    up[f"w{k}"] += h
    down[f"w{k}"] -= h
    numeric = (z_of(up) - z_of(down)) / (2 * h)
    values = [eval(expr, {"__builtins__": {}}, {**names, **p}) for expr in q.data["options_python"]]
    matching = [i for i, v in enumerate(values) if np.isclose(v, numeric, rtol=1e-6)]
    assert [ "abcd"[i] for i in matching] == [q.answer]


@pytest.mark.parametrize("seed", SEEDS)
def test_brute_force_variant_key_counts_weights(seed):
    q = question("backprop.brute_force", seed)
    N, M, S = q.data["shown"]
    n_weights = sum(np.zeros((M, M)).size for _ in range(N - 1))
    assert int(key_text(q)) == S * (1 + n_weights)


@pytest.mark.parametrize("seed", [None, *SEEDS])
def test_shape_key_by_matrix_product(seed):
    q = question("backprop.shape", seed)
    (b, n_in), (_, n_out) = q.data["shapes"]
    assert ast.literal_eval(key_text(q)) == list((np.ones((b, n_in)).T @ np.ones((b, n_out))).shape)


@pytest.mark.parametrize("seed", SEEDS)
def test_sgd_variant_key_by_variance(seed):
    q = question("sgd.eta", seed)
    eta = estimate_eta_from_variance(q.data["trajectory"])
    assert sgd_quiz.ETA_OPTIONS[sgd_quiz.nearest_option(eta)] == float(key_text(q))
