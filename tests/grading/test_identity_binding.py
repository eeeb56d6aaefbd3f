"""The identity binding's rules, on plain namespaces: whose variant the tests see, what the check
says, where identities come from (Gradescope metadata, collection.json, an identity map)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autograder.gradescope.metadata import read_metadata, read_roster, submitter
from autograder.grading.model import IdentityCheck, Submitter
from autograder.grading.otter.identity_binding import (
    IdentityBinding,
    annotate_results,
    unknown_check,
)
from autograder.identity_sources import (
    IdentitySourceError,
    collection_beside,
    from_collection,
    from_map,
    load_source,
)


class Dies(dict):
    """A namespace whose sandbox is gone."""

    def __getitem__(self, key):
        raise RuntimeError("sandbox died")


def binding(*identities: str) -> IdentityBinding:
    return IdentityBinding(Submitter(tuple(identities), "test source"))


def test_the_tests_see_the_submitter_whatever_the_notebook_says():
    b = binding("ada.lovelace")
    view = b.tests_namespace({"student_id": "alan.turing", "q1_answer": "c"})
    assert view["student_id"] == "ada.lovelace" and view["q1_answer"] == "c"
    assert "student_id" in view and set(view) == {"student_id", "q1_answer"}
    check = b.check()
    assert check.status == "mismatch" and check.flagged
    assert check.graded_as == "ada.lovelace" and check.notebook_ids == ("alan.turing",)
    assert "'alan.turing'" in check.message() and "'ada.lovelace'" in check.student_notice()


def test_an_honest_notebook_matches_up_to_case_and_blanks():
    b = binding("Ada.Lovelace")
    b.tests_namespace({"student_id": "  ada.LOVELACE "})
    b.tests_namespace({"student_id": "ada.lovelace"})
    check = b.check()
    assert check.status == "match" and not check.flagged and check.student_notice() == ""
    assert check.graded_as == "Ada.Lovelace"


def test_a_typo_is_a_mismatch_and_the_submitters_variant_counts():
    b = binding("ada.lovelace")
    view = b.tests_namespace({"student_id": "ada.lovelce"})
    assert view["student_id"] == "ada.lovelace"
    assert b.check().status == "mismatch"


@pytest.mark.parametrize("namespace", [{}, {"student_id": 12345}, {"student_id": "   "},
                                       {"student_id": ...}])
def test_a_notebook_without_a_string_id_is_unset(namespace):
    b = binding("ada.lovelace")
    assert b.tests_namespace(namespace)["student_id"] == "ada.lovelace"
    check = b.check()
    assert check.status == "unset" and check.flagged and check.graded_as == "ada.lovelace"


def test_an_id_changed_during_the_notebook_is_a_mismatch():
    b = binding("ada.lovelace")
    b.tests_namespace({"student_id": "alan.turing"})
    b.tests_namespace({"student_id": "ada.lovelace"})
    check = b.check()
    assert check.status == "mismatch"
    assert set(check.notebook_ids) == {"alan.turing", "ada.lovelace"}


def test_a_dead_sandbox_leaves_the_id_unread_and_the_submitter_graded():
    b = binding("ada.lovelace")
    assert b.tests_namespace(Dies())["student_id"] == "ada.lovelace"
    assert b.check().status == "unread" and not b.check().flagged


def test_a_group_counts_the_member_whose_notebook_it_is():
    b = binding("grace.hopper", "ada.lovelace", "alan.turing")
    assert b.tests_namespace({"student_id": "Ada.Lovelace"})["student_id"] == "ada.lovelace"
    check = b.check()
    assert check.status == "match" and check.group == ("grace.hopper", "ada.lovelace", "alan.turing")


def test_a_group_with_someone_elses_notebook_counts_the_first_member():
    b = binding("grace.hopper", "ada.lovelace")
    assert b.tests_namespace({"student_id": "edsger.dijkstra"})["student_id"] == "grace.hopper"
    assert b.check().status == "mismatch" and "group of 2" in b.check().message()


def test_the_choice_is_made_once_per_submission():
    b = binding("grace.hopper", "ada.lovelace")
    b.tests_namespace({"student_id": "ada.lovelace"})
    assert b.tests_namespace({"student_id": "grace.hopper"})["student_id"] == "ada.lovelace"


def test_long_ids_are_shortened_in_the_check():
    b = binding("ada.lovelace")
    b.tests_namespace({"student_id": "x" * 10_000})
    (shown,) = b.check().notebook_ids
    assert len(shown) < 100 and shown.endswith("...")


def test_results_json_carries_a_flagged_check_for_the_student():
    check = binding("ada.lovelace")
    check.tests_namespace({"student_id": "alan.turing"})
    results = annotate_results({"tests": [], "output": "Grading did not complete"},
                               check.check().to_dict())
    assert results["output"].startswith("Identity check: the notebook's student_id is 'alan.turing'")
    assert results["output"].endswith("Grading did not complete")
    assert results["extra_data"]["mlphys"]["identity"]["status"] == "mismatch"
    honest = binding("ada.lovelace")
    honest.tests_namespace({"student_id": "ada.lovelace"})
    quiet = annotate_results({"tests": []}, honest.check().to_dict())
    assert "output" not in quiet and quiet["extra_data"]["mlphys"]["identity"]["status"] == "match"
    assert annotate_results({"tests": []}, None) == {"tests": []}


def test_an_unknown_submitter_is_not_graded_against_anyone():
    check = unknown_check(Submitter((), "ids.csv", why="not in ids.csv"))
    assert check.status == "unknown" and check.graded_as is None and check.flagged
    assert IdentityCheck.from_dict(check.to_dict()) == check
    assert "not graded" in check.message()


# -- Gradescope's submission_metadata.json ---------------------------------------------------

USERS = [{"email": "ada@uni.edu", "id": 7, "name": "Ada", "sid": "S1"},
         {"email": "alan@uni.edu", "id": 8, "name": "Alan", "sid": None}]


def test_gradescope_metadata_gives_the_submitter_in_the_identity_column():
    one = {"users": USERS[:1]}
    assert submitter(one, "email").identities == ("ada@uni.edu",)
    assert submitter(one, "auto").identities == ("ada@uni.edu",)
    assert submitter(one, "sid").identities == ("S1",)
    group = submitter({"users": USERS}, "email")
    assert group.identities == ("ada@uni.edu", "alan@uni.edu")
    assert "submission_metadata.json" in group.source


def test_gradescope_metadata_without_the_column_or_users_is_an_unknown_owner():
    no_sid = submitter({"users": USERS}, "sid")
    assert no_sid.identities == () and "sid" in no_sid.why
    login = submitter({"users": USERS[:1]}, "login")
    assert login.identities == () and "Gradescope reports only email and sid" in login.why
    assert submitter({"users": []}, "email").identities == ()
    assert submitter({"users": ["x"]}, "email").identities == ()
    assert submitter(None, "email") is None


def test_gradescope_metadata_file_that_is_empty_or_missing_is_no_source(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("")  # what `otter grade`'s image holds
    assert read_metadata(empty) is None
    assert read_metadata(tmp_path / "missing.json") is None
    (tmp_path / "list.json").write_text("[]")
    assert read_metadata(tmp_path / "list.json") is None
    (tmp_path / "ok.json").write_text(json.dumps({"users": USERS}))
    assert read_metadata(tmp_path / "ok.json")["users"] == USERS


# -- identity sources of `mlphys grade` -------------------------------------------------------


def test_identity_map_csv(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("File,Identity\nsubs/a.ipynb,ada.lovelace\nb.ipynb,grace.hopper\n"
                    "b.ipynb,alan.turing\nc.ipynb,\n\n", encoding="utf-8")
    source = from_map(path)
    assert source.submitter(Path("/x/a.ipynb")).identities == ("ada.lovelace",)
    assert source.submitter(Path("b.ipynb")).identities == ("grace.hopper", "alan.turing")
    assert source.submitter(Path("c.ipynb")).why == "no identity in ids.csv"
    missing = source.submitter(Path("d.ipynb"))
    assert missing.identities == () and missing.why == "not in ids.csv"
    assert load_source(path, "auto").by_file == source.by_file


@pytest.mark.parametrize(("text", "error"), [
    ("", "is empty"), ("name,login\nx,y\n", "needs the columns 'file' and 'identity'"),
    ('file,identity\na.ipynb,"ada""x"\n', "contains a quote"), ("file,identity\n,ada\n", "no file name"),
])
def test_identity_map_mistakes_are_one_line_errors(tmp_path, text, error):
    path = tmp_path / "ids.csv"
    path.write_text(text)
    with pytest.raises(IdentitySourceError, match=error):
        from_map(path)


def _entry(file, matched_by, student=None, members=None):
    return {"file": file, "matched_by": matched_by, "student": student or {"key": "k", "name": "n"},
            **({"members": members} if members is not None else {})}


def test_collection_json_gives_the_matched_roster_identity(tmp_path):
    ada = {"key": "ada", "name": "Lovelace, Ada", "login": "alove", "email": "ada@uni.edu",
           "sis_user_id": "S1", "lms_id": "101"}
    alan = {"key": "alan", "name": "Turing, Alan", "login": "aturi", "email": "alan@uni.edu",
            "lms_id": "102"}
    data = {"entries": [
        _entry("ada.ipynb", "lms id", ada),
        _entry("group-1.ipynb", "group", {"key": "group-1", "name": "Group 1"}, [ada, alan]),
        _entry("who.ipynb", "unmatched: no roster student", {"key": "x", "name": "X"}),
        _entry("noid.ipynb", "name", {"key": "y", "name": "Y"}),
    ]}
    path = tmp_path / "collection.json"
    path.write_text(json.dumps(data))
    source = from_collection(path, "auto")
    assert source.submitter(Path("ada.ipynb")).identities == ("alove",)
    assert source.submitter(Path("group-1.ipynb")).identities == ("alove", "aturi")
    assert "not matched" in source.submitter(Path("who.ipynb")).why
    assert "has none of" in source.submitter(Path("noid.ipynb")).why
    assert source.submitter(Path("other.ipynb")).why == "not in collection.json"
    assert from_collection(path, "email").submitter(Path("ada.ipynb")).identities == ("ada@uni.edu",)
    assert "2 of 4 files" in source.describe()
    path.write_text("{}")
    with pytest.raises(IdentitySourceError, match="collection.json"):
        from_collection(path, "auto")


def test_collection_json_is_found_beside_collected_submissions(tmp_path):
    (tmp_path / "submissions").mkdir()
    (tmp_path / "collection.json").write_text("{}")
    assert collection_beside([tmp_path / "submissions"]) == (tmp_path / "collection.json").resolve()
    (tmp_path / "submissions" / "a.ipynb").write_text("{}")
    assert collection_beside([tmp_path / "submissions" / "a.ipynb"]) is not None
    (tmp_path / "other").mkdir()
    assert collection_beside([tmp_path / "other"]) is None


def test_the_zips_roster_turns_gradescopes_email_or_sid_into_the_course_identity(tmp_path):
    roster = [{"identity": "alove", "email": "Ada@Uni.edu", "sid": "S1"},
              {"identity": "aturi", "email": "alan@uni.edu", "sid": "S2"}]
    path = tmp_path / "mlphys_roster.json"
    path.write_text(json.dumps(roster))
    table = read_roster(path)
    by_email = submitter({"users": [{"email": "ada@uni.edu", "sid": None}]}, "login", table)
    assert by_email.identities == ("alove",) and "from the course roster" in by_email.source
    by_sid = submitter({"users": [{"email": "other@uni.edu", "sid": "S2"}]}, "login", table)
    assert by_sid.identities == ("aturi",)
    group = submitter({"users": USERS}, "login", table)  # Ada by email, Alan by email
    assert group.identities == ("alove", "aturi")
    stranger = submitter({"users": [{"email": "eve@uni.edu", "sid": "S9"}]}, "login", table)
    assert stranger.identities == () and "login" in stranger.why  # not graded as anyone
    assert submitter({"users": [{"email": "eve@uni.edu"}]}, "auto", table).identities == (
        "eve@uni.edu",)  # auto: Gradescope's email is an identity of its own
    (tmp_path / "bad.json").write_text("{}")
    assert read_roster(tmp_path / "bad.json") is None and read_roster(tmp_path / "no.json") is None
