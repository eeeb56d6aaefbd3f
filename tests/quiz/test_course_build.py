"""A course outside the repository, built from where the instructor stands, for one term.

The course folder is a copy of two quizzes and of ``reference/`` with a visible change in each,
a ``course.toml`` (salt, 6 variants, a Canvas roster). One build of it is checked against what
students see (their notebooks executed alone with nbclient), what the answer-key page says, and
what ``mlphys grade`` gives."""

from __future__ import annotations

import base64
import csv
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest
from click.testing import CliRunner
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from autograder.cli import main
from autograder.course import PACKAGE_COURSE, load_course
from autograder.quizpack import pack_meta
from reference.quiz import Pool, variant_of

pytestmark = pytest.mark.slow

QUIZZES = ("quiz03-sgd", "quiz04-backprop")
SALT = "term-A-otters-in-the-lab"
POOL = Pool(SALT, 6)
MARKER = "TERM-A: changed in this course folder"
TITLE_TAG = "[term A] "
ROSTER = ("\ufeffStudent,ID,SIS User ID,SIS Login ID,Section\r\n"
          "    Points Possible,,,,\r\n"
          '"Lovelace, Ada",1001,S1001,ada.lovelace,A\r\n'
          '"Noether, Emmy",1002,S1002,emmy.noether,A\r\n'
          '"Meitner, Lise",1003,S1003,lise.meitner,B\r\n'
          '"Rubin, Vera",1004,S1004,,B\r\n')
IDENTITIES = {"ada.lovelace": "Ada Lovelace", "emmy.noether": "Emmy Noether",
              "lise.meitner": "Lise Meitner", "S1004": "Vera Rubin"}
KEY_CALL = re.compile(r'^(q\d+)_answer = key_for\("[^"]+", "(?P<qid>[^"]+)", student_id\)', re.M)


def make_course(root: Path, salt: str) -> Path:
    (root / "assignments").mkdir(parents=True)
    for quiz in QUIZZES:
        shutil.copytree(PACKAGE_COURSE / "assignments" / quiz, root / "assignments" / quiz)
    shutil.copytree(PACKAGE_COURSE / "reference", root / "reference",
                    ignore=shutil.ignore_patterns("__pycache__", "pool.json"))
    (root / "course.toml").write_text(f'[quiz]\nsalt = "{salt}"\nvariants = 6\n\n'
                                      '[roster]\nfile = "roster.csv"\n')
    (root / "roster.csv").write_text(ROSTER, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> dict:
    root = make_course(tmp_path_factory.mktemp("elsewhere") / "ml4phys-2025", SALT)
    # a visible change in the course's master and in the course's reference
    master = root / "assignments" / "quiz04-backprop" / "quiz04-backprop.ipynb"
    nb = nbformat.read(master, as_version=4)
    first_md = next(c for c in nb.cells if c.cell_type == "markdown")
    first_md.source = f"{MARKER}\n\n{first_md.source}"
    nbformat.write(nb, master)
    backprop = root / "reference" / "quiz" / "backprop.py"
    text = backprop.read_text()
    assert text.count('title="') >= 3
    backprop.write_text(text.replace('title="', f'title="{TITLE_TAG}'))
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "-m", "autograder.cli", "build"], cwd=root / "assignments",
                          env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {"root": root, "dist": root / "dist", "stdout": proc.stdout, "stderr": proc.stderr}


def run_alone(notebook: Path, folder: Path, extra: tuple[Path, ...] = (),
              probe: str | None = None) -> nbformat.NotebookNode:
    """Execute a notebook the way a hosted service would: alone (or with ``extra`` files);
    ``probe`` is a last cell the test adds to look inside the kernel."""
    folder.mkdir(parents=True)
    for path in (notebook, *extra):
        shutil.copy(path, folder / path.name)
    nb = nbformat.read(folder / notebook.name, as_version=4)
    if probe:
        nb.cells.append(nbformat.v4.new_code_cell(probe))
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()
    return nb


def shown(nb: nbformat.NotebookNode) -> dict[str, dict]:
    """What each ``quiz.show(qid)`` cell displayed: markdown text and PNG bytes."""
    out = {}
    for cell in nb.cells:
        m = re.match(r'^quiz\.show\("([^"]+)"\)', cell.source) if cell.cell_type == "code" else None
        if m:
            data = [o.get("data", {}) for o in cell.outputs if o.output_type == "display_data"]
            out[m[1]] = {"markdown": "".join(d.get("text/markdown", "") for d in data),
                         "png": [base64.b64decode(d["image/png"]) for d in data if "image/png" in d]}
    return out


def answer_key(course_root: Path, student: str, out: Path) -> list[dict]:
    result = CliRunner().invoke(main, ["answer-key", "--course", str(course_root), "--student", student,
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    return json.loads((out / "answer_key.json").read_text())


def per_student(dist: Path, quiz: str) -> dict[str, dict]:
    with (dist / quiz / "per-student" / "students.csv").open(encoding="utf-8") as f:
        return {row["identity"]: row for row in csv.DictReader(f)}


def test_the_build_uses_the_course_folder_it_stands_in_and_says_so(course):
    root, out = course["root"], course["stdout"]
    assert f"course folder: {root}" in out
    assert f"assignments: {root / 'assignments'}" in out
    assert f"reference:   {root / 'reference'} (the course's own)" in out
    assert "6 variants per quiz, salt from course.toml" in out
    assert f"roster:      {root / 'roster.csv'}" in out
    assert f"output:      {root / 'dist'}" in out
    assert "default salt" not in course["stderr"]
    quiz04 = course["dist"] / "quiz04-backprop"
    student_nb = (quiz04 / "student" / "quiz04-backprop.ipynb").read_text()
    assert MARKER in student_nb  # the course's master, not the installed checkout's
    meta = pack_meta(quiz04 / "student" / "quiz04-backprop.quiz.npz")
    titles = {q["title"] for variant in meta["questions"].values() for q in variant}
    assert titles and all(t.startswith(TITLE_TAG) for t in titles)  # the course's reference
    with zipfile.ZipFile(quiz04 / "autograder" / "quiz04-backprop-autograder.zip") as zf:
        assert TITLE_TAG in zf.read("files/reference/quiz/backprop.py").decode()
        assert json.loads(zf.read("files/reference/quiz/pool.json")) == POOL.to_json()
        assert json.loads(zf.read("mlphys.json")) == {
            "autograder_only": ["mlphys_grader", "reference"], "quiz_identity_column": "auto",
            "gradescope": {"question_visibility": "after_published"}}


def test_students_get_the_pool_size_and_a_one_way_key_but_never_the_salt(course):
    for quiz in QUIZZES:
        meta = pack_meta(course["dist"] / quiz / "student" / f"{quiz}.quiz.npz")
        assert meta["variants"] == 6 and len(meta["questions"]) == 6
        assert meta["mapping_key"] == POOL.mapping_key
        for folder in ("student", "per-student"):
            for path in (course["dist"] / quiz / folder).rglob("*"):
                if path.is_file():
                    assert SALT.encode() not in path.read_bytes(), path


def test_the_zips_reference_and_the_students_module_pick_the_same_variants(course, tmp_path):
    ids = [f"s{i}.student" for i in range(300)] + list(IDENTITIES)
    spec = importlib.util.spec_from_file_location(
        "shipped_quiz", course["dist"] / "quiz04-backprop" / "student" / "mlphys_quiz.py")
    shipped = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shipped)
    for quiz in QUIZZES:
        with zipfile.ZipFile(course["dist"] / quiz / "autograder" / f"{quiz}-autograder.zip") as zf:
            for name in zf.namelist():
                if name.startswith("files/reference/"):
                    target = tmp_path / quiz / name.removeprefix("files/")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(zf.read(name))
        program = (f"import json, reference.quiz as q\nprint(json.dumps([q.variant_of(s, {quiz!r}) "
                   f"for s in {ids!r}]))")
        env = dict(os.environ, PYTHONPATH=str(tmp_path / quiz), MPLBACKEND="Agg")
        graders = json.loads(subprocess.run([sys.executable, "-c", program], env=env, cwd=tmp_path,
                                            capture_output=True, text=True, check=True).stdout)
        meta = pack_meta(course["dist"] / quiz / "student" / f"{quiz}.quiz.npz")
        students = [shipped.variant_of(s, quiz, meta["variants"], meta["mapping_key"]) for s in ids]
        assert graders == students
        assert set(graders) == set(range(6))
        assert graders != [variant_of(s, quiz, Pool()) for s in ids]  # not the default pool


@pytest.mark.parametrize("quiz", QUIZZES)
def test_a_per_student_notebook_runs_alone_and_shows_what_the_answer_key_says(course, quiz, tmp_path):
    rows = per_student(course["dist"], quiz)
    assert {i: r["name"] for i, r in rows.items()} == IDENTITIES
    for identity, row in rows.items():
        assert int(row["variant"]) == variant_of(identity, quiz, POOL)
        nb = nbformat.read(course["dist"] / quiz / "per-student" / row["notebook"], as_version=4)
        assert any(c.source.startswith(f'student_id = "{identity}"') for c in nb.cells)
    identity = "emmy.noether"
    notebook = course["dist"] / quiz / "per-student" / rows[identity]["notebook"]
    probe = 'import json; print(json.dumps(quiz.array("sgd.eta", "trajectory").tolist()))'
    nb = run_alone(notebook, tmp_path / "alone", probe=probe if quiz == "quiz03-sgd" else None)
    key = [r for r in answer_key(course["root"], identity, tmp_path / "key") if r["quiz"] == quiz]
    displayed = shown(nb)
    assert set(displayed) == {r["qid"] for r in key}
    for r in key:
        assert r["variant"] == int(rows[identity]["variant"])
        md = displayed[r["qid"]]["markdown"]
        assert r["title"] in md and r["prompt"] in md
        for letter, text in r["options"].items():
            assert f"**{letter}**&nbsp; {text}" in md
        if r["figure"]:
            assert displayed[r["qid"]]["png"] == [(tmp_path / "key" / r["figure"]).read_bytes()]
    if quiz == "quiz03-sgd":  # the data the question gives: the student's own trajectory
        printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
        with np.load(course["dist"] / quiz / "student" / f"{quiz}.quiz.npz") as pack:
            expected = pack[f"arr/{rows[identity]['variant']}/sgd.eta/trajectory"]
        np.testing.assert_array_equal(np.array(json.loads(printed), dtype=np.float32), expected)


def _answered(nb: nbformat.NotebookNode, letters: dict[str, str]) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in nb.cells:
        m = re.match(r"^(q\d+)_answer = \.\.\.$", cell.source.strip()) if cell.cell_type == "code" else None
        if m:
            cell.source = f'{m[1]}_answer = "{letters[m[1]]}"'
    return nb


def test_the_grader_expects_what_the_answer_key_page_says(course, tmp_path):
    quiz = "quiz04-backprop"
    built = course["dist"] / quiz
    solutions = nbformat.read(built / "solutions" / f"{quiz}.ipynb", as_version=4)
    question_of = {m[1]: m["qid"] for m in KEY_CALL.finditer("\n".join(c.source for c in solutions.cells))}
    assert len(question_of) == 3

    def letters(identity: str) -> dict[str, str]:
        key = {r["qid"]: r["answer"] for r in answer_key(course["root"], identity, tmp_path / identity)
               if r["quiz"] == quiz}
        return {q: key[qid] for q, qid in question_of.items()}

    rows = per_student(course["dist"], quiz)
    own = letters("ada.lovelace")
    others = {i: letters(i) for i in IDENTITIES if i != "ada.lovelace"}
    other = next((i for i, ls in others.items() if ls != own), None)
    assert other is not None, "every roster student has Ada's keys: the test cannot tell them apart"
    ada = nbformat.read(built / "per-student" / rows["ada.lovelace"]["notebook"], as_version=4)
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    nbformat.write(_answered(ada, own), submissions / "ada-own-answers.ipynb")
    nbformat.write(_answered(ada, others[other]), submissions / "ada-with-other-answers.ipynb")
    shutil.copy(built / "solutions" / f"{quiz}-letters.ipynb", submissions / "letters.ipynb")
    proc = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", "--autograder",
                           str(built / "autograder" / f"{quiz}-autograder.zip"), "--out",
                           str(tmp_path / "graded"), "--jobs", "2", "--quiet", str(submissions)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    with (tmp_path / "graded" / "final_grades.csv").open() as f:
        rows_out = list(csv.DictReader(f))
    possible = float(rows_out[0]["total_points_earned"])
    earned = {r["file"]: float(r["total_points_earned"]) for r in rows_out[1:]}
    assert possible == 3.0
    assert earned["ada-own-answers.ipynb"] == possible
    assert earned["letters.ipynb"] == possible
    assert earned["ada-with-other-answers.ipynb"] < possible


def test_the_generic_notebook_alone_stops_at_once_and_names_the_files(course, tmp_path):
    quiz = "quiz04-backprop"
    student = course["dist"] / quiz / "student"
    nb = nbformat.read(student / f"{quiz}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.strip() == "student_id = ...":
            cell.source = 'student_id = "emmy.noether"'
    filled = tmp_path / f"{quiz}.ipynb"
    nbformat.write(nb, filled)
    with pytest.raises(CellExecutionError) as e:
        run_alone(filled, tmp_path / "alone")
    message = str(e.value)
    assert f"This quiz needs 2 files next to this notebook: mlphys_quiz.py and {quiz}.quiz.npz" in message
    assert f"Upload both to {tmp_path / 'alone'}" in message
    # with its two files it runs, and shows the same variant as the student's own notebook
    with_files = run_alone(filled, tmp_path / "with-files",
                           (student / "mlphys_quiz.py", student / f"{quiz}.quiz.npz"))
    own = run_alone(course["dist"] / quiz / "per-student" / per_student(course["dist"], quiz)[
        "emmy.noether"]["notebook"], tmp_path / "own")
    assert shown(with_files) == shown(own)


def test_the_failing_cell_is_the_loader_and_nothing_after_it_ran(course, tmp_path):
    quiz = "quiz04-backprop"
    shutil.copy(course["dist"] / quiz / "student" / f"{quiz}.ipynb", tmp_path)  # alone
    nb = nbformat.read(tmp_path / f"{quiz}.ipynb", as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    with pytest.raises(CellExecutionError):
        client.execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    failed = [i for i, c in enumerate(code) if any(o.output_type == "error" for o in c.outputs)]
    assert len(failed) == 1 and "import mlphys_quiz" in code[failed[0]].source
    assert failed[0] <= 3  # Otter's init, student_id, its check, then the loader
    assert all(c.execution_count is None and not c.outputs for c in code[failed[0] + 1:])


def test_a_new_salt_gives_the_next_term_a_new_pool(course, tmp_path):
    """Term B: the same course folder with another salt; its pack differs from term A's."""
    root_b = make_course(tmp_path / "term-b", "term-B-a-completely-different-salt")
    staged = load_course(root_b).stage_reference(tmp_path / "staged")
    env = dict(os.environ, PYTHONPATH=str(staged.parent), MPLBACKEND="Agg")
    pack_b = tmp_path / "b.quiz.npz"
    subprocess.run([sys.executable, "-m", "autograder.quizpack", "quiz04-backprop", "--pack", str(pack_b)],
                   env=env, cwd=tmp_path, check=True, capture_output=True)
    a = pack_meta(course["dist"] / "quiz04-backprop" / "student" / "quiz04-backprop.quiz.npz")
    b = pack_meta(pack_b)
    assert a["variants"] == b["variants"] == 6
    assert a["mapping_key"] != b["mapping_key"]

    def options(meta, k):
        return [q["options"] for q in meta["questions"][str(k)]]

    assert sum(options(a, k) != options(b, k) for k in range(6)) >= 5
    assert not {json.dumps(options(a, k)) for k in range(6)} >= {json.dumps(options(b, k)) for k in range(6)}
