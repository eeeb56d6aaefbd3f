"""Builders for LMS download zips and grading directories, byte for byte as the LMSs write
them (layouts documented in docs/lms.md)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"


def nb_bytes(marker: str = "x = 1") -> bytes:
    """A small valid notebook whose code cell holds ``marker`` (to tell files apart)."""
    nb = {
        "cells": [{"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {},
                   "outputs": [], "source": [marker]}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    return json.dumps(nb).encode()


def write_zip(path: Path, entries: list[tuple[str, bytes]], *, utf8_flag: bool = True,
              date_time: tuple[int, ...] = (2024, 3, 1, 12, 0, 0)) -> Path:
    """A zip with ``entries`` in order. ``utf8_flag=False`` writes UTF-8 names WITHOUT the
    UTF-8 flag bit, as zip writers that ignore it do (Python would set it by itself, so names
    are written as same-length ASCII placeholders and patched in the bytes)."""
    placeholders: dict[bytes, bytes] = {}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, (name, data) in enumerate(entries):
            raw = name.encode("utf-8")
            if not utf8_flag and raw != name.encode("ascii", "ignore"):
                ph = f"~{i:04d}".encode()
                ph = (ph + b"#" * len(raw))[: len(raw)]
                placeholders[ph] = raw
                name = ph.decode()
            info = zipfile.ZipInfo(name, date_time=date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    if placeholders:
        blob = path.read_bytes()
        for ph, raw in placeholders.items():
            assert blob.count(ph) == 2  # local header + central directory
            blob = blob.replace(ph, raw)
        path.write_bytes(blob)
    return path


def write_final_grades(grades_dir: Path, questions: dict[str, float],
                       rows: dict[str, dict[str, float]], status: dict[str, str] | None = None
                       ) -> Path:
    """``final_grades.csv`` exactly as ``mlphys grade`` writes it (outputs.write_outputs)."""
    grades_dir.mkdir(parents=True, exist_ok=True)
    qs = sorted(questions)
    total = sum(questions.values())
    lines = [",".join(["file", *qs, "total_points_earned", "percent_correct", "grading_status"]),
             ",".join(["points-per-question", *(repr(float(questions[q])) for q in qs),
                       repr(float(total)), "1", "--"])]
    for file in sorted(rows):
        sc = rows[file]
        t = sum(sc.values())
        lines.append(",".join([file, *(repr(float(sc.get(q, 0.0))) for q in qs), repr(float(t)),
                               repr(round(t / total, 4)), (status or {}).get(file, "Completed")]))
    p = grades_dir / "final_grades.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


CANVAS_ROSTER = (
    "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,HW 1 (4501),Current Score,Final Score\r\n"
    "    Points Possible,,,,,10,(read only),(read only)\r\n"
    "\"Doe, Jane\",1001,S1001,jdoe@uni.edu,Section A,,,\r\n"
    "\"O_Brien, Seán\",1002,S1002,sobrien@uni.edu,Section A,,,\r\n"
    "\"Müller, José\",1003,S1003,jmuller@uni.edu,Section B,,,\r\n"
    "\"Nosub, Nora\",1004,S1004,nnosub@uni.edu,Section B,,,\r\n"
    "\"Student, Test\",9999,,,Section A,,,\r\n"
)
