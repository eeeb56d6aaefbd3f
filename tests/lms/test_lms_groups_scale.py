"""Group files and the LMS's points possible."""

from __future__ import annotations

import csv
import io

import pytest
from lms_layouts import CanvasUser, canvas_group_set_csv

from autograder.lms.errors import LmsError
from autograder.lms.groups import is_group_file, read_memberships
from autograder.lms.scale import parse_points, scale_factor


def _rows(text):
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("include_sis_id", [True, False])
def test_canvas_group_set_export(include_sis_id):
    users = [CanvasUser(1001, "Jane", "Doe", "S1", "jdoe"), CanvasUser(1002, "Bob", "Roe", "S2", "broe"),
             CanvasUser(1003, "Ann", "Poe", "S3", "apoe")]
    text = canvas_group_set_csv(users, {"Team Alpha": (77, [1001, 1002])}, include_sis_id)
    got = read_memberships(_rows(text), "groups.csv")
    assert sorted((m.group, m.group_id, m.canvas_user_id, m.login) for m in got) == [
        ("Team Alpha", "77", "1001", "jdoe"), ("Team Alpha", "77", "1002", "broe")]
    assert all(bool(m.sis_user_id) == include_sis_id for m in got)


def test_generic_group_file_and_refusals():
    got = read_memberships(_rows("Email,Team\nA@uni.edu,Red\nb@uni.edu,\n"), "g.csv")
    assert [(m.email, m.group) for m in got] == [("a@uni.edu", "Red")]
    assert not is_group_file(["name", "email"])
    with pytest.raises(LmsError, match="not a groups file"):
        read_memberships(_rows("name,email\na,b\n"), "g.csv")
    with pytest.raises(LmsError, match="no student is in a group"):
        read_memberships(_rows("email,group\na@x,\n"), "g.csv")


@pytest.mark.parametrize("text, value", [("10.00", 10.0), ("10,00", 10.0), ("100", 100.0),
                                         ("1,000.50", 1000.5), ("(read only)", None), ("", None)])
def test_parse_points(text, value):
    assert parse_points(text) == value


def test_scale_factor():
    assert scale_factor(10, 10.0, False, "HW") == 1.0
    assert scale_factor(10, None, False, "HW") == 1.0
    assert scale_factor(10, 100.0, True, "HW") == 10.0
    with pytest.raises(LmsError, match="out of 100 points in the LMS but the grades are out of 10"):
        scale_factor(10, 100.0, False, "HW")
    with pytest.raises(LmsError, match="needs the LMS's points possible"):
        scale_factor(10, None, True, "HW")
