"""Which variant of a quiz a student gets, and which seeds make up a course's pool of variants.

A course's pool is fixed by two settings of its ``course.toml``: a **salt** (a secret, new every
term) and the number of **variants** per quiz. Then

* variant ``k`` of quiz ``Q`` is generated from seed ``H("seed", salt, Q, k)``: a new salt gives
  a new pool, so last term's answers say nothing about this term's questions, and without the
  salt nobody (not even with this package installed) can regenerate a variant and its key;
* a student's variant is ``H("variant", mapping_key, Q, identity) mod variants`` with
  ``mapping_key = H("mapping", salt)``: a pure function of (quiz, normalized identity, salt,
  pool size). Students receive only ``mapping_key`` (in ``<quiz>.quiz.npz``), which lets their
  ``mlphys_quiz.py`` pick the same variant but cannot be turned back into the salt or a seed.

``H`` is SHA-256 of the JSON list of its arguments (unambiguous whatever the strings contain).
``mlphys build`` writes the course's pool as ``pool.json`` into the copy of this package that
travels in the autograder zip; without that file (this repository, the demo) the defaults apply.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DEFAULT_SALT = "mlphys"
"""The salt of every course that sets none: public, so only for trying things out."""
DEFAULT_VARIANTS = 32
MAX_VARIANTS = 1024
"""The student's ``.quiz.npz`` holds every variant's pictures: ~30 kB each for quiz01."""
POOL_FILE = Path(__file__).with_name("pool.json")


def normalize_identity(student_id: str) -> str:
    """The form of an identity that picks the variant: NFKC, no surrounding blanks, lower case.

    ``mlphys_quiz.normalize_identity`` (the student side) must stay identical (tested)."""
    if not isinstance(student_id, str):
        raise ValueError(f"a student id must be a string, not {type(student_id).__name__}")
    normalized = unicodedata.normalize("NFKC", student_id).strip().lower()
    if not normalized:
        raise ValueError("a student id is needed to pick the quiz variant")
    return normalized


def _h(*parts: str | int) -> bytes:
    return hashlib.sha256(json.dumps(list(parts)).encode("ascii")).digest()


@dataclass(frozen=True)
class Pool:
    """One course's pool of quiz variants: its salt and its size."""

    salt: str = DEFAULT_SALT
    variants: int = DEFAULT_VARIANTS

    def __post_init__(self) -> None:
        if not isinstance(self.salt, str) or not self.salt.strip():
            raise ValueError("the pool's salt must be a non-empty string")
        if isinstance(self.variants, bool) or not isinstance(self.variants, int) \
                or not 1 <= self.variants <= MAX_VARIANTS:
            raise ValueError(f"the number of variants must be an integer from 1 to {MAX_VARIANTS}, "
                             f"not {self.variants!r}")

    @property
    def is_default(self) -> bool:
        return self.salt == DEFAULT_SALT

    @property
    def mapping_key(self) -> str:
        """What students get instead of the salt: enough to find their variant, not its seed."""
        return _h("mapping", self.salt).hex()

    def seed(self, quiz: str, variant: int) -> int:
        """The generator seed of variant ``variant`` (0 .. variants-1) of ``quiz``."""
        if isinstance(variant, bool) or not isinstance(variant, int) or not 0 <= variant < self.variants:
            raise IndexError(f"variant {variant!r} is not in this pool (0 .. {self.variants - 1})")
        return int.from_bytes(_h("seed", self.salt, quiz, variant)[:8], "little")

    def to_json(self) -> dict[str, str | int]:
        return {"salt": self.salt, "variants": self.variants}

    @classmethod
    def from_json(cls, data: object) -> Pool:
        if not isinstance(data, dict) or set(data) != {"salt", "variants"}:
            raise ValueError("a pool is a JSON object with exactly 'salt' and 'variants'")
        return cls(data["salt"], data["variants"])


def variant_from_mapping_key(mapping_key: str, quiz: str, student_id: str, variants: int) -> int:
    """The variant index; ``mlphys_quiz.variant_of`` computes exactly this on the student side."""
    digest = _h("variant", mapping_key, quiz, normalize_identity(student_id))
    return int.from_bytes(digest[:8], "little") % variants


@lru_cache(maxsize=1)
def active_pool() -> Pool:
    """The pool of the course this package was built for (``pool.json`` beside this module, as
    written by ``mlphys build`` into the autograder zip), else the default pool."""
    if not POOL_FILE.exists():
        return Pool()
    try:
        return Pool.from_json(json.loads(POOL_FILE.read_text(encoding="utf-8")))
    except ValueError as e:
        raise ValueError(f"{POOL_FILE} is not a valid quiz pool: {e}") from None
