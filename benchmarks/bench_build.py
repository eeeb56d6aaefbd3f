"""Time `mlphys build` for every assignment (sequential, one otter assign each, solutions
graded by otter as part of the build), and write benchmarks/results/build.json.

    python benchmarks/bench_build.py [--jobs 1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from autograder.build import available, build_many


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/build.json"))
    args = parser.parse_args()
    names = available()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        built = build_many(names, Path(tmp), jobs=args.jobs)
        total = time.perf_counter() - start
    result = {
        "assignments": {b.name: round(b.seconds, 1) for b in built},
        "total_seconds": round(total, 1),
        "jobs": args.jobs,
        "note": "each build runs otter assign, which also grades the solutions notebook",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
