"""The student-side quiz module shows the right variant and carries no answers, from the pack
next to the notebook or from one variant embedded in a notebook made for one student."""

from __future__ import annotations

import base64
import json
import os
import zlib

import numpy as np
import pytest

from autograder.assignment_support import mlphys_quiz
from autograder.quizpack import embed_variant, pack_meta, write_quiz_pack
from reference.quiz import Pool, variant_of, variant_questions

POOL = Pool("test-term", 4)


@pytest.fixture(scope="module")
def pack_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("packs")
    for quiz in ("quiz02-python-numpy", "quiz03-sgd"):
        write_quiz_pack(quiz, folder / f"{quiz}.quiz.npz", POOL)
    return folder


def test_quiz_shows_the_variant_prompt_options_and_data(pack_dir):
    quiz = mlphys_quiz.Quiz("quiz03-sgd", "ada", folder=pack_dir)
    assert quiz.variant == variant_of("ada", "quiz03-sgd", POOL)
    expected = variant_questions("quiz03-sgd", quiz.variant, POOL)[0]
    text = quiz.markdown("sgd.eta")
    assert expected.title in text and all(v in text for v in expected.options.values())
    np.testing.assert_allclose(quiz.array("sgd.eta", "trajectory"), expected.data["trajectory"],
                               rtol=1e-6, atol=1e-4)
    assert quiz.figure_png(1)[:4] == b"\x89PNG"


def test_pack_has_no_answers_no_seed_and_no_salt(pack_dir):
    for path in pack_dir.glob("*.npz"):
        meta = pack_meta(path)
        assert set(meta) == {"quiz", "variants", "mapping_key", "questions"}
        assert meta["variants"] == POOL.variants and meta["mapping_key"] == POOL.mapping_key
        for variant in meta["questions"].values():
            for q in variant:
                assert set(q) == {"qid", "title", "prompt", "options", "code"}
        assert POOL.salt.encode() not in path.read_bytes()
        assert POOL.salt not in json.dumps(meta)


def test_an_embedded_variant_is_that_students_variant_only(pack_dir):
    pack = pack_dir / "quiz03-sgd.quiz.npz"
    k = variant_of("emmy.noether", "quiz03-sgd", POOL)
    payload = embed_variant(pack, k, "emmy.noether")
    data = json.loads(zlib.decompress(base64.b64decode(payload)))
    assert data["variant"] == k and data["identity"] == "emmy.noether"
    assert set(data) == {"quiz", "identity", "variant", "questions", "figures", "arrays"}
    assert [set(q) for q in data["questions"]] == [{"qid", "title", "prompt", "options", "code"}]
    embedded = mlphys_quiz.Quiz.from_embedded(payload, "  Emmy.Noether ")
    from_pack = mlphys_quiz.Quiz("quiz03-sgd", "emmy.noether", folder=pack_dir)
    assert embedded.variant == from_pack.variant == k
    assert embedded.markdown(1) == from_pack.markdown(1)
    assert embedded.figure_png(1) == from_pack.figure_png(1)
    np.testing.assert_array_equal(embedded.array(1, "trajectory"), from_pack.array(1, "trajectory"))
    # one picture and one trajectory, and they are no other variant's
    assert list(data["figures"]) == ["sgd.eta"] and list(data["arrays"]) == ["sgd.eta/trajectory"]
    with np.load(pack) as everything:
        for j in range(POOL.variants):
            same = bytes(everything[f"fig/{j}/sgd.eta"]) == embedded.figure_png(1)
            assert same == (j == k)
            assert np.array_equal(everything[f"arr/{j}/sgd.eta/trajectory"],
                                  embedded.array(1, "trajectory")) == (j == k)


@pytest.mark.parametrize("changed", ["ada.lovelace", "", ..., None])
def test_an_embedded_variant_refuses_another_student_id(pack_dir, changed):
    payload = embed_variant(pack_dir / "quiz02-python-numpy.quiz.npz", 1, "emmy.noether")
    with pytest.raises(ValueError, match="made for student_id = 'emmy.noether'"):
        mlphys_quiz.Quiz.from_embedded(payload, changed)


def test_missing_student_id_shows_a_hint_instead_of_failing(pack_dir):
    for sid in (..., "", None, "   "):
        quiz = mlphys_quiz.Quiz("quiz02-python-numpy", sid, folder=pack_dir)
        assert quiz.variant is None
        assert "Set `student_id`" in quiz.markdown(1)
        assert quiz.figure_png(1) is None
        assert "set student_id" in repr(quiz)


def test_a_missing_pack_names_both_files_and_where_to_put_them(pack_dir):
    with pytest.raises(FileNotFoundError) as e:
        mlphys_quiz.Quiz("quiz04-backprop", "ada", folder=pack_dir)
    assert "mlphys_quiz.py and quiz04-backprop.quiz.npz" in str(e.value)
    assert os.getcwd() in str(e.value)
