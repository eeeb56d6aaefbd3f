"""Name and identifier normalisation shared by the importers and the roster matcher.

Why this is careful: the LMSs mangle names differently. Canvas lowercases the sortable name
("Last, First") and drops everything that is not a word character (``doejane``, accents kept);
Moodle writes "First Last" with underscores turned into spaces; Gradescope keeps the display
name. Matching compares accent-folded, case-folded letter/digit strings in both name orders.
"""

from __future__ import annotations

import re
import unicodedata

_NON_ALNUM = re.compile(r"[\W_]+", re.UNICODE)


def fold(text: str) -> str:
    """Lowercase, strip accents and everything but letters and digits: ``Müller-Lüdenscheidt``
    -> ``mullerludenscheidt``."""
    decomposed = unicodedata.normalize("NFKD", text)
    no_marks = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_ALNUM.sub("", no_marks.casefold())


def name_keys(name: str) -> set[str]:
    """Folded keys for a person's name in both orders: "Doe, Jane" and "Jane Doe" both give
    {"doejane", "janedoe"}; a single token gives itself."""
    name = name.strip()
    if not name:
        return set()
    if "," in name:
        last, _, first = name.partition(",")
    else:
        parts = name.split()
        first, last = " ".join(parts[:-1]), parts[-1] if parts else ""
    keys = {fold(last + first), fold(first + last), fold(name)}
    return {k for k in keys if k}


def display_name(name: str) -> str:
    """'Doe, Jane' -> 'Jane Doe' (other strings unchanged)."""
    if "," in name:
        last, _, first = name.partition(",")
        return f"{first.strip()} {last.strip()}".strip()
    return name.strip()


def split_name(name: str) -> tuple[str, str]:
    """(first, last) of 'Doe, Jane' or 'Jane Doe' (last = the last word)."""
    if "," in name:
        last, _, first = name.partition(",")
        return first.strip(), last.strip()
    parts = name.split()
    if len(parts) <= 1:
        return "", name.strip()
    return " ".join(parts[:-1]), parts[-1]


def slug(text: str, limit: int = 40) -> str:
    """An ASCII file-name-safe slug: 'José Müller' -> 'jose-muller'."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = decomposed.encode("ascii", "ignore").decode("ascii").lower()
    s = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")
    return s[:limit].strip("-") or "student"


def norm_email(email: str | None) -> str:
    return (email or "").strip().casefold()


def norm_id(value: str | None) -> str:
    """IDs compare as stripped strings; spreadsheets turn '00123' into '123.0', undo the '.0'."""
    v = (value or "").strip()
    if re.fullmatch(r"\d+\.0", v):
        v = v[:-2]
    return v
