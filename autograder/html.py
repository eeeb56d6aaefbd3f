"""Small, dependency-free HTML helpers shared by the answer key, feedback and class report.

Pages must open offline (no CDN for maths), so the little LaTeX the questions use (sub- and
superscripts, Greek letters, fractions, angle brackets) is turned into HTML text here.
"""

from __future__ import annotations

import html
import re

CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; max-width: 60rem;
       margin: 2rem auto; padding: 0 1rem; color: #1d1d1f; line-height: 1.45; }
h1 { border-bottom: 2px solid #446; padding-bottom: .3rem; }
h2 { margin-top: 2.2rem; color: #335; }
section.question { border: 1px solid #d8d8e0; border-radius: 8px; padding: .8rem 1.2rem;
                   margin: 1rem 0; }
pre { background: #f5f5f8; padding: .6rem .8rem; border-radius: 6px; overflow-x: auto; }
ol.options { list-style: none; padding-left: .5rem; }
ol.options li { padding: .15rem .4rem; border-radius: 4px; }
ol.options li.key { background: #dff3df; font-weight: 600; }
.reason { color: #444; font-size: .95rem; }
.muted { color: #777; font-size: .9rem; }
img.figure { max-width: 100%; border: 1px solid #eee; }
table { border-collapse: collapse; margin: .6rem 0; }
th, td { border: 1px solid #d8d8e0; padding: .25rem .6rem; text-align: left; }
th { background: #f0f0f5; }
.pass { color: #176317; } .fail { color: #a31515; } .warn { color: #8a5a00; }
"""

_GREEK = {
    r"\eta": "η", r"\xi": "ξ", r"\theta": "θ", r"\delta": "δ", r"\partial": "∂",
    r"\langle": "⟨", r"\rangle": "⟩", r"\cdot": "·", r"\sum": "Σ", r"\approx": "≈",
}


def latex_to_html(tex: str) -> str:
    """Render the small LaTeX subset of the quiz prompts as HTML (already escaped)."""
    s = html.escape(tex, quote=False)
    s = re.sub(r"\\dfrac\{([^{}]*)\}\{([^{}]*)\}", r"\1 / \2", s)
    s = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"\1 / \2", s)
    for command, char in _GREEK.items():
        s = s.replace(command, char)
    s = re.sub(r"\^\{([^{}]*)\}", r"<sup>\1</sup>", s)
    s = re.sub(r"\^([A-Za-z0-9])", r"<sup>\1</sup>", s)
    s = re.sub(r"_\{([^{}]*)\}", r"<sub>\1</sub>", s)
    s = re.sub(r"_([A-Za-z0-9])", r"<sub>\1</sub>", s)
    s = s.replace("{", "").replace("}", "")
    return f"<i>{s}</i>"


def markdown_lite(text: str) -> str:
    """Paragraphs, ```python fences```, `code` and $maths$: enough for the question prompts."""
    parts = re.split(r"```(?:python)?\n(.*?)\n```", text, flags=re.S)
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 1:
            out.append(f"<pre><code>{html.escape(part)}</code></pre>")
            continue
        for para in filter(None, (p.strip() for p in part.split("\n\n"))):
            pieces = re.split(r"(\$[^$]+\$|`[^`]+`)", para)
            rendered = "".join(
                latex_to_html(p[1:-1]) if p.startswith("$")
                else f"<code>{html.escape(p[1:-1])}</code>" if p.startswith("`")
                else html.escape(p)
                for p in pieces
            )
            out.append(f"<p>{rendered}</p>")
    return "\n".join(out)


def page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head>"
            f"<body>\n{body}\n</body></html>\n")
