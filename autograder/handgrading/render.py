"""Student answers as safe HTML: Markdown with maths, code, and the outputs a cell kept.

A student's notebook is untrusted: its Markdown may hold raw HTML, ``javascript:`` links,
remote images (a tracking pixel), and its outputs may hold HTML or SVG with scripts. Nothing of
that may run or load in the TA's browser. So:

* Markdown is parsed by markdown-it-py with raw HTML switched off (it is shown as text), maths
  (``$...$``, ``$$...$$``) is turned into MathML on the server by latex2mathml (browsers draw
  MathML natively: no JavaScript and no web font from the internet), images are shown only
  when they are the cell's own attachments (PNG, JPEG, GIF), and links only for http(s);
* code is highlighted by Pygments (CSS classes only);
* outputs: images as ``data:`` URIs of decoded and checked bytes (SVG too, but only inside
  ``<img>``, where it cannot run scripts or load anything), text as text; an HTML output is
  shown as its plain-text version;
* everything passes through nh3 (the Ammonia sanitizer) with an allow-list of HTML and MathML
  elements at the end, and the page's Content-Security-Policy forbids inline scripts and any
  load from another origin in case anything slipped through.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from functools import lru_cache
from typing import Any

import nh3

IMAGE_MAGIC = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",),
               "image/gif": (b"GIF87a", b"GIF89a")}
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MATHML_TAGS = {"math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msub", "msup",
               "msubsup", "mfrac", "msqrt", "mroot", "mtable", "mtr", "mtd", "mover", "munder",
               "munderover", "mstyle", "mpadded", "mphantom", "menclose", "semantics",
               "annotation", "merror", "mmultiscripts", "mprescripts", "none"}
MATHML_ATTRIBUTES = {"display", "mathvariant", "stretchy", "fence", "separator", "form", "lspace",
                     "rspace", "accent", "accentunder", "linethickness", "columnalign",
                     "displaystyle", "scriptlevel", "width", "height", "depth", "notation",
                     "minsize", "maxsize", "movablelimits", "largeop", "symmetric", "encoding"}
HTML_TAGS = {"p", "br", "hr", "em", "strong", "b", "i", "s", "del", "code", "pre", "kbd", "sub",
             "sup", "blockquote", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table",
             "thead", "tbody", "tr", "th", "td", "a", "img", "span", "div", "figure"}


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    """Images only from data: URIs we made, links only to http(s) pages."""
    if tag == "img" and attribute == "src":
        return value if re.match(r"data:image/(png|jpeg|gif|svg\+xml);base64,[A-Za-z0-9+/=]+$",
                                 value) else None
    if tag == "a" and attribute == "href":
        return value if re.match(r"https?://", value, re.I) else None
    return value


def sanitize(fragment: str) -> str:
    """The last line of defence: only allow-listed elements and attributes survive."""
    attributes: dict[str, set[str]] = {t: set(MATHML_ATTRIBUTES) for t in MATHML_TAGS}
    attributes.update({"a": {"href", "title"}, "img": {"src", "alt", "title"},
                       "span": {"class"}, "div": {"class"}, "pre": {"class"}, "code": {"class"},
                       "td": {"align"}, "th": {"align"}, "ol": {"start"}})
    return nh3.clean(fragment, tags=HTML_TAGS | MATHML_TAGS, attributes=attributes,
                     attribute_filter=_attribute_filter, url_schemes={"http", "https", "data"},
                     link_rel="noopener noreferrer nofollow", strip_comments=True)


def math_html(tex: str, display: bool) -> str:
    """TeX as MathML (the TeX source as code when latex2mathml cannot read it)."""
    from latex2mathml.converter import convert

    try:
        return convert(tex, display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - any parse failure of a student's TeX: show it as written
        return f"<code class='tex'>{html.escape(tex)}</code>"


def data_uri(mime: str, payload: Any) -> str | None:
    """A ``data:`` URI for a notebook image, or None when the bytes are not that image."""
    text = "".join(payload) if isinstance(payload, list) else str(payload)
    if mime == "image/svg+xml":
        if "<svg" not in text:
            return None
        return f"data:image/svg+xml;base64,{base64.b64encode(text.encode('utf-8')).decode('ascii')}"
    try:
        raw = base64.b64decode(re.sub(r"\s+", "", text), validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith(IMAGE_MAGIC.get(mime, (b"\0never",))):
        return None
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"


@lru_cache(maxsize=1)
def _markdown_parser():  # noqa: ANN202 - markdown_it is imported lazily
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table").enable("strikethrough")
    md.use(dollarmath_plugin, allow_labels=False, allow_space=True, allow_digits=True,
           double_inline=True, renderer=lambda tex, opts: math_html(tex, opts["display_mode"]))
    return md


def _image_rule(attachments: dict[str, Any]):  # noqa: ANN202 - a markdown-it render rule
    def render(self, tokens, idx, options, env) -> str:  # noqa: ANN001
        token = tokens[idx]
        src = str(token.attrGet("src") or "")
        alt = html.escape(token.content or "")
        if src.startswith("attachment:"):
            bundle = attachments.get(src[len("attachment:"):]) or {}
            for mime, payload in bundle.items():
                uri = data_uri(mime, payload)
                if uri:
                    return f"<img src='{uri}' alt='{alt}'>"
        return f"<span class='blocked'>[image not shown: {alt or 'no description'}]</span>"

    return render


def markdown_html(text: str, attachments: dict[str, Any] | None = None) -> str:
    """A Markdown cell as safe HTML (raw HTML shown as text, maths as MathML)."""
    md = _markdown_parser()
    previous = md.renderer.rules.get("image")
    md.add_render_rule("image", _image_rule(attachments or {}))
    try:
        out = md.render(text)
    finally:
        if previous is not None:
            md.renderer.rules["image"] = previous
    return sanitize(out)


def code_html(source: str) -> str:
    """Python source, highlighted with CSS classes (see :func:`code_css`)."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    return sanitize(highlight(source, PythonLexer(), HtmlFormatter(cssclass="highlight")))


def code_css() -> str:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(cssclass="highlight").get_style_defs(".highlight")


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def output_html(output: dict[str, Any]) -> str:
    """One output of a code cell: images, text, errors (never the student's HTML or scripts)."""
    kind = output.get("output_type")
    if kind == "stream":
        name = "stderr" if output.get("name") == "stderr" else "stdout"
        return f"<pre class='output {name}'>{html.escape(ANSI.sub('', _text(output.get('text', ''))))}</pre>"
    if kind == "error":
        trace = "\n".join(ANSI.sub("", line) for line in output.get("traceback") or [])
        trace = trace or f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
        return f"<pre class='output error'>{html.escape(trace)}</pre>"
    data = output.get("data") or {}
    for mime in ("image/png", "image/jpeg", "image/gif", "image/svg+xml"):
        if mime in data:
            uri = data_uri(mime, data[mime])
            if uri:
                return f"<img class='output' src='{uri}' alt='plot'>"
    if "text/markdown" in data:
        return f"<div class='output markdown'>{markdown_html(_text(data['text/markdown']))}</div>"
    if "text/latex" in data:
        tex = _text(data["text/latex"]).strip().strip("$")
        return f"<div class='output'>{sanitize(math_html(tex, True))}</div>"
    if "text/plain" in data:
        return f"<pre class='output'>{html.escape(ANSI.sub('', _text(data['text/plain'])))}</pre>"
    return ""


def cell_html(cell: dict[str, Any], source: str) -> str:
    """A student's cell as they see it in Jupyter: rendered Markdown, or code and its outputs."""
    if cell.get("cell_type") == "markdown":
        return f"<div class='cell markdown'>{markdown_html(source, cell.get('attachments'))}</div>"
    if cell.get("cell_type") == "code":
        outputs = "".join(output_html(o) for o in cell.get("outputs") or [] if isinstance(o, dict))
        code = code_html(source) if source.strip() else ""
        return f"<div class='cell code'>{code}{outputs}</div>"
    return f"<div class='cell raw'><pre>{html.escape(source)}</pre></div>"
