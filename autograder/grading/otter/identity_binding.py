"""Grade a quiz against the submitter's own variant, whatever ``student_id`` the notebook sets.

A quiz's hidden tests take ``(qN_answer, student_id)`` and compute the key of that student's
variant. Otter fills ``student_id`` from the notebook, so a student who hands in a classmate's
notebook (with the classmate's id in it) is graded on the classmate's variant and gets the
classmate's points. When the grader knows who handed the submission in (the LMS's submitter:
:class:`~autograder.grading.model.Submitter`), the tests here see ``student_id`` bound to that
identity in the trusted process (:meth:`IdentityBinding.tests_namespace`); the student's own
value is read separately, only to compare and flag (:meth:`IdentityBinding.check`).

A group submission carries several identities: the variant of the member whose identity the
notebook sets counts (the group worked in that member's notebook); when it sets none of theirs,
the first member's (the submitter Gradescope lists first, the first member of the LMS group)
counts and the submission is flagged.

Only autograders that declare the binding take part (``mlphys.json``'s
``quiz_identity_column``, written by ``mlphys build`` for quizzes); without a submitter nothing
changes (the notebook's ``student_id`` is used, as under ``otter run``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from autograder.assignment_support.mlphys_quiz import normalize_identity
from autograder.grading.model import IdentityCheck, Submitter

IDENTITY_VARIABLE = "student_id"
"""The notebook variable (and hidden-test parameter) that picks a quiz variant."""
SHOWN_CHARS = 80
MAX_SEEN = 5


class BoundNamespace(Mapping[str, Any]):
    """The student's namespace with some names answered by the grader instead."""

    def __init__(self, namespace: Mapping[str, Any], bound: Mapping[str, Any]) -> None:
        self._namespace = namespace
        self._bound = dict(bound)

    def __getitem__(self, name: str) -> Any:
        if name in self._bound:
            return self._bound[name]
        return self._namespace[name]

    def __contains__(self, name: object) -> bool:
        return name in self._bound or name in self._namespace

    def __iter__(self) -> Iterator[str]:
        yield from self._bound
        yield from (k for k in self._namespace if k not in self._bound)

    def __len__(self) -> int:
        return len(set(self._namespace) | set(self._bound))


def _normal(value: str) -> str | None:
    try:
        return normalize_identity(value)
    except ValueError:
        return None


class IdentityBinding:
    """One submission's binding: whose variant its tests see, and what its notebook says."""

    def __init__(self, submitter: Submitter, variable: str = IDENTITY_VARIABLE) -> None:
        if not submitter.identities:
            raise ValueError("a binding needs at least one identity")
        self.submitter = submitter
        self.variable = variable
        self.graded_as: str | None = None
        self._seen: list[str] = []
        """distinct shown values (strings, or a description of a non-string)"""
        self._strings: set[str] = set()
        """normalized string values seen"""
        self._unset = False
        self._read = False

    def observe(self, namespace: Mapping[str, Any]) -> None:
        """Read the notebook's own ``student_id`` now (never raises: a sandbox that cannot
        answer leaves the observation out)."""
        try:
            value = namespace[self.variable]
        except KeyError:
            value = None
        except Exception:  # the sandbox died or timed out: the tests will say so
            return
        self._read = True
        if type(value) is str and _normal(value) is not None:
            shown = value.strip()
            shown = shown if len(shown) <= SHOWN_CHARS else shown[:SHOWN_CHARS] + "..."
            self._strings.add(_normal(value) or "")
        else:
            self._unset = True
            shown = "(not set)" if value is None else "(not a string)"
        if shown not in self._seen and len(self._seen) < MAX_SEEN:
            self._seen.append(shown)
        if self.graded_as is None:
            self.graded_as = self._choose()

    def _choose(self) -> str:
        for identity in self.submitter.identities:
            if _normal(identity) in self._strings:
                return identity
        return self.submitter.identities[0]

    def tests_namespace(self, namespace: Mapping[str, Any]) -> Mapping[str, Any]:
        """What one question's tests run against: ``namespace`` with the variable bound."""
        self.observe(namespace)
        if self.graded_as is None:
            self.graded_as = self._choose()
        return BoundNamespace(namespace, {self.variable: self.graded_as})

    def check(self) -> IdentityCheck:
        graded_as = self.graded_as or self._choose()
        own = _normal(graded_as)
        if not self._read:
            status = "unread"
        elif self._strings - {own}:
            status = "mismatch"
        elif self._strings:
            status = "match"
        else:
            status = "unset"
        return IdentityCheck(status=status, source=self.submitter.source, graded_as=graded_as,
                             notebook_ids=tuple(self._seen),
                             group=tuple(self.submitter.identities))


def unknown_check(submitter: Submitter) -> IdentityCheck:
    """The check of a submission whose owner the identity source does not know."""
    return IdentityCheck(status="unknown", source=submitter.source, graded_as=None,
                         why=submitter.why or "the submitter has no identity")


def annotate_results(results: dict[str, Any], identity: dict[str, Any] | None) -> dict[str, Any]:
    """Add the identity check to a Gradescope ``results.json`` dict: in ``extra_data`` always,
    and at the top of the student-visible ``output`` when it is flagged."""
    if identity is None:
        return results
    check = IdentityCheck.from_dict(identity)
    results.setdefault("extra_data", {}).setdefault("mlphys", {})["identity"] = check.to_dict()
    notice = check.student_notice() if check.flagged else ""
    if notice:
        results["output"] = notice + ("\n\n" + results["output"] if results.get("output") else "")
    return results
