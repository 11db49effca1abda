"""Run the benchmarks: `python -m bench.run [names...]`.

Every `bench/bench_<name>.py` exposes `run() -> list[dict]`, each dict holding
name, value, unit, baseline, baseline_value, ratio (value / baseline_value)
and goal (e.g. "<= 1.5x"). A module that sets `NEEDS_DJANGO = True` gets
`django.setup()` first (DJANGO_SETTINGS_MODULE defaults to mdserver.settings).
Results are printed as a table and merged into bench/results.json.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import re
import sys
import traceback
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_PATH = BENCH_DIR / "results.json"
RESULT_FIELDS = ("value", "unit", "baseline", "baseline_value", "ratio", "goal")
_GOAL_RE = re.compile(r"\s*(<=|>=|<|>)\s*([0-9]*\.?[0-9]+)\s*x?\s*")

_django_ready = False


def discover(names: list[str]) -> list[str]:
    """Return the module names to run: all `bench_*.py`, or those named (with or without `bench_`)."""
    available = sorted(path.stem for path in BENCH_DIR.glob("bench_*.py"))
    if not names:
        return available
    wanted = []
    for name in names:
        stem = name if name.startswith("bench_") else f"bench_{name}"
        stem = stem.removesuffix(".py")
        if stem not in available:
            raise SystemExit(f"unknown benchmark {name!r}; available: {', '.join(available)}")
        wanted.append(stem)
    return wanted


def needs_django(stem: str) -> bool:
    """Read `NEEDS_DJANGO = True` from the source, before importing it: its imports may need Django."""
    tree = ast.parse((BENCH_DIR / f"{stem}.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(target, ast.Name) and target.id == "NEEDS_DJANGO" for target in targets):
                return isinstance(node.value, ast.Constant) and node.value.value is True
    return False


def setup_django() -> None:
    global _django_ready
    if _django_ready:
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mdserver.settings")
    import django

    django.setup()
    _django_ready = True


def run_module(stem: str) -> list[dict[str, Any]]:
    if needs_django(stem):
        setup_django()
    module = importlib.import_module(f"bench.{stem}")
    results = module.run()
    for result in results:
        missing = [key for key in ("name", *RESULT_FIELDS) if key not in result]
        if missing:
            raise ValueError(f"{stem}: result {result.get('name')!r} lacks {', '.join(missing)}")
    return results


def goal_met(ratio: Any, goal: Any) -> str:
    """Return "yes"/"no" when the goal reads like "<= 1.5x", else "?"."""
    match = _GOAL_RE.fullmatch(str(goal))
    if match is None or not isinstance(ratio, int | float):
        return "?"
    operator, limit = match.group(1), float(match.group(2))
    met = {"<=": ratio <= limit, ">=": ratio >= limit, "<": ratio < limit, ">": ratio > limit}[operator]
    return "yes" if met else "no"


def format_table(results: list[dict[str, Any]]) -> str:
    header = ["name", "value", "unit", "baseline", "baseline_value", "ratio", "goal", "met"]
    rows = [
        [
            str(result["name"]),
            _number(result["value"]),
            str(result["unit"]),
            str(result["baseline"]),
            _number(result["baseline_value"]),
            _number(result["ratio"]),
            str(result["goal"]),
            goal_met(result["ratio"], result["goal"]),
        ]
        for result in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def write_results(results: list[dict[str, Any]], path: Path = RESULTS_PATH) -> None:
    """Merge `results` into the JSON file at `path`, keyed by name."""
    stored: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            loaded = {}
        if isinstance(loaded, dict):
            stored = loaded
    for result in results:
        stored[result["name"]] = {key: result[key] for key in RESULT_FIELDS}
    path.write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    names = sys.argv[1:] if argv is None else argv
    results: list[dict[str, Any]] = []
    failed: list[str] = []
    for stem in discover(names):
        print(f"running {stem} ...", file=sys.stderr, flush=True)
        try:
            results.extend(run_module(stem))
        except Exception:
            traceback.print_exc()
            failed.append(stem)
    if results:
        print(format_table(results))
        write_results(results)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
