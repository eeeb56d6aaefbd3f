"""A realistic class for the demo: students, and submissions made from the built solutions.

Submissions are what students would upload: the solutions notebook with the student's own
`student_id`, quiz answers as plain letters (students do not have ``reference``), and the
student notebook's metadata (public tests only). Kinds, in the proportions of a real class:

- ``correct``: the solutions;
- ``partial``: one or more of the assignment's plausible wrong answers (``mutations.yml``, and a
  wrong letter for multiple-choice questions);
- ``blank``: the student notebook as handed out (only `student_id` filled in);
- ``error``: a cell that raises halfway through (later cells still run);
- ``crash``: the kernel dies halfway (``os._exit``);
- ``late``: correct or partial, submitted after the due date;
- ``malicious``: rebinds ``np.allclose`` and the comparison builtins, and forges a results file;
- a few students submit twice (a partial first attempt, then a correct one).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import nbformat
import numpy as np
import yaml

from reference.quiz import key_for

FIRST = ["Ada", "Emmy", "Lise", "Marie", "Chien-Shiung", "Vera", "Maria", "Jocelyn", "Andrea",
         "Donna", "Paul", "Niels", "Erwin", "Werner", "Enrico", "Richard", "Subrahmanyan",
         "Satyendra", "Hideki", "Lev", "Max", "Albert", "Wolfgang", "Ludwig", "James", "Rosalind",
         "Mildred", "Katherine", "Cecilia", "Fabiola", "Hans", "Pyotr", "Émilie", "Søren",
         "Amalie", "Gerty", "Irène", "Kip", "Roger", "Anne"]
LAST = ["Lovelace", "Noether", "Meitner", "Curie", "Wu", "Rubin", "Goeppert-Mayer", "Bell",
        "Ghez", "Strickland", "Dirac", "Bohr", "Schrödinger", "Heisenberg", "Fermi", "Feynman",
        "Chandrasekhar", "Bose", "Yukawa", "Landau", "Planck", "Einstein", "Pauli", "Boltzmann",
        "Maxwell", "Franklin", "Dresselhaus", "Johnson", "Payne", "Gianotti", "Bethe", "Kapitsa",
        "du Châtelet", "Kierkegaard", "Noether", "Cori", "Joliot-Curie", "Thorne", "Penrose",
        "L'Huillier"]

KEY_CALL = re.compile(
    r'^(?P<indent>\s*)(?P<var>q\d+_answer) = key_for\("(?P<quiz>[^"]+)", "(?P<qid>[^"]+)", '
    r'student_id\)\s*(?:#.*)?$', re.M)
REFERENCE_IMPORT = re.compile(r"^\s*(from reference[\w.]* import .*|import reference.*)$", re.M)
ID_LINE = re.compile(r'^student_id = "demo\.student".*$', re.M)


@dataclass(frozen=True)
class DemoStudent:
    user_id: int
    sis_id: str
    login: str
    first: str
    last: str
    section: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def email(self) -> str:
        return f"{self.login}@uni.example"


def make_roster(n: int, rng: np.random.Generator) -> list[DemoStudent]:
    """n students with unique names, Canvas-like user ids and SIS ids."""
    pairs = [(f, s) for f in FIRST for s in LAST]
    chosen = rng.choice(len(pairs), size=n, replace=False)
    students = []
    for k, index in enumerate(sorted(chosen)):
        first, last = pairs[index]
        login = re.sub(r"[^a-z]", "", (first[0] + last).lower().encode("ascii", "ignore").decode())
        students.append(DemoStudent(user_id=100_000 + 37 * k, sis_id=f"S{2026_000 + k}",
                                login=f"{login}{k}", first=first, last=last,
                                section=f"Tutorial {1 + k % 3}"))
    return students


@dataclass
class DemoSubmission:
    student: DemoStudent
    kind: str
    notebook: nbformat.NotebookNode
    submitted_at: datetime
    attempt: int = 1
    mutated: list[str] = field(default_factory=list)


def load_mutations(assignment_dir: Path) -> list[dict]:
    """The plausible wrong answers listed in an assignment's ``mutations.yml`` (none if absent)."""
    spec = assignment_dir / "mutations.yml"
    return (yaml.safe_load(spec.read_text()) or []) if spec.exists() else []  # comments only: none


def as_student_work(solutions: nbformat.NotebookNode, student_nb: nbformat.NotebookNode,
                    student: DemoStudent, wrong_letters: set[str] = frozenset()) -> nbformat.NotebookNode:
    """The solutions as this student would hand them in (no reference, no hidden tests)."""
    nb = copy.deepcopy(solutions)
    nb.metadata = copy.deepcopy(student_nb.metadata)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        src = ID_LINE.sub(f'student_id = "{student.login}"', cell.source)

        def letter(m: re.Match[str]) -> str:
            key = key_for(m["quiz"], m["qid"], student.login)
            if m["var"].removesuffix("_answer") in wrong_letters:
                key = "b" if key == "a" else "a"
            return f'{m["indent"]}{m["var"]} = "{key}"'

        src = KEY_CALL.sub(letter, src)
        src = REFERENCE_IMPORT.sub("", src)
        cell.source = src.replace("# BEGIN SOLUTION NO PROMPT\n\n# END SOLUTION\n", "")
    return nb


def apply_mutation(nb: nbformat.NotebookNode, mutation: dict) -> bool:
    """Apply one find/replace mutation to every code cell; False if it found nothing.

    Three forms (``mutations.yml`` and ``alternatives.yml`` use all of them):
    ``find``/``replace`` replaces literal text; with ``regex: true`` ``find`` is a multiline
    regular expression and ``replace`` its template (quiz answers: ``q1_answer = "b"`` written
    another way, whatever the letter); ``cell``/``source`` replaces the whole code cell whose
    source starts with ``cell`` (an alternative implementation of a question, written afresh).
    """
    hit = False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if "cell" in mutation:
            if cell.source.lstrip().startswith(mutation["cell"]):
                cell.source = mutation["source"]
                hit = True
        elif mutation.get("regex"):
            cell.source, n = re.subn(mutation["find"], mutation["replace"], cell.source, flags=re.M)
            hit = hit or n > 0
        elif mutation["find"] in cell.source:
            cell.source = cell.source.replace(mutation["find"], mutation["replace"])
            hit = True
    return hit


def _blank(student_nb: nbformat.NotebookNode, student: DemoStudent) -> nbformat.NotebookNode:
    nb = copy.deepcopy(student_nb)
    for cell in nb.cells:
        if cell.cell_type == "code" and re.match(r"^student_id = \.\.\.", cell.source):
            cell.source = f'student_id = "{student.login}"'
    return nb


def _inject(nb: nbformat.NotebookNode, source: str, where: float = 0.5) -> nbformat.NotebookNode:
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    nb.cells.insert(code[int(where * (len(code) - 1))] + 1, nbformat.v4.new_code_cell(source))
    return nb


MALICIOUS = '''\
import builtins, json, numpy as np
np.allclose = lambda *a, **k: True          # make every comparison pass
np.isclose = lambda *a, **k: True
builtins.isinstance = lambda *a, **k: True
class Always:
    def __eq__(self, other): return True
    def __repr__(self): return "True"
for name in [n for n in dir() if n.startswith("q") and n.endswith("_answer")]:
    globals()[name] = Always()
with open("results.json", "w") as f:        # forge a Gradescope result
    json.dump({"score": 100, "tests": []}, f)
print('{"score": 100}')
'''


def class_submissions(
    assignment_dir: Path,
    solutions_path: Path,
    student_path: Path,
    roster: list[DemoStudent],
    due: datetime,
    rng: np.random.Generator,
) -> list[DemoSubmission]:
    """One or two submissions per student, kinds in realistic proportions (deterministic in rng)."""
    solutions = nbformat.read(solutions_path, as_version=4)
    student_nb = nbformat.read(student_path, as_version=4)
    mutations = load_mutations(assignment_dir)
    letter_questions = sorted({m["var"].removesuffix("_answer")
                               for c in solutions.cells if c.cell_type == "code"
                               for m in KEY_CALL.finditer(c.source)})
    n = len(roster)
    kinds = (["malicious"] * 2 + ["crash"] + ["error"] + ["blank"] * 3 + ["late"] * 3
             + ["partial"] * max(1, n // 4))
    kinds += ["correct"] * (n - len(kinds))
    kinds = [kinds[i] for i in rng.permutation(n)]
    resubmitters = set(rng.choice(n, size=min(3, n), replace=False).tolist())
    out = []
    for k, (student, kind) in enumerate(zip(roster, kinds, strict=True)):
        on_time = due - timedelta(hours=float(rng.uniform(1, 72)))

        def partial(student: DemoStudent = student) -> tuple[nbformat.NotebookNode, list[str]]:
            options = [("letter", q) for q in letter_questions] + [("mutation", m) for m in mutations]
            picks = [options[i] for i in rng.choice(len(options), size=min(len(options),
                                                    int(rng.integers(1, 4))), replace=False)]
            wrong = {q for t, q in picks if t == "letter"}
            nb = as_student_work(solutions, student_nb, student, wrong)
            applied = [f"{q}: wrong option letter" for q in sorted(wrong)]
            for t, m in picks:
                if t == "mutation" and apply_mutation(nb, m):
                    applied.append(f"{m['question']}: {m['description']}")
            return nb, applied

        if k in resubmitters and kind in {"correct", "partial"}:
            first, applied = partial()
            out.append(DemoSubmission(student, "partial", first, on_time - timedelta(days=1), 1, applied))
            out.append(DemoSubmission(student, "correct", as_student_work(solutions, student_nb, student),
                                  on_time, 2))
            continue
        mutated: list[str] = []
        when = on_time
        if kind == "correct":
            nb = as_student_work(solutions, student_nb, student)
        elif kind == "partial":
            nb, mutated = partial()
        elif kind == "late":
            if rng.random() < 0.5:
                nb, mutated = partial()
            else:
                nb = as_student_work(solutions, student_nb, student)
            when = due + timedelta(hours=float(rng.uniform(2, 60)))
        elif kind == "blank":
            nb = _blank(student_nb, student)
        elif kind == "error":
            nb = _inject(as_student_work(solutions, student_nb, student),
                         "raise RuntimeError('I will fix this later')")
        elif kind == "crash":
            nb = _inject(as_student_work(solutions, student_nb, student), "import os\nos._exit(3)")
        else:
            nb = _inject(as_student_work(solutions, student_nb, student), MALICIOUS, where=0.95)
        out.append(DemoSubmission(student, kind, nb, when, 1, mutated))
    return out
