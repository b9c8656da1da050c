"""Two scans that find a lock left by a killed scan at the same moment: exactly one of them takes it, every time.

The old lock (O_EXCL, then a pid check and an unlink when the pid was dead) let both take it in 60 of 200 such trials:
each removed the stale file, and the slower one then removed the faster one's fresh lock too."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest

from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.scan.output import output_lock

TRIALS = 100
TIMEOUT = 30  # seconds any barrier waits: a stuck contender fails the test instead of hanging it


def _contend(out: str, index: int, start, held, released, took) -> None:  # noqa: ANN001 - barriers, a shared array
    for trial in range(TRIALS):
        start.wait(TIMEOUT)
        try:
            with output_lock(out):
                took[trial * 2 + index] = 1
                held.wait(TIMEOUT)  # the other has tried too before this one lets go
        except ImgcheckError:
            held.wait(TIMEOUT)
        released.wait(TIMEOUT)


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(done.stdout)


def test_two_scans_never_both_take_a_stale_lock(tmp_path: Path) -> None:
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("needs fork")
    context = multiprocessing.get_context("fork")
    out = str(tmp_path / "v.csv")
    stale = tmp_path / "v.csv.lock"
    dead = _dead_pid()
    start, held, released = (context.Barrier(3) for _ in range(3))
    took = context.Array("b", TRIALS * 2)
    contenders = [context.Process(target=_contend, args=(out, i, start, held, released, took)) for i in range(2)]
    for process in contenders:
        process.start()
    try:
        for _ in range(TRIALS):
            stale.write_text(str(dead))  # what a scan killed by SIGKILL leaves
            start.wait(TIMEOUT)
            held.wait(TIMEOUT)
            released.wait(TIMEOUT)
    finally:
        for process in contenders:
            process.join(TIMEOUT)
            if process.is_alive():
                process.kill()
    assert [process.exitcode for process in contenders] == [0, 0]
    takes = [took[2 * trial] + took[2 * trial + 1] for trial in range(TRIALS)]
    assert takes.count(2) == 0, f"both scans took the lock in {takes.count(2)} of {TRIALS} trials"
    assert takes.count(0) == 0, f"neither took the stale lock in {takes.count(0)} of {TRIALS} trials"
