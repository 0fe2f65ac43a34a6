"""Every benchmark in bench/ still runs end to end (issue 16: two of them had stopped unseen).

Each script runs as ``python -m bench.NAME`` at a tiny size, all at once (most of their time is
waiting: bot start-ups, paced streams, sleeps), and must exit 0 and print its ``RESULT:`` line
with its figure next to its baseline. The figures mean nothing at these sizes and on a busy
machine; only that the benchmark works is checked (``flood --no-target``: exit 0 even when
its latency target is missed).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import scripts

ROOT = Path(__file__).resolve().parent.parent
# Per script; they all run at once on a machine other tests keep busy (43 s in all when idle).
TIMEOUT_SECONDS = 300
# The smallest run of each script, and what its RESULT line must show (figure, then baseline).
SMOKE: dict[str, tuple[list[str], str]] = {
    "flood": (
        ["--quick", "--users", "5", "--seconds", "1", "--rounds", "1", "--no-target"],
        r"RESULT: /start p99 [\d.]+ ms .*\(baseline p99 [\d.]+ ms",
    ),
    "me_inprocess": (
        "--quick --users 5 --updates 20 --rounds 1".split(),
        r"RESULT: in one process, no network: ours [\d.]+ ms CPU per /me vs bare echo [\d.]+ ms",
    ),
    "updates": (
        "--quick --users 10 --updates 40 --rounds 1 --seconds 0.5 --logins 4".split(),
        r"RESULT: ours [\d,]+ updates/s vs bare [\d,]+ .*/me p99 \d+ ms with 4 logins",
    ),
    "lanes": (
        "--notices 30 --users 5 --rate 5".split(),
        r"RESULT: /me p99 \d+ ms with 30 notices queued, 30/30 delivered \(baseline, one queue",
    ),
    "memory": (
        "--users 600 --batch 200 --every 200".split(),
        r"RESULT: ours -?[\d.]+ MB per 10,000 users .*\(baseline, bare PTB bot: -?[\d.]+ MB",
    ),
    "ratelimit_memory": (
        ["--users", "2000", "--licenses", "100", "--compare", "2000", "--watch", "0.5"],
        r"RESULT: ours [\d.]+ µs per check.*\(baseline, limits' MemoryStorage: [\d.]+ µs",
    ),
    "audit_queries": (
        ["--rows", "2000"],
        r"RESULT: slowest median [\d.]+ ms .* on 2,000 rows \(target < 5 ms each",
    ),
    "instances": (
        ["--users", "4", "--rounds", "1", "--concurrency", "4"],
        r"RESULT: fleet /me [\d,]+ updates/s p99 \d+ ms.*\(baseline, 1 SQLite instance: /me",
    ),
    "backup": (
        ["--size-mb", "1"],
        r"RESULT: backup [\d.]+ s vs baseline [\d.]+ s .*restore [\d.]+ s vs [\d.]+ s",
    ),
}


def test_every_benchmark_has_a_smoke_run() -> None:
    assert sorted(SMOKE) == scripts()


@pytest.mark.slow
def test_every_benchmark_runs_end_to_end_at_a_tiny_size() -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    running = {
        name: subprocess.Popen(
            [sys.executable, "-m", f"bench.{name}", *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group: a kill reaches its children too
        )
        for name, (args, _) in SMOKE.items()
    }
    failures = []
    try:
        for name, process in running.items():
            out, err = process.communicate(timeout=TIMEOUT_SECONDS)
            pattern = SMOKE[name][1]
            if process.returncode != 0 or not re.search(pattern, out):
                failures.append(
                    f"bench.{name} exited {process.returncode}; RESULT wanted /{pattern}/\n"
                    f"stdout tail: {out[-1500:]}\nstderr tail: {err[-1500:]}"
                )
    finally:
        for process in running.values():
            # The whole group: a bench killed alone leaves its bot processes running.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()  # reaps it and closes its pipes
    assert not failures, "\n\n".join(failures)
