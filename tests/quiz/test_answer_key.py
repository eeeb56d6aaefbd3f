"""`mlphys answer-key` writes one page with every question, figure, options, key and reason; for a
student it is the variant that student sees and is graded on (the course-build tests check the
page against a student's executed notebook and against `mlphys grade`)."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from autograder.cli import main
from autograder.course import PACKAGE_COURSE
from autograder.quizpack import figure_png
from reference.quiz import QUIZZES, Pool, all_questions, key_for, questions, variant_of, variant_questions

DEFAULT = Pool()  # the course shipped with mlphys has no course.toml


def _key(tmp_path, *args):
    result = CliRunner().invoke(main, ["answer-key", "--out", str(tmp_path), "--course",
                                       str(PACKAGE_COURSE), *args])
    assert result.exit_code == 0, result.output
    return json.loads((tmp_path / "answer_key.json").read_text()), result.output


def test_answer_key_page_lists_every_question_with_its_computed_key(tmp_path):
    records, output = _key(tmp_path)
    assert f"course folder: {PACKAGE_COURSE}" in output
    page = (tmp_path / "index.html").read_text()
    expected = all_questions()
    assert [r["qid"] for r in records] == [q.qid for q in expected]
    assert [r["answer"] for r in records] == [q.answer for q in expected]
    assert page.count("<section class='question'") == len(expected)
    for q in expected:
        assert f"id='{q.qid}'" in page
        assert f"<b>Answer: {q.answer}</b>" in page
    images = re.findall(r"src='(figures/[^']+\.png)'", page)
    assert len(images) == sum(q.figure is not None for q in expected) >= 5
    for image, q in zip(images, [q for q in expected if q.figure is not None], strict=True):
        assert (tmp_path / image).read_bytes() == figure_png(q)  # the picture students get


def test_answer_key_for_a_student_is_the_variant_they_are_graded_on(tmp_path):
    student = "ada.lovelace"
    records, _ = _key(tmp_path, "--student", student)
    for quiz in QUIZZES:
        k = variant_of(student, quiz, DEFAULT)
        mine = [r for r in records if r["quiz"] == quiz]
        assert {r["variant"] for r in mine} == {k}
        assert {r["seed"] for r in mine} == {DEFAULT.seed(quiz, k)}
        assert [r["answer"] for r in mine] == [key_for(quiz, r["qid"], student, DEFAULT) for r in mine]
        assert [r["options"] for r in mine] == [dict(q.options) for q in variant_questions(quiz, k, DEFAULT)]
    page = (tmp_path / "index.html").read_text()
    assert f"variants student {student} sees and is graded on" in page


def test_answer_key_for_a_variant_and_for_a_seed(tmp_path):
    records, _ = _key(tmp_path / "v", "--variant", "5")
    assert [r["answer"] for r in records] == [
        q.answer for quiz in QUIZZES for q in variant_questions(quiz, 5, DEFAULT)]
    records, _ = _key(tmp_path / "s", "--seed", "7")
    assert [r["answer"] for r in records] == [q.answer for q in all_questions(7)]
    assert {r["variant"] for r in records} == {None}
    assert [r["prompt"] for r in records if r["quiz"] == "quiz04-backprop"] == [
        q.prompt for q in questions("quiz04-backprop", 7)]


@pytest.mark.parametrize(("args", "message"), [
    (["--seed", "1", "--student", "x"], "use only one of --seed, --student and --variant"),
    (["--variant", "1", "--student", "x"], "use only one of --seed, --student and --variant"),
    (["--student", "  "], "--student needs a non-empty student id"),
    (["--variant", "32"], "--variant 32: the course's pool has variants 0 .. 31"),
])
def test_answer_key_user_mistakes_get_one_line(tmp_path, args, message):
    result = CliRunner().invoke(main, ["answer-key", "--out", str(tmp_path), "--course",
                                       str(PACKAGE_COURSE), *args])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
