"""One training process per run folder: two `imgcheck train` on one folder (a second --resume, or two fresh runs
given the same --out, through a symlink or not) would interleave their epochs in one set of checkpoints.

The lock file `.train.lock` lies in the folder the run's --out resolves to and is held for the whole run by the
process that writes the files (rank 0 under torchrun); the kernel lets go of it when that process dies."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.file_lock import lock_file
from imgcheck.trainer.distributed import Ranks

LOCK_NAME = ".train.lock"


@contextlib.contextmanager
def run_folder_lock(out: Path, ranks: Ranks) -> Iterator[None]:
    """Hold `out`'s training lock (creating the folder) on the writing rank, or refuse in one line while another
    training process holds it. Other ranks write nothing, so they take nothing."""
    if not ranks.is_writer:
        yield
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImgcheckError(f"cannot write the run folder {out}: {exc.strerror or exc}; choose another --out.") \
            from None
    real = os.path.realpath(out)
    named = str(out) if real == os.path.abspath(out) else f"{out} (that is, {real})"

    def busy(owner: str) -> str:
        return (f"another imgcheck train{owner} is training in {named}; wait for it to end (or stop it), or choose "
                "another --out.")

    with lock_file(os.path.join(real, LOCK_NAME), str(out), busy):
        yield
