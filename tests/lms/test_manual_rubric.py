"""The rubric tables of the gradebook: points follow the items, a sheet import and the page
agree, two writers at once lose nothing, and an old gradebook keeps working."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from autograder.grading.batch.gradebook import GradebookReader, ManualStore, rubric_points
from autograder.grading.model import ManualQuestion

Q6 = ManualQuestion("q6", 3.0, "Why?", 0)
Q7 = ManualQuestion("q7", 2.0, "How?", 1)


@pytest.fixture
def store(tmp_path: Path) -> ManualStore:
    s = ManualStore(tmp_path)
    s.set_questions([Q6, Q7])
    yield s
    s.close()


def test_points_follow_the_items_and_stay_within_the_maximum(store):
    good = store.add_rubric_item("q6", "correct reasoning", 2.0)
    plot = store.add_rubric_item("q6", "plot", 1.5)
    labels = store.add_rubric_item("q6", "axes not labelled", -0.5)
    assert [i.label for i in store.rubric("q6")] == ["correct reasoning", "plot", "axes not labelled"]
    g = store.change_grade("ada", "q6", toggle=good.id)
    assert g.points == 2.0 and g.items == {good.id}
    g = store.change_grade("ada", "q6", toggle=plot.id)
    assert g.points == 3.0  # 3.5 clamped to the maximum
    g = store.change_grade("ada", "q6", toggle=labels.id)
    assert g.points == 3.0  # 3.0
    g = store.change_grade("ada", "q6", adjustment=-1.0, comment="see the axes")
    assert g.points == rubric_points([2.0, 1.5, -0.5], -1.0, 3.0) == 2.0
    assert g.comment == "see the axes"
    g = store.change_grade("ada", "q6", toggle=plot.id)  # off again
    assert g.points == 0.5 and g.items == {good.id, labels.id}
    # everything removed: the answer counts as not graded
    store.change_grade("ada", "q6", toggle=good.id)
    store.change_grade("ada", "q6", toggle=labels.id)
    store.change_grade("ada", "q6", adjustment=0.0, comment="")
    assert store.grade("ada", "q6") is None and "ada" not in store.grades("q6")


def test_changing_an_items_points_rescores_everyone_who_has_it(store):
    good = store.add_rubric_item("q6", "correct reasoning", 2.0)
    other = store.add_rubric_item("q6", "partly", 1.0)
    for key in ("ada", "emmy", "lise"):
        store.change_grade(key, "q6", toggle=good.id)
    store.change_grade("vera", "q6", toggle=other.id)
    store.change_grade("lise", "q6", adjustment=0.5)
    affected = store.update_rubric_item(good.id, points=2.5)
    assert sorted(affected) == ["ada", "emmy", "lise"]
    scores = store.scores()
    assert scores["ada"]["q6"][0] == scores["emmy"]["q6"][0] == 2.5
    assert scores["lise"]["q6"][0] == 3.0  # 2.5 + 0.5
    assert scores["vera"]["q6"][0] == 1.0  # untouched
    store.update_rubric_item(good.id, label="correct and complete")
    assert store.rubric("q6")[0].label == "correct and complete"
    assert sorted(store.delete_rubric_item(good.id)) == ["ada", "emmy", "lise"]
    scores = store.scores()
    assert scores["ada"]["q6"][0] == 0.0 and scores["lise"]["q6"][0] == 0.5


def test_a_sheet_import_and_the_page_agree(store):
    good = store.add_rubric_item("q6", "correct reasoning", 2.0)
    store.change_grade("ada", "q6", toggle=good.id)
    # a TA types 2.5 in the sheet: the rubric stays, the adjustment makes up the difference
    store.put_scores([("ada", "q6", 2.5, "from the sheet", "manual_q6.csv", 2),
                      ("emmy", "q6", 1.0, "", "manual_q6.csv", 3)])
    g = store.grade("ada", "q6")
    assert (g.points, g.adjustment, g.items, g.comment) == (2.5, 0.5, {good.id}, "from the sheet")
    store.update_rubric_item(good.id, points=1.0)
    assert store.grade("ada", "q6").points == 1.5  # moved by the same amount as the item
    assert store.grade("emmy", "q6").points == 1.0  # no item: the sheet's points stand
    with_rubric = store.scores(rubric_in_comment=True)
    assert with_rubric["ada"]["q6"] == (1.5, "correct reasoning (+1) | from the sheet")


def test_the_feedback_reader_sees_items_and_comments(store, tmp_path):
    good = store.add_rubric_item("q7", "clear", 1.0)
    store.change_grade("ada", "q7", toggle=good.id)
    store.change_grade("ada", "q7", comment="nice")
    with GradebookReader(tmp_path) as reader:
        grades = reader.manual_grades()
    (question, grade, items), = grades["ada"]
    assert question.name == "q7" and grade.points == 1.0 and grade.comment == "nice"
    assert [(i.label, i.points) for i in items] == [("clear", 1.0)]


def test_an_old_gradebook_gets_the_new_tables_and_keeps_its_scores(tmp_path):
    con = sqlite3.connect(tmp_path / "gradebook.sqlite")
    con.executescript("""
        CREATE TABLE lms_manual_questions (name TEXT PRIMARY KEY, position INTEGER NOT NULL,
            max_points REAL NOT NULL, prompt TEXT);
        CREATE TABLE lms_manual_scores (student_key TEXT NOT NULL, question TEXT NOT NULL
            REFERENCES lms_manual_questions(name), points REAL NOT NULL, comment TEXT, sheet TEXT,
            sheet_row INTEGER, imported_at REAL NOT NULL, PRIMARY KEY (student_key, question));
        INSERT INTO lms_manual_questions VALUES ('q6', 0, 3, 'Why?');
        INSERT INTO lms_manual_scores VALUES ('ada', 'q6', 2.5, 'old', 'manual_q6.csv', 2, 0);
    """)
    con.close()
    with GradebookReader(tmp_path) as reader:  # read before any writer upgraded the file
        (q, grade, items), = reader.manual_grades()["ada"]
        assert (grade.points, grade.adjustment, items) == (2.5, 2.5, [])
    with ManualStore(tmp_path) as store:
        assert store.grade("ada", "q6").adjustment == 2.5  # NULL adjustment = the points
        item = store.add_rubric_item("q6", "bonus", 0.5)
        assert store.change_grade("ada", "q6", toggle=item.id).points == 3.0
        assert store.scores()["ada"]["q6"] == (3.0, "old")


def _toggle_many(grades_dir: str, question: str, keys: list[str], item_id: int) -> None:
    with ManualStore(grades_dir) as store:
        for key in keys:
            store.change_grade(key, question, toggle=item_id)
            store.change_grade(key, question, comment=f"{question} {key}")


def test_two_writers_on_different_questions_lose_nothing(store, tmp_path):
    a = store.add_rubric_item("q6", "good", 2.0)
    b = store.add_rubric_item("q7", "good", 1.0)
    keys = [f"s{i:02d}" for i in range(40)]
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_toggle_many, args=(str(tmp_path), "q6", keys, a.id)),
             ctx.Process(target=_toggle_many, args=(str(tmp_path), "q7", keys, b.id))]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    scores = store.scores()
    assert len(scores) == 40
    for key in keys:
        assert scores[key] == {"q6": (2.0, f"q6 {key}"), "q7": (1.0, f"q7 {key}")}
