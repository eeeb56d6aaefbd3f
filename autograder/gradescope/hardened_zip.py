"""Make an Otter autograder zip grade with mlphys's sandbox on Gradescope and under ``otter grade``.

``mlphys build`` calls :func:`add_sandboxed_runner` on every zip it writes. What changes:

* ``run_autograder`` (Gradescope and ``otter grade`` run it as root, per submission): Otter's
  environment is activated exactly as Otter's own script does it, then
  ``files/mlphys_grader/bootstrap.py`` runs instead of ``run_otter.py``
  (:mod:`autograder.gradescope.bootstrap`).
* ``setup.sh`` (run once when the image is built): Otter's script, then the grader's wheel is
  installed (offline) so that submissions do not pay for it.
* ``files/mlphys_grader/``: the bootstrap, the grader's wheel (:mod:`autograder.gradescope.wheel`)
  and a copy of ``mlphys.json``. Under ``files/`` because ``otter grade``'s image copies only
  ``files/``, ``tests/``, ``otter_config.json``, ``run_otter.py`` and the setup files from the
  zip. ``mlphys.json`` lists ``mlphys_grader`` among the autograder-only files, so
  ``mlphys grade`` keeps it out of the student's sandbox.

What does not change: ``otter_config.json``, ``tests/``, ``run_otter.py`` and the other support
files, so ``otter run -a ZIP`` (which never executes ``run_autograder``) grades as before, with
Otter's weaknesses (docs/security.md).
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path

from autograder.gradescope import bootstrap
from autograder.gradescope.wheel import build_wheel
from autograder.zip_rewrite import rewrite_zip

PAYLOAD = "mlphys_grader"
"""The folder under ``files/`` with the bootstrap, the wheel and the manifest copy."""
MANIFEST = "mlphys.json"
OTTER_ENTRY = "python /autograder/source/run_otter.py"
ROSTER = "mlphys_roster.json"

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Written by `mlphys build` in place of Otter's run_autograder. Gradescope and `otter grade` run
# this file as root for every submission. Instead of grading in the student's kernel next to the
# tests (Otter's run_otter.py), it runs mlphys's sandboxed grader: the student's code as an
# unprivileged user that can read none of /autograder. See files/{payload}/bootstrap.py.

# Otter's environment, activated as Otter's own run_autograder does it (where it exists):
if [ -d /root/miniforge3 ] || command -v mamba >/dev/null 2>&1; then
{activation}
fi
root="${{MLPHYS_AUTOGRADER_ROOT:-/autograder}}"
python="$(command -v python || command -v python3)"
exec "$python" -I "$root/source/files/{payload}/bootstrap.py" "$root"
"""

SETUP_ADDITION = """
# --- added by `mlphys build`: install the sandboxed grader from the wheel in this zip (offline) ---
if [ -f /autograder/source/files/{payload}/bootstrap.py ]; then
    if [ -d /root/miniforge3 ] || command -v mamba >/dev/null 2>&1; then
{activation}
    fi
    "$(command -v python || command -v python3)" -I \\
        /autograder/source/files/{payload}/bootstrap.py --install-only /autograder
fi
"""


class HardenedZipError(ValueError):
    """The zip is not one ``otter assign`` wrote (no run_autograder that runs run_otter.py)."""


def otter_activation(run_autograder: str) -> list[str]:
    """The lines of Otter's ``run_autograder`` before it starts ``run_otter.py``."""
    lines = run_autograder.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == OTTER_ENTRY:
            return [x for x in lines[:i] if x.strip() and not x.startswith("#")]
    raise HardenedZipError(f"run_autograder does not run {OTTER_ENTRY!r}")


def _indent(lines: list[str], by: int) -> str:
    return "\n".join(" " * by + line for line in lines) or " " * by + ":"


def add_sandboxed_runner(autograder_zip: Path, roster: list[dict[str, str]] | None = None) -> None:
    """Rewrite ``autograder_zip`` (atomically) so that it grades with the sandboxed grader.

    ``roster`` (a quiz built with a roster): each student's ``identity``, ``email`` and
    ``sid``, written as ``mlphys_roster.json`` at the zip's root, so that on Gradescope (which
    reports a submitter's email and sid) the identity can be a column Gradescope does not
    report, such as a login. Only Gradescope reads it: ``otter run`` and ``otter grade`` copy no
    unknown file from the zip's root, ``mlphys grade`` ignores it."""
    with zipfile.ZipFile(autograder_zip) as old:
        names = old.namelist()
        if "run_autograder" not in names or "setup.sh" not in names:
            raise HardenedZipError(f"{autograder_zip.name} has no run_autograder/setup.sh")
        original = old.read("run_autograder").decode("utf-8")
        if original.startswith("#!/usr/bin/env bash\n# Written by `mlphys build`"):
            return  # already done
        activation = otter_activation(original)
        manifest = json.loads(old.read(MANIFEST)) if MANIFEST in names else {}
        setup = old.read("setup.sh").decode("utf-8")
    only = set(manifest.get("autograder_only", []))
    manifest["autograder_only"] = sorted(only | {PAYLOAD})
    manifest_text = json.dumps(manifest, indent=2)
    with tempfile.TemporaryDirectory(prefix="mlphys-wheel-") as tmp:
        wheel = build_wheel(Path(tmp))
        additions = {
            "run_autograder": RUN_AUTOGRADER.format(payload=PAYLOAD,
                                                    activation=_indent(activation, 4)),
            "setup.sh": setup.rstrip("\n") + "\n" + SETUP_ADDITION.format(
                payload=PAYLOAD, activation=_indent(activation, 8)),
            MANIFEST: manifest_text,
            f"files/{PAYLOAD}/{MANIFEST}": manifest_text,
            f"files/{PAYLOAD}/bootstrap.py": Path(bootstrap.__file__).read_bytes(),
            f"files/{PAYLOAD}/{wheel.name}": wheel.read_bytes(),
        }
        if roster is not None:
            additions[ROSTER] = json.dumps(roster, indent=1)
        rewrite_zip(autograder_zip, additions, header=_stamped,
                    drop=lambda name: name.startswith(f"files/{PAYLOAD}/"))


def _stamped(name: str, old: zipfile.ZipFile) -> zipfile.ZipInfo:
    """An added member's header: the zip's own time, executable only ``run_autograder``."""
    entry = zipfile.ZipInfo(name, wheel_time(old))
    entry.external_attr = (0o755 if name == "run_autograder" else 0o644) << 16
    return entry


def wheel_time(zf: zipfile.ZipFile) -> tuple[int, int, int, int, int, int]:
    """The time stamp of Otter's own ``run_autograder`` member (so the additions carry the
    zip's time, not the build machine's clock at a different moment)."""
    return zf.getinfo("run_autograder").date_time
