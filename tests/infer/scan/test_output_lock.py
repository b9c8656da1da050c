"""The verdict file's lock: keyed on the file (not the text of --out), held by the kernel, so a scan killed by
SIGKILL leaves nothing to race on; and --resume keeps only the rows of files this scan scans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.scan.output import ResumePlan, lock_path, output_lock
from imgcheck.infer.verdicts import Row

HOLD = ("import sys, time\n"
        "from imgcheck.infer.scan.output import output_lock\n"
        "with output_lock(sys.argv[1]):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(60)\n")


def _holder(out: Path) -> subprocess.Popen:
    """Another process that holds the lock of `out` until it is killed."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_symlink_and_its_target_share_one_lock(tmp_path: Path) -> None:
    same, alias = tmp_path / "same.csv", tmp_path / "alias.csv"
    alias.symlink_to(same)  # the target does not exist yet: the lock is still the target's
    assert lock_path(str(alias)) == lock_path(str(same)) == str(same) + ".lock"
    with output_lock(str(same)):
        with pytest.raises(ImgcheckError, match=r"another imgcheck scan \(pid \d+\) is writing .*alias\.csv "
                                                r"\(that is, .*same\.csv\)"):
            with output_lock(str(alias)):
                pass
    with output_lock(str(alias)):  # and the other way round
        with pytest.raises(ImgcheckError, match="another imgcheck scan"):
            with output_lock(str(same)):
                pass


def test_a_folder_reached_through_a_symlink_shares_the_lock(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "linked").symlink_to(tmp_path / "real")
    with output_lock(str(tmp_path / "real" / "v.csv")):
        with pytest.raises(ImgcheckError, match="another imgcheck scan"):
            with output_lock(str(tmp_path / "linked" / "v.csv")):
                pass


def test_a_hard_link_shares_the_lock_of_the_file(tmp_path: Path) -> None:
    same, hard = tmp_path / "same.csv", tmp_path / "hard.csv"
    with output_lock(str(same)):  # creates same.csv, as writing it would
        os.link(same, hard)
        with pytest.raises(ImgcheckError, match=r"is writing .*hard\.csv under another name \(a hard link\)"):
            with output_lock(str(hard)):
                pass
    assert not (tmp_path / "hard.csv.lock").exists()  # a refused lock leaves no lock file behind


def test_the_lock_file_goes_when_the_scan_lets_go(tmp_path: Path) -> None:
    out = tmp_path / "v.csv"
    with output_lock(str(out)):
        assert (tmp_path / "v.csv.lock").read_text() == str(os.getpid())
    assert not (tmp_path / "v.csv.lock").exists()
    with output_lock(str(out)):  # and it can be taken again at once
        pass


def test_a_live_holder_refuses_and_a_killed_one_is_taken_over(tmp_path: Path) -> None:
    out = tmp_path / "v.csv"
    holder = _holder(out)
    try:
        with pytest.raises(ImgcheckError, match=rf"another imgcheck scan \(pid {holder.pid}\) is writing"):
            with output_lock(str(out)):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (tmp_path / "v.csv.lock").exists()  # left behind by kill -9; the kernel let go of the lock itself
    with output_lock(str(out)):
        assert (tmp_path / "v.csv.lock").read_text() == str(os.getpid())


def test_a_recycled_pid_in_a_left_lock_file_does_not_block(tmp_path: Path) -> None:
    """The old lock trusted the pid in the file: one that came back as another live process blocked forever."""
    out = tmp_path / "v.csv"
    (tmp_path / "v.csv.lock").write_text(str(os.getppid()))  # alive, and no scan
    with output_lock(str(out)):
        pass


def _row(path: str) -> Row:
    return Row(path, 0.5, "FAKE", "", 32, 32, "")


def test_resume_keeps_only_the_rows_of_files_this_scan_scans() -> None:
    files = ["a.png", "b.png", "c.png", "d.png"]
    torn = "b.pnc.png"  # two scans' rows interleaved: a path no scan was given
    rows = [_row("a.png"), _row(torn), _row("b.png"), _row("a.png"), _row("other/x.png")]
    plan = ResumePlan(lambda: iter(files))
    kept = plan.keep(rows)
    assert [r.path for r in kept] == ["a.png", "b.png"]
    assert plan.dropped == 3 and plan.rest == ["c.png", "d.png"]


def test_resume_keeps_a_file_named_twice_twice() -> None:
    plan = ResumePlan(lambda: ["a.png", "b.png", "a.png"])
    kept = plan.keep([_row("a.png"), _row("a.png"), _row("a.png")])
    assert len(kept) == 2 and plan.dropped == 1 and plan.rest == ["b.png"]
