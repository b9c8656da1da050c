"""The folder walk, run once: a thread walks ahead of the scan, handing files over in order and counting them, so a
progress bar learns the total without a second walk of the folders."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator

_DONE = object()


def walk_ahead(files: Iterable[str], on_total: Callable[[int], None]) -> Iterator[str]:
    """The items of `files`, in order, drawn by a background thread that runs ahead of the consumer (the paths
    not yet scanned wait in memory); `on_total` gets their number as soon as the walk has ended. An error in the
    walk is raised here, where the consumer reads."""
    handed: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()

    def walk() -> None:
        count = 0
        try:
            for path in files:
                if stop.is_set():
                    return
                handed.put(path)
                count += 1
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            handed.put(_Failure(exc))
            return
        on_total(count)
        handed.put(_DONE)

    thread = threading.Thread(target=walk, name="imgcheck-walk", daemon=True)
    thread.start()
    try:
        while True:
            item = handed.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
