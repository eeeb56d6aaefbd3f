"""course.toml and the course folder: found from where the instructor stands, validated with
one-line errors, and the roster column that is each student's quiz identity."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from autograder.cli import main
from autograder.course import PACKAGE_COURSE, CourseError, discover_course, load_course
from autograder.identity import IdentityError, identities, identity_of
from autograder.lms.roster import read_roster


def _course(root, toml: str | None = None, quiz: bool = True):
    root.mkdir(parents=True, exist_ok=True)
    if toml is not None:
        (root / "course.toml").write_text(toml)
    if quiz:
        (root / "assignments" / "quiz99").mkdir(parents=True)
        (root / "assignments" / "quiz99" / "quiz99.ipynb").write_text("{}")
    return root


def test_the_config_sets_salt_size_and_roster(tmp_path):
    root = _course(tmp_path / "c", '[quiz]\nsalt = "ws2025"\nvariants = 12\n\n'
                                   '[roster]\nfile = "class.csv"\nidentity = "email"\n')
    (root / "class.csv").write_text("id,name,email\n1,Ada,ada@uni.example\n")
    course = load_course(root)
    assert (course.salt, course.variants, course.identity) == ("ws2025", 12, "email")
    assert course.roster == root / "class.csv" and course.config_file == root / "course.toml"
    assert course.assignments == root / "assignments"
    assert course.pool_json() == {"salt": "ws2025", "variants": 12}
    assert course.warnings() == []


def test_without_config_the_defaults_apply_and_the_build_warns(tmp_path):
    course = load_course(_course(tmp_path / "c"))
    assert (course.salt, course.variants, course.roster, course.config_file) == ("mlphys", 32, None, None)
    assert not course.own_reference  # no reference/ folder: the installed one
    assert course.reference == PACKAGE_COURSE / "reference"
    assert "default salt" in course.warnings()[0]


def test_the_course_folder_is_found_from_a_subfolder_and_falls_back_loudly(tmp_path):
    root = _course(tmp_path / "course", '[quiz]\nsalt = "x"\n')
    deep = root / "assignments" / "quiz99"
    assert discover_course(cwd=deep).root == root.resolve()
    (root / "reference" / "quiz").mkdir(parents=True)
    (root / "reference" / "__init__.py").write_text("")
    assert discover_course(cwd=deep).reference == (root / "reference").resolve()
    nowhere = tmp_path / "elsewhere"
    nowhere.mkdir()
    fallback = discover_course(cwd=nowhere)
    assert fallback.root == PACKAGE_COURSE
    assert "the course shipped with mlphys" in fallback.describe()[0]
    assert fallback.is_fallback and "using the course shipped with mlphys" in fallback.warnings()[0]
    assert not discover_course(cwd=deep).is_fallback
    assert discover_course(root, cwd=nowhere).found == "given with --course"


@pytest.mark.parametrize(("toml", "message"), [
    ('[quiz]\nsalt = ""\n', "quiz.salt must be a non-empty string"),
    ("[quiz]\nvariants = 0\n", "quiz.variants must be an integer from 1 to 1024"),
    ('[quiz]\nvariants = "32"\n', "quiz.variants must be an integer"),
    ('[quiz]\nsalts = "x"\n', "unknown key quiz.salts"),
    ('[grading]\nx = 1\n', "unknown section [grading]"),
    ('[roster]\nidentity = "name"\n', "roster.identity must be one of auto, login, email"),
    ('[roster]\nfile = "missing.csv"\n', "missing.csv does not exist"),
    ("[quiz\n", "not valid TOML"),
])
def test_config_mistakes_are_one_line_errors(tmp_path, toml, message):
    root = _course(tmp_path / "c", toml)
    with pytest.raises(CourseError) as e:
        load_course(root)
    assert message in e.value.message and "\n" not in e.value.message
    result = CliRunner().invoke(main, ["build", "--course", str(root), "--out", str(tmp_path / "d")])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


CANVAS = ("\ufeffStudent,ID,SIS User ID,SIS Login ID,Section\r\n"
          "    Points Possible,,,,\r\n"
          '"Lovelace, Ada",1001,S1001,ada.lovelace,A\r\n'
          '"Noether, Emmy",1002,S1002,,A\r\n'
          '"Student, Test",9999,,,A\r\n')
MOODLE = ("First name,Last name,ID number,Institution,Department,Email address\n"
          "Lise,Meitner,M-77,Uni,Physics,Lise.Meitner@uni.example\n"
          "Marie,Curie,M-78,Uni,Physics,\n")
PLAIN = "id,name,email,sid\n17,Vera Rubin,vera@uni.example,S17\n18,Paul Dirac,,S18\n"


@pytest.mark.parametrize(("text", "column", "expected"), [
    (CANVAS, "auto", [("ada.lovelace", "login"), ("S1002", "sid")]),
    (CANVAS, "lms_id", [("1001", "lms_id"), ("1002", "lms_id")]),
    (MOODLE, "auto", [("Lise.Meitner@uni.example", "email"), ("M-78", "id_number")]),
    (PLAIN, "auto", [("vera@uni.example", "email"), ("S18", "sid")]),
    (PLAIN, "sid", [("S17", "sid"), ("S18", "sid")]),
])
def test_the_identity_column_of_each_roster_format(tmp_path, text, column, expected):
    path = tmp_path / "roster.csv"
    path.write_text(text, encoding="utf-8")
    students = read_roster(path).students
    assert [identity_of(s, column) for s in students] == expected


def test_a_named_identity_column_is_required_of_everybody_and_must_be_unique(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text(CANVAS, encoding="utf-8")
    with pytest.raises(IdentityError, match="Emmy.*has no login"):
        identities(read_roster(path).students, "login")
    path.write_text("id,name,email\n1,Ada One,ada@x.org\n2,Ada Two, ADA@X.org\n", encoding="utf-8")
    with pytest.raises(IdentityError, match="same identity"):
        identities(read_roster(path).students, "email")


@pytest.mark.parametrize(("roster", "message"), [
    ("Name;Score\nAda;1\n", "is not a Canvas gradebook export"),
    (CANVAS.replace("ada.lovelace", 'ada"lovelace'), "contains a quote"),
    ("id,name,email\n1,Ada One,ada@x.org\n2,Ada Two,ada@x.org\n", "have the same identity"),
])
def test_roster_mistakes_stop_the_build_with_one_line(tmp_path, roster, message):
    root = _course(tmp_path / "c", '[quiz]\nsalt = "x"\n', quiz=False)
    (root / "assignments").mkdir()
    (root / "roster.csv").write_text(roster, encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(main, ["build", "--course", str(root), "--roster", str(root / "roster.csv")])
    assert result.exit_code == 1 and message in result.output, result.output  # before any build
    assert "Traceback" not in result.output
    missing = runner.invoke(main, ["build", "--course", str(root), "--roster", str(root / "nope.csv")])
    assert missing.exit_code != 0 and "nope.csv" in missing.output and "Traceback" not in missing.output
