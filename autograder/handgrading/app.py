"""The hand-grading web page: a small Tornado application over the gradebook's manual tables.

Why Tornado: it is the web server JupyterLab and the Jupyter server run on, so it is already
installed wherever the course's notebooks run, it is a complete HTTP server in one well-kept
package (no separate WSGI/ASGI server to choose, and no "development server" warning), and its
templates escape every value by default.

Security, because the page shows students' work and writes their grades:

* it listens on 127.0.0.1 only, and answers only requests whose ``Host`` is that address or
  ``localhost`` with its port (a web page elsewhere cannot reach it by DNS rebinding);
* a random token: the printed link carries it once, the page then keeps it in an HttpOnly,
  SameSite=Strict cookie named after the port; every write also needs the token in a request
  header, which other sites' pages cannot send (so no cross-site request forgery);
* student content is rendered by :mod:`autograder.handgrading.render` and the
  Content-Security-Policy allows scripts and styles only from this server and images only from
  it or ``data:`` URIs (no inline script runs, nothing loads from the internet).
"""

from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import tornado.web

from autograder.grading.batch.gradebook import ManualStore
from autograder.grading.model import ManualGrade, RubricItem
from autograder.handgrading.answers import ClassWork, StudentWork, load_class
from autograder.handgrading.render import cell_html, code_css, markdown_html
from autograder.lms.errors import LmsError

HERE = Path(__file__).resolve().parent
TOKEN_HEADER = "X-Grading-Token"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
MAX_RUBRIC_KEYS = 9


class PageError(tornado.web.HTTPError):
    """A request that cannot be answered, with the sentence the page shows."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status)
        self.message = message


@dataclass
class Grading:
    """What every handler shares: the class, the store, the token and the port."""

    work: ClassWork | None
    fatal: str
    store: ManualStore
    token: str
    port: int = 0

    # -- reading the state of one question ------------------------------------------------------

    def question(self, name: str) -> Any:
        if self.work is None:
            raise PageError(409, self.fatal)
        if name not in self.work.questions:
            manual = ", ".join(self.work.questions) or "none"
            raise PageError(404, f"Question {name!r} has no part graded by hand in this assignment "
                                 f"(questions graded by hand: {manual}).")
        return self.work.questions[name]

    def student(self, position: int) -> StudentWork:
        assert self.work is not None
        if not 1 <= position <= len(self.work.students):
            raise PageError(404, f"There is no submission {position}: the class has "
                                 f"{len(self.work.students)}.")
        return self.work.students[position - 1]

    def progress(self, question: str) -> dict[str, int]:
        assert self.work is not None
        graded = self.store.grades(question)
        keys = {s.key for s in self.work.students}
        return {"graded": len(keys & graded.keys()), "total": len(keys)}

    def names_shown(self, question: str) -> bool:
        """Anonymous grading shows names once every answer of the question is graded."""
        assert self.work is not None
        if not self.work.anonymous:
            return True
        p = self.progress(question)
        return p["graded"] == p["total"]

    def state(self, question: str, position: int) -> dict[str, Any]:
        """The JSON the page's script shows after each change."""
        student = self.student(position)
        grade = self.store.grade(student.key, question)
        return {"graded": grade is not None,
                "points": grade.points if grade else None,
                "adjustment": grade.adjustment if grade else 0.0,
                "comment": grade.comment if grade else "",
                "items": sorted(grade.items) if grade else [],
                "progress": self.progress(question),
                "rubric": [{"id": i.id, "label": i.label, "points": i.points}
                           for i in self.store.rubric(question)]}


def _number(value: Any, what: str) -> float:
    try:
        x = float(str(value).strip().replace(",", "."))
    except ValueError:
        raise PageError(400, f"{what} must be a number (got {value!r})") from None
    if x != x or abs(x) > 1e6:
        raise PageError(400, f"{what} must be a finite number (got {value!r})")
    return x


class Base(tornado.web.RequestHandler):
    """Host and token checks, security headers, and error pages without tracebacks."""

    def initialize(self, grading: Grading) -> None:
        self.grading = grading

    @property
    def cookie_name(self) -> str:
        return f"mlphys-grading-{self.grading.port}"

    def set_default_headers(self) -> None:
        self.set_header("Content-Security-Policy", CSP)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Frame-Options", "DENY")

    def _token_ok(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(given.encode(), self.grading.token.encode())

    def prepare(self) -> None:
        host = (self.request.host or "").lower()
        if host not in {f"127.0.0.1:{self.grading.port}", f"localhost:{self.grading.port}"}:
            raise PageError(403, "This page answers only at 127.0.0.1 (the address it printed).")
        if self.request.method == "GET":
            query_token = self.get_query_argument("token", None)
            if query_token is not None and self._token_ok(query_token):
                self.set_cookie(self.cookie_name, query_token, httponly=True, samesite="Strict")
                self.redirect(self.request.path)
                return
            if not self._token_ok(self.get_cookie(self.cookie_name)):
                raise PageError(403, "Open this page with the link (it carries a token) that "
                                     "'mlphys manual serve' printed.")
        elif not self._token_ok(self.request.headers.get(TOKEN_HEADER)):
            raise PageError(403, "This change was refused: it did not come from the grading page.")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, PageError):
            title, message = "Cannot show this", error.message
        else:
            title = "Error"
            message = ("Something went wrong on the server; the grades saved so far are kept. "
                       "See the terminal where 'mlphys manual serve' runs.")
        if self.request.method == "GET":
            self.render("message.html", title=title, message=message, grading=self.grading)
        else:
            self.finish({"error": message})

    def get_template_namespace(self) -> dict[str, Any]:
        ns = super().get_template_namespace()
        ns.update(token=self.grading.token, quote=quote)
        return ns

    def body(self) -> dict[str, Any]:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise PageError(400, "the request was not JSON") from None
        if not isinstance(data, dict):
            raise PageError(400, "the request was not a JSON object")
        return data


class IndexHandler(Base):
    def get(self) -> None:
        g = self.grading
        if g.work is None:
            raise PageError(409, g.fatal)
        rows = []
        for q in g.work.questions.values():
            p = g.progress(q.name)
            rows.append({"q": q, "progress": p, "rubric": len(g.store.rubric(q.name))})
        self.render("index.html", grading=g, rows=rows, work=g.work)


class QuestionHandler(Base):
    """``/q/<question>``: the first answer not graded yet (or the first)."""

    def get(self, question: str) -> None:
        g = self.grading
        g.question(question)
        assert g.work is not None
        graded = g.store.grades(question)
        position = next((i for i, s in enumerate(g.work.students, start=1) if s.key not in graded), 1)
        self.redirect(f"/q/{quote(question)}/{position}")


class GradeHandler(Base):
    def get(self, question: str, position: str) -> None:
        g = self.grading
        q = g.question(question)
        assert g.work is not None
        n = int(position)
        student = g.student(n)
        answer = g.work.answer(student, question)
        total = len(g.work.students)
        graded = g.store.grades(question)
        next_ungraded = next((i for i in [*range(n + 1, total + 1), *range(1, n)]
                              if g.work.students[i - 1].key not in graded), None)
        state = g.state(question, n)
        self.render(
            "grade.html", grading=g, q=q, n=n, total=total,
            who=student.name if g.names_shown(question) else f"Submission {n}",
            prompt_html=markdown_html(q.prompt), answer=answer,
            answer_html="".join(cell_html(c, text) for c, text in answer.cells),
            rubric=g.store.rubric(question), state=state, next_ungraded=next_ungraded,
            anonymous=g.work.anonymous, names_shown=g.names_shown(question))


class GradeApiHandler(Base):
    """``/api/q/<question>/<n>``: GET the grade; POST {toggle: item id}, {adjustment},
    {comment} to change it."""

    def get(self, question: str, position: str) -> None:
        self.grading.question(question)
        self.finish(self.grading.state(question, int(position)))

    def post(self, question: str, position: str) -> None:
        g = self.grading
        q = g.question(question)
        n = int(position)
        student = g.student(n)
        data = self.body()
        toggle = data.get("toggle")
        adjustment = data.get("adjustment")
        comment = data.get("comment")
        if toggle is not None and not isinstance(toggle, int):
            raise PageError(400, "toggle must be a rubric item id")
        if adjustment is not None:
            adjustment = _number(adjustment, "the point adjustment")
            if abs(adjustment) > q.points:
                raise PageError(400, f"the adjustment must be between -{q.points:g} and {q.points:g}")
        if comment is not None and not isinstance(comment, str):
            raise PageError(400, "the comment must be text")
        try:
            g.store.change_grade(student.key, question, toggle=toggle, adjustment=adjustment,
                                 comment=comment)
        except KeyError:
            raise PageError(404, "that rubric item does not exist (any more): reload the page") from None
        self.finish(g.state(question, n))


class RubricApiHandler(Base):
    """POST ``/api/rubric/<question>``: add {label, points}; ``/api/rubric/<question>/<id>``:
    change {label?, points?} or {delete: true}."""

    def post(self, question: str, item: str | None = None) -> None:
        g = self.grading
        q = g.question(question)
        data = self.body()
        label = data.get("label")
        if label is not None and (not isinstance(label, str) or not label.strip()):
            raise PageError(400, "a rubric item needs a description")
        points = _number(data["points"], "the item's points") if "points" in data else None
        if points is not None and abs(points) > q.points:
            raise PageError(400, f"an item's points must be between -{q.points:g} and {q.points:g}")
        affected: list[str] = []
        try:
            if item is None:
                if label is None or points is None:
                    raise PageError(400, "a new rubric item needs a description and points")
                g.store.add_rubric_item(question, label.strip(), points)
            elif data.get("delete"):
                affected = g.store.delete_rubric_item(int(item))
            else:
                affected = g.store.update_rubric_item(int(item), label.strip() if label else None,
                                                      points)
        except KeyError:
            raise PageError(404, "that rubric item does not exist (any more): reload the page") from None
        self.finish({"affected": len(affected),
                     "rubric": [{"id": i.id, "label": i.label, "points": i.points}
                                for i in g.store.rubric(question)]})


class PygmentsCss(Base):
    def get(self) -> None:
        self.set_header("Content-Type", "text/css")
        self.finish(code_css())


def make_app(grading: Grading) -> tornado.web.Application:
    args = {"grading": grading}
    return tornado.web.Application(
        [(r"/", IndexHandler, args),
         (r"/q/([^/]+)", QuestionHandler, args),
         (r"/q/([^/]+)/([0-9]{1,6})", GradeHandler, args),
         (r"/api/q/([^/]+)/([0-9]{1,6})", GradeApiHandler, args),
         (r"/api/rubric/([^/]+)", RubricApiHandler, args),
         (r"/api/rubric/([^/]+)/([0-9]{1,9})", RubricApiHandler, args),
         (r"/code.css", PygmentsCss, args)],
        template_path=str(HERE / "templates"), static_path=str(HERE / "static"),
        default_handler_class=NotFound, default_handler_args=args,
        compress_response=True, xheaders=False, debug=False)


class NotFound(Base):
    def prepare(self) -> None:
        super().prepare()
        if not self._finished:
            raise PageError(404, "There is no such page here.")


def open_grading(grades_dir: Path, master: Path | None, anonymous: bool,
                 collection: Path | None = None, token: str | None = None) -> Grading:
    """The shared state; a class that cannot be loaded becomes a message every page shows."""
    from autograder.lms.manual import open_manual_store

    store = open_manual_store(grades_dir)
    try:
        work, fatal = load_class(grades_dir, master, anonymous, collection), ""
    except LmsError as e:
        work, fatal = None, str(e)
    return Grading(work, fatal, store, token or secrets.token_urlsafe(24))


__all__ = ["Grading", "ManualGrade", "RubricItem", "make_app", "open_grading"]
