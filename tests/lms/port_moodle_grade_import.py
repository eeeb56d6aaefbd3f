"""A small port of Moodle's "Import grades from CSV", faithful to its matching rules.

Sources: moodle ``grade/import/csv/classes/load_data.php``
(``gradeimport_csv_load_data::prepare_import_grade_data``, ``map_user_data_with_value``,
``check_user_exists``, ``update_grade_item``, ``create_feedback``, ``insert_grade_record``) and
``grade/import/lib.php`` (``grade_import_commit``), ``lib/grade/grade_item.php``
(``update_final_grade`` bounds a grade to the item's range).

The rules that decide who gets what:

* The user is identified per row by the column mapped as *Map from* (email / ID number /
  username / user id). ``$this->studentid`` is NOT reset between rows, and a row whose
  identifier cell is empty (PHP ``empty()``: ``""`` or ``"0"``) skips the lookup -- so that row's
  grade goes to the previous row's student. A first row without identifier aborts the import.
* An identifier that matches no user (or several) aborts the whole import.
* A grade cell ``""`` or ``"-"`` is "no grade": it is imported and REMOVES an existing grade.
* A mapped feedback column is imported for every row; an empty cell replaces existing feedback
  with nothing.
* Grades above ``gradepointmax`` (100 unless "unlimited grades") abort the import; on commit a
  grade is bounded to the item's [grademin, grademax].
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

FIELDS = {"userid": "id", "useridnumber": "idnumber", "useremail": "email", "username": "username"}


@dataclass
class User:
    id: int
    email: str = ""
    idnumber: str = ""
    username: str = ""


@dataclass
class Item:
    id: int
    name: str
    grademax: float = 100.0
    grademin: float = 0.0


@dataclass
class Gradebook:
    users: list[User]
    items: list[Item]
    grades: dict[tuple[int, int], float | None] = field(default_factory=dict)
    feedback: dict[tuple[int, int], str | None] = field(default_factory=dict)
    gradepointmax: float = 100.0
    unlimitedgrades: bool = False


@dataclass
class Result:
    ok: bool
    errors: list[str]
    records: list[dict]
    """the grade_import_values rows, in insertion order"""


def php_empty(value: str) -> bool:
    return value in ("", "0")


def unformat_float(value: str) -> float | None:
    """unformat_float($value, true) for an English site: a plain decimal number, else false."""
    v = value.strip()
    return float(v) if re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", v) else None


def prepare(book: Gradebook, text: str, *, mapfrom: str, mapto: str, mapping: dict[str, str],
            separator: str = ",") -> Result:
    """prepare_import_grade_data: ``mapfrom`` is the header of the identifier column, ``mapto``
    one of userid/useridnumber/useremail/username, ``mapping`` maps other headers to a grade
    item id (as a string) or ``feedback_<item id>`` (unmapped headers are ignored)."""
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""),
                           delimiter=separator))
    header = [h.strip() for h in rows[0]]
    colmap: dict[int, str] = {i: mapping[h] for i, h in enumerate(header) if h in mapping}
    colmap[header.index(mapfrom)] = mapto
    items = {it.id: it for it in book.items}
    errors: list[str] = []
    records: list[dict] = []
    studentid: int | None = None
    for line in rows[1:]:
        if len(line) <= 1:
            continue
        newgrades: list[dict] = []
        newfeedbacks: list[dict] = []
        for key, raw in enumerate(line):
            value = raw.strip()
            target = colmap.get(key, "")
            ident, _, fb_item = target.partition("_")
            if ident in FIELDS:
                if not php_empty(value):
                    hits = [u for u in book.users if getattr(u, FIELDS[ident]) == value]
                    if len(hits) != 1:
                        errors.append(f"usermappingerror: {FIELDS[ident]} {value!r}")
                        return Result(False, errors, [])
                    studentid = hits[0].id
            elif ident == "feedback":
                newfeedbacks.append({"itemid": int(fb_item), "feedback": value})
            elif target:
                if value in ("", "-"):
                    grade = None
                else:
                    grade = unformat_float(value)
                    if grade is None:
                        errors.append(f"badgrade: {value!r}")
                        return Result(False, errors, [])
                newgrades.append({"itemid": int(target), "finalgrade": grade})
        if not studentid:
            errors.append("usermappingerrorusernotfound")
            return Result(False, errors, [])
        limit = book.gradepointmax if book.unlimitedgrades else 100.0
        for g in newgrades:
            if g["finalgrade"] is not None and g["finalgrade"] > limit:
                errors.append(f"gradevaluetoobig: {g['finalgrade']} > {limit:g}")
                return Result(False, errors, [])
            records.append({"userid": studentid, **g, "feedback": None,
                            "importonlyfeedback": False})
        for f in newfeedbacks:
            same = next((r for r in records if r["userid"] == studentid
                         and r["itemid"] == f["itemid"]), None)
            if same is not None:
                same["feedback"] = f["feedback"]
            else:
                records.append({"userid": studentid, "itemid": f["itemid"], "finalgrade": None,
                                "feedback": f["feedback"], "importonlyfeedback": True})
    for r in records:
        if r["itemid"] not in items:
            return Result(False, [f"importfailed: item {r['itemid']}"], [])
    return Result(True, errors, records)


def commit(book: Gradebook, result: Result, importfeedback: bool = True) -> None:
    """grade_import_commit: apply every record in order (later records win)."""
    if not result.ok:
        return
    items = {it.id: it for it in book.items}
    for r in result.records:
        key = (r["userid"], r["itemid"])
        if not r["importonlyfeedback"]:
            g = r["finalgrade"]
            if g is not None:
                it = items[r["itemid"]]
                g = min(max(g, it.grademin), it.grademax)
            book.grades[key] = g
        if importfeedback and r["feedback"] is not None:
            book.feedback[key] = r["feedback"]
