"""Manually graded questions: which they are (from the Otter master notebook) and where each
student's answer is (in the submitted notebook).

How Otter 7 marks them (``otter/assign/notebook_transformer.py``): in the master notebook a raw
cell ``# BEGIN QUESTION`` carries YAML with ``name``, ``points`` and ``manual: true``; in the
student notebook ``otter assign`` removes that config and instead wraps every question that is
``manual`` (or ``export``) in markdown comments ``<!-- BEGIN QUESTION -->`` ...
``<!-- END QUESTION -->`` (prepended to the first and the next markdown cell, so one cell can
hold an END and the next BEGIN), locks the prompt cells (``editable: false``) and tags the
answer cells ``otter_answer_cell``. The names are NOT in the student notebook, so we take the
k-th wrapped region as the k-th manual/export question of the master, and check it against the
question's prompt text when the counts disagree (a student deleted or duplicated a cell).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from autograder.grading.model import ManualQuestion
from autograder.lms.errors import LmsError
from autograder.lms.names import fold

BEGIN_RE = re.compile(r"<!--\s*BEGIN QUESTION\s*-->")
END_RE = re.compile(r"<!--\s*END QUESTION\s*-->")
ANSWER_TAG = "otter_answer_cell"
PLACEHOLDER = "_Type your answer here, replacing this text._"


@dataclass
class MasterInfo:
    manual: list[ManualQuestion]
    wrapped: list[str]
    """names of all wrapped (manual or export) questions, in notebook order"""


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def read_notebook(path_or_bytes: str | Path | bytes) -> dict[str, Any]:
    try:
        raw = (path_or_bytes if isinstance(path_or_bytes, bytes)
               else Path(path_or_bytes).read_bytes())
        nb = json.loads(raw.decode("utf-8-sig"))
    except FileNotFoundError:
        raise LmsError(f"notebook not found: {path_or_bytes}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise LmsError(f"not a notebook (invalid JSON: {e})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise LmsError("not a Jupyter notebook (no cells)")
    return nb


def read_master(path: str | Path, require_manual: bool = True) -> MasterInfo:
    """The manual questions of an Otter master notebook, with points and prompt text
    (LmsError when it has none, unless ``require_manual`` is False)."""
    nb = read_notebook(path)
    manual: list[ManualQuestion] = []
    wrapped: list[str] = []
    cells = nb["cells"]
    for i, cell in enumerate(cells):
        src = _source(cell).strip()
        if cell.get("cell_type") != "raw" or not src.upper().startswith("# BEGIN QUESTION"):
            continue
        try:
            cfg = yaml.safe_load(src.split("\n", 1)[1]) if "\n" in src else {}
        except yaml.YAMLError as e:
            raise LmsError(f"{path}: bad YAML in BEGIN QUESTION cell {i}: {e}") from None
        cfg = cfg or {}
        if not isinstance(cfg, dict) or "name" not in cfg:
            raise LmsError(f"{path}: BEGIN QUESTION cell {i} has no name")
        if not (cfg.get("manual") or cfg.get("export")):
            continue
        name = str(cfg["name"])
        prompt = next((_source(c) for c in cells[i + 1:]
                       if c.get("cell_type") == "markdown"), "")
        wrapped.append(name)
        if cfg.get("manual"):
            pts = cfg.get("points")
            if isinstance(pts, dict) or pts is None:
                raise LmsError(f"{path}: manual question {name} needs a number of points")
            manual.append(ManualQuestion(name, float(pts), prompt, len(wrapped) - 1))
    if not manual and require_manual:
        raise LmsError(f"{path}: no manual question (no '# BEGIN QUESTION' cell with manual: true)")
    return MasterInfo(manual, wrapped)


def question_regions(nb: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """The cells of each BEGIN/END QUESTION region, in order (an unclosed region ends the
    notebook)."""
    regions: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] | None = None
    for cell in nb["cells"]:
        src = _source(cell) if cell.get("cell_type") == "markdown" else ""
        marks = sorted([(m.start(), "B") for m in BEGIN_RE.finditer(src)]
                       + [(m.start(), "E") for m in END_RE.finditer(src)])
        opened_here = False
        for _, kind in marks:
            if kind == "E" and current is not None:
                if opened_here:
                    current.append(cell)
                regions.append(current)
                current = None
                opened_here = False
            elif kind == "B":
                if current is not None:
                    regions.append(current)
                current = []
                opened_here = True
        if current is not None:
            current.append(cell)
    if current is not None:
        regions.append(current)
    return regions


def _prompt_text(cell: dict[str, Any]) -> str:
    return fold(END_RE.sub("", BEGIN_RE.sub("", _source(cell))))


@dataclass
class Answer:
    text: str
    images: list[bytes] = field(default_factory=list)
    found: bool = True


def _locked(cell: dict[str, Any]) -> bool:
    meta = cell.get("metadata") or {}
    return meta.get("editable") is False


def _images(cell: dict[str, Any]) -> list[bytes]:
    out: list[bytes] = []
    blobs: list[str] = []
    for o in cell.get("outputs") or []:
        data = (o or {}).get("data") or {}
        if "image/png" in data:
            blobs.append(data["image/png"])
    for att in (cell.get("attachments") or {}).values():
        if isinstance(att, dict) and "image/png" in att:
            blobs.append(att["image/png"])
    for b in blobs:
        text = "".join(b) if isinstance(b, list) else str(b)
        try:
            out.append(base64.b64decode(text, validate=False))
        except (binascii.Error, ValueError):
            continue
    return out


def answer_cells(region: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The student's cells of a region: the ones they can edit (the tagged answer cells and any
    cells they added), never the locked prompt."""
    cells = [c for c in region if not _locked(c)]
    if not cells:
        cells = [c for c in region if ANSWER_TAG in ((c.get("metadata") or {}).get("tags") or [])]
    return cells


def cell_text(cell: dict[str, Any]) -> str:
    """A cell's source without Otter's question markers and without the unedited placeholder."""
    src = END_RE.sub("", BEGIN_RE.sub("", _source(cell))).strip()
    return "" if src == PLACEHOLDER else src


def answer_from_region(region: list[dict[str, Any]]) -> Answer:
    """The student's part of a region (:func:`answer_cells`) as text and images."""
    texts = []
    images: list[bytes] = []
    for c in answer_cells(region):
        src = cell_text(c)
        if src:
            texts.append(src)
        images.extend(_images(c))
    return Answer("\n\n".join(texts), images)


def find_regions(nb: dict[str, Any], master: MasterInfo) -> dict[str, list[dict[str, Any]] | None]:
    """Each manual question's region of cells in a student notebook (None when it cannot be
    identified): by position when the notebook has as many regions as the master wraps, else
    the one region whose prompt is the question's."""
    regions = question_regions(nb)
    result: dict[str, list[dict[str, Any]] | None] = {}
    for q in master.manual:
        region = None
        if len(regions) == len(master.wrapped):
            region = regions[q.position]
        elif q.prompt:
            want = fold(q.prompt)
            hits = [r for r in regions if r and want and want in _prompt_text(r[0])]
            if len(hits) == 1:
                region = hits[0]
        result[q.name] = region
    return result


def find_answers(nb: dict[str, Any], master: MasterInfo) -> dict[str, Answer]:
    """Each manual question's answer in a student notebook (``found=False`` when the question's
    region cannot be identified)."""
    return {name: (answer_from_region(region) if region is not None else Answer("", [], found=False))
            for name, region in find_regions(nb, master).items()}
