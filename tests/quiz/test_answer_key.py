"""`mlphys answer-key` writes one page with every question, figure, options, key and reason."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from autograder.cli import main
from reference.quiz import all_questions, seed_for_student


def test_answer_key_page_lists_every_question_with_its_computed_key(tmp_path):
    result = CliRunner().invoke(main, ["answer-key", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "index.html").read_text()
    records = json.loads((tmp_path / "answer_key.json").read_text())
    expected = all_questions()
    assert [r["qid"] for r in records] == [q.qid for q in expected]
    assert [r["answer"] for r in records] == [q.answer for q in expected]
    assert page.count("<section class='question'") == len(expected)
    for q in expected:
        assert f"id='{q.qid}'" in page
        assert f"<b>Answer: {q.answer}</b>" in page
    images = re.findall(r"src='(figures/[^']+\.png)'", page)
    assert len(images) == sum(q.figure is not None for q in expected) >= 5
    for image in images:
        assert (tmp_path / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_answer_key_for_a_seed_and_for_a_student(tmp_path):
    runner = CliRunner()
    assert runner.invoke(main, ["answer-key", "--out", str(tmp_path / "s"), "--seed", "7"]).exit_code == 0
    seeded = json.loads((tmp_path / "s" / "answer_key.json").read_text())
    assert [r["answer"] for r in seeded] == [q.answer for q in all_questions(7)]
    args = ["answer-key", "--out", str(tmp_path / "st"), "--student", "ada"]
    assert runner.invoke(main, args).exit_code == 0
    student = json.loads((tmp_path / "st" / "answer_key.json").read_text())
    assert {r["seed"] for r in student if r["quiz"] == "quiz03-sgd"} == {
        seed_for_student("ada", "quiz03-sgd")}


def test_answer_key_rejects_seed_and_student_together(tmp_path):
    result = CliRunner().invoke(main, ["answer-key", "--out", str(tmp_path), "--seed", "1",
                                       "--student", "x"])
    assert result.exit_code != 0
    assert "either --seed or --student" in result.output
    assert "Traceback" not in result.output
