"""Run every benchmark in bench/ one after another, then print a summary table.

    python -m bench [--quick] [--only NAME ...] [--slow SECONDS]

Each script runs as ``python -m bench.NAME`` in its own process (so one's memory and threads
never colour another's figures) and prints its own figures as it goes. The table gives each
script's exit status, wall time and headline: its last ``RESULT:`` line, else its last line.

``--quick`` passes each known script smaller sizes (``QUICK_ARGS``); a script this runner does
not know gets ``--quick`` if its source mentions that flag, else runs at full size (and says
so). In quick mode a script that takes longer than ``--slow`` seconds (default 90) is flagged
SLOW: a quick run is meant for checking that the benchmarks still work, not for figures.
Their figures are not part of CI (timings on a shared machine are noisy); that each one still
runs is: tests/test_bench_smoke.py runs every script at a tiny size.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
QUICK_ARGS: dict[str, list[str]] = {
    "updates": ["--quick"],
    "flood": ["--quick"],
    "lanes": ["--quick"],
    "memory": ["--quick"],
    "ratelimit_memory": "--users 100000 --licenses 1000 --compare 10000 --watch 2".split(),
    "audit_queries": ["--rows", "100000"],
    "backup": ["--size-mb", "64"],
    "instances": ["--users", "16", "--rounds", "3", "--concurrency", "16"],
}
HEADLINE_WIDTH = 88


@dataclass
class Outcome:
    name: str
    args: list[str]
    code: int
    seconds: float
    headline: str
    note: str = ""


def scripts() -> list[str]:
    """Every benchmark script in bench/ (not this runner, not private helpers)."""
    return sorted(
        path.stem
        for path in BENCH.glob("*.py")
        if not path.stem.startswith("_") and path.stem != "__main__"
    )


def arguments(name: str, quick: bool) -> tuple[list[str], str]:
    """The arguments for ``name`` and a note when quick mode could not shrink it."""
    if not quick:
        return [], ""
    if name in QUICK_ARGS:
        return QUICK_ARGS[name], ""
    if '"--quick"' in (BENCH / f"{name}.py").read_text(errors="replace"):
        return ["--quick"], ""
    return [], "full size (no quick arguments known)"


def run(name: str, args: list[str], timeout: float | None) -> tuple[int, float, str]:
    """Run one script, echoing its output; return (exit code, seconds, headline)."""
    print(f"\n=== bench.{name} {' '.join(args)}".rstrip(), flush=True)
    started = time.perf_counter()
    last, result = "", ""
    with subprocess.Popen(
        [sys.executable, "-m", f"bench.{name}", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    ) as process:
        assert process.stdout is not None
        try:
            for line in process.stdout:
                print(line, end="", flush=True)
                if line.strip():
                    last = line.strip()
                if line.startswith("RESULT:"):
                    result = line.removeprefix("RESULT:").strip()
                if timeout is not None and time.perf_counter() - started > timeout:
                    process.kill()
                    break
            code = process.wait()
        except KeyboardInterrupt:
            process.kill()
            raise
    return code, time.perf_counter() - started, result or last


def table(outcomes: list[Outcome], quick: bool, slow: float) -> str:
    rows = [("benchmark", "status", "time", "headline")]
    for outcome in outcomes:
        status = "ok" if outcome.code == 0 else f"FAILED ({outcome.code})"
        if outcome.code == 0 and quick and outcome.seconds > slow:
            status = "SLOW"
        headline = outcome.headline
        if outcome.note:
            headline = f"[{outcome.note}] {headline}"
        if len(headline) > HEADLINE_WIDTH:
            headline = headline[: HEADLINE_WIDTH - 1] + "…"
        rows.append((outcome.name, status, f"{outcome.seconds:.0f} s", headline))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = []
    for k, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)]
        lines.append("  ".join([*cells, row[3]]))
        if k == 0:
            lines.append("  ".join(["-" * width for width in widths] + ["-" * 8]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes: check they work")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these scripts")
    parser.add_argument("--slow", type=float, default=90.0, help="quick mode: flag slower ones")
    parser.add_argument("--timeout", type=float, default=None, help="stop a script after S s")
    args = parser.parse_args(argv)
    names = scripts()
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            parser.error(f"no such benchmark: {', '.join(unknown)} (have: {', '.join(names)})")
        names = [name for name in names if name in args.only]
    outcomes = []
    for name in names:
        script_args, note = arguments(name, args.quick)
        code, seconds, headline = run(name, script_args, args.timeout)
        outcomes.append(Outcome(name, script_args, code, seconds, headline, note))
    mode = "quick" if args.quick else "full"
    print(f"\nsummary ({mode} mode, {len(outcomes)} benchmarks):")
    print(table(outcomes, args.quick, args.slow))
    slow = [o.name for o in outcomes if args.quick and o.code == 0 and o.seconds > args.slow]
    if slow:
        print(f"SLOW in quick mode (> {args.slow:.0f} s): {', '.join(slow)}")
    return 0 if all(o.code == 0 for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
