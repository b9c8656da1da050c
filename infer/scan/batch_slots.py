"""Decoded batches handed from the decoding workers to the scanning process through shared memory, not pipes.

A pool's workers return their batches pickled through pipes: at 224x224 a batch of 256 is 38.5 MB, and moving
ready batches alone took 37% of the time decoding them does (benchmarks/results/decode_vs_pillow_224.md). Above
`SHARED_MEMORY_MIN_BYTES` per batch, the scan instead maps one anonymous shared slot per batch in flight before the
pool forks its workers, so each worker inherits the slots. A worker writes its batch's pixels into the slot it was
handed and returns only the small rest (paths, errors, facts, the pixels' shape); the scanning process copies the
pixels out and hands the slot to the next batch. Anonymous mappings need no names, no /dev/shm space and no
cleanup beyond closing them. Below the threshold (a 32x32 batch is 0.8 MB, where pipes cost about 8% of decoding)
and where workers are not forked (spawn, forkserver), batches go through the pipes as before.
"""

from __future__ import annotations

import collections
import contextlib
import math
import mmap
import multiprocessing

import numpy as np

SHARED_MEMORY_MIN_BYTES = 8 << 20  # per batch; a 224x224 batch of 256 is 38.5 MB, a 32x32 one 0.8 MB


def shared_memory_pays(slot_bytes: int) -> bool:
    """Whether batches of `slot_bytes` go through shared slots: large enough, and workers forked (they inherit the
    slots; spawned workers would not)."""
    return slot_bytes >= SHARED_MEMORY_MIN_BYTES and multiprocessing.get_start_method(allow_none=False) == "fork"


class BatchSlots:
    """`count` anonymous shared memory slots of `slot_bytes` each; `take` lends one to a batch, `copy_out` returns
    the batch's pixels and frees its slot."""

    def __init__(self, count: int, slot_bytes: int) -> None:
        self.slot_bytes = slot_bytes
        self._maps = [mmap.mmap(-1, slot_bytes) for _ in range(count)]  # MAP_SHARED | MAP_ANONYMOUS
        self._free = collections.deque(range(count))

    def take(self) -> int:
        """A free slot's index (there is one for every batch in flight)."""
        return self._free.popleft()

    def write(self, index: int, pixels: np.ndarray) -> bool:
        """In a worker: copy `pixels` (uint8) into slot `index`; False when they do not fit (they then travel in the
        pipe)."""
        if pixels.nbytes > self.slot_bytes:
            return False
        np.frombuffer(self._maps[index], np.uint8, count=pixels.size)[:] = pixels.reshape(-1)
        return True

    def copy_out(self, index: int, shape: tuple[int, ...]) -> np.ndarray:
        """The uint8 pixels of `shape` that a worker wrote into slot `index`, copied; the slot is free again."""
        pixels = np.frombuffer(self._maps[index], np.uint8, count=math.prod(shape)).reshape(shape).copy()
        self.release(index)
        return pixels

    def release(self, index: int) -> None:
        """Slot `index` is free again (its batch was consumed, or travelled in the pipe)."""
        self._free.append(index)

    def close(self) -> None:
        for slot in self._maps:
            with contextlib.suppress(BufferError):
                slot.close()


_inherited: BatchSlots | None = None  # the slots the pool's workers inherit when they are forked


def lend_to_workers(slots: BatchSlots | None) -> None:
    """Make `slots` the ones workers forked from now on write into (None once the pool is done)."""
    global _inherited
    _inherited = slots


def write_inherited(index: int, pixels: np.ndarray) -> bool:
    """In a forked worker: `BatchSlots.write` on the inherited slots (False without them)."""
    return _inherited is not None and _inherited.write(index, pixels)
