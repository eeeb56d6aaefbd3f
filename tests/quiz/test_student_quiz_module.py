"""The student-side quiz module shows the right variant and carries no answers."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from autograder.build import SUPPORT
from autograder.quizpack import write_quiz_pack
from reference.quiz import VARIANTS, questions, variant_of


@pytest.fixture(scope="module")
def mlphys_quiz():
    spec = importlib.util.spec_from_file_location("mlphys_quiz", SUPPORT / "mlphys_quiz.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pack_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("packs")
    for quiz in ("quiz02-python-numpy", "quiz03-sgd"):
        write_quiz_pack(quiz, folder / f"{quiz}.quiz.npz", variants=4)
    return folder


def test_student_and_reference_agree_on_the_variant(mlphys_quiz):
    ids = [f"student.{i}" for i in range(300)] + ["  Ada.Lovelace ", "ADA.LOVELACE"]
    for quiz in ("quiz01-single-layer", "quiz03-sgd"):
        mine = [mlphys_quiz.variant_of(s, quiz, VARIANTS) for s in ids]
        assert mine == [variant_of(s, quiz) for s in ids]
        assert len(set(mine)) == VARIANTS  # 300 ids use the whole pool


def test_quiz_shows_the_variant_prompt_options_and_data(mlphys_quiz, pack_dir):
    quiz = mlphys_quiz.Quiz("quiz03-sgd", "ada", folder=pack_dir)
    assert quiz.variant == mlphys_quiz.variant_of("ada", "quiz03-sgd", 4)  # the pack holds 4
    expected = questions("quiz03-sgd", quiz.variant)[0]
    text = quiz.markdown("sgd.eta")
    assert expected.title in text and all(v in text for v in expected.options.values())
    np.testing.assert_allclose(quiz.array("sgd.eta", "trajectory"), expected.data["trajectory"],
                               rtol=1e-6, atol=1e-4)
    assert quiz.figure_png(1)[:4] == b"\x89PNG"


def test_pack_has_no_answers(pack_dir):
    for path in pack_dir.glob("*.npz"):
        meta = json.loads(bytes(np.load(path)["meta"]).decode())
        for variant in meta["questions"].values():
            for q in variant:
                assert set(q) == {"qid", "title", "prompt", "options", "code"}


def test_missing_student_id_shows_a_hint_instead_of_failing(mlphys_quiz, pack_dir):
    for sid in (..., "", None, "   "):
        quiz = mlphys_quiz.Quiz("quiz02-python-numpy", sid, folder=pack_dir)
        assert quiz.variant is None
        assert "Set `student_id`" in quiz.markdown(1)
        assert quiz.figure_png(1) is None
        assert "set student_id" in repr(quiz)
    with pytest.raises(FileNotFoundError, match="keep it next to this notebook"):
        mlphys_quiz.Quiz("quiz04-backprop", "ada", folder=pack_dir)
