"""Normalise a submitted notebook and turn it into the steps Otter would execute.

Normalising: malformed JSON and non-notebooks become a per-submission status; nbformat 3 (and
older 4.x) is upgraded with nbformat's own converter; the kernelspec is ignored (student code
always runs in our Python sandbox, as Otter's containers force ``python3``).

Planning mirrors ``otter.execute.preprocessor.GradingPreprocessor.preprocess`` step by step:
``filter_ignored_cells`` (tag ``otter_ignore`` or ``metadata.otter.ignore``), ``add_checks``
(a check after every cell whose ``metadata.otter.tests`` lists questions), ``add_seeds`` (every
code cell not starting with ``%%``, including the added check cells, is prefixed with the seed
code; without ``seed_variable`` a first cell imports numpy/random under generated names), then
the questions never checked run at the end in sorted test-file order. Otter's init cell (grading
mode) is the sandbox's stand-in ``otter`` module; its export cell is our end-of-notebook pass.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

# nbformat imports jsonschema (it validates with fastjsonschema), and jsonschema imports the
# optional IRI-format checker ``rfc3987_syntax`` where it is installed (JupyterLab brings it),
# which builds a parser at import: about a second of every grading process's start-up, four
# on a loaded machine. Nothing in grading checks IRIs; jsonschema skips the checker when the
# import fails, as on a machine without it.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

import nbformat  # noqa: E402
import numpy as np  # noqa: E402

from autograder.grading.otter.submissions import SubmissionError  # noqa: E402

IGNORE_CELL_TAG = "otter_ignore"


@dataclass(frozen=True)
class CellStep:
    source: str
    index: int | None
    """the cell's index in the submitted notebook (None for cells we add)"""


@dataclass(frozen=True)
class CheckStep:
    questions: tuple[str, ...]
    """Otter's generated check cell checks these, in order"""
    seed_source: str | None
    """code Otter would prefix to its generated check cell (run in the sandbox first)"""


Step = CellStep | CheckStep


def load_notebook(data: bytes) -> nbformat.NotebookNode:
    """Parse and upgrade a notebook, or raise :class:`SubmissionError` with a status."""
    try:
        raw = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise SubmissionError("error: notebook is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise SubmissionError(f"error: notebook is not valid JSON ({e.msg} at line {e.lineno})") from None
    except RecursionError:
        raise SubmissionError("error: notebook JSON is nested too deeply") from None
    if not isinstance(raw, dict) or ("cells" not in raw and "worksheets" not in raw):
        raise SubmissionError("error: file is JSON but not a Jupyter notebook")
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
    except Exception as e:  # nbformat raises assorted errors on odd versions
        raise SubmissionError(f"error: unreadable notebook format ({type(e).__name__}: {e})") from None
    cells = []
    for cell in nb.get("cells", []):
        if not isinstance(cell, dict) or cell.get("cell_type") not in {"code", "markdown", "raw"}:
            continue
        src = cell.get("source", "")
        if isinstance(src, list):
            src = "".join(s for s in src if isinstance(s, str))
        if not isinstance(src, str):
            src = ""
        cell["source"] = src
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = nbformat.NotebookNode()
        cells.append(cell)
    nb["cells"] = cells
    if not isinstance(nb.get("metadata"), dict):
        nb["metadata"] = nbformat.NotebookNode()
    ks = nb["metadata"].get("kernelspec")
    if not isinstance(ks, dict) or ks.get("name") != "python3":
        nb["metadata"]["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                        "language": "python"}
    return nb


def assignment_name(nb: nbformat.NotebookNode) -> str | None:
    otter = nb.get("metadata", {}).get("otter", {})
    name = otter.get("assignment_name") if isinstance(otter, dict) else None
    return name if isinstance(name, str) else None


def _generated_name(prefix: str, rng: np.random.Generator) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return prefix + "".join(alphabet[i] for i in rng.integers(0, len(alphabet), size=6))


def plan(
    nb: nbformat.NotebookNode,
    seed: int | None,
    seed_variable: str | None,
    rng: np.random.Generator,
) -> list[Step]:
    """The execution steps for ``nb`` (see the module docstring for the Otter functions mirrored)."""
    steps: list[Step] = []
    for index, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {})
        otter_meta = meta.get("otter", {}) if isinstance(meta.get("otter"), dict) else {}
        tags = meta.get("tags", []) if isinstance(meta.get("tags"), list) else []
        if IGNORE_CELL_TAG in tags or otter_meta.get("ignore", False):
            continue
        if cell.cell_type == "code":
            steps.append(CellStep(cell.source, index))
        # Otter's add_checks applies to any cell type carrying the metadata
        tests = otter_meta.get("tests")
        if tests and isinstance(tests, list):
            names = tuple(q for q in tests if isinstance(q, str))
            if names:
                steps.append(CheckStep(names, None))
    if seed is None:
        return steps
    if seed_variable is None:
        np_name, rand_name = _generated_name("np_", rng), _generated_name("random_", rng)
        do_seed = f"{np_name}.random.seed({seed})\n{rand_name}.seed({seed})"
        head: list[Step] = [CellStep(f"import numpy as {np_name}\nimport random as {rand_name}", None)]
    else:
        do_seed = f"{seed_variable} = {seed}"
        head = []
    seeded: list[Step] = []
    for step in steps:
        if isinstance(step, CellStep):
            if step.source.startswith("%%"):
                seeded.append(step)
            else:
                seeded.append(CellStep(f"{do_seed}\n{step.source}", step.index))
        else:
            seeded.append(CheckStep(step.questions, do_seed))
    return head + seeded
