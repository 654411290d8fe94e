"""Durable writes off the I/O loop: one thread commits, the loop goes on serving the broker.

A batch's audit entries, documents and states must be durable before its acks go out;
`fsync` on a busy disk takes milliseconds, and the loop used to wait for it batch after
batch. Here one thread takes the writes in the order they are submitted (so one worker's
batches stay in order, and an audit flush there writes every worker's pending entries at
once: a group commit), and hands the follow-up (the acks) back to the loop.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger("exchange.amqp.commit")

Then = Callable[[BaseException | None], None]


class Committer:
    def __init__(self) -> None:
        self._jobs: deque[tuple[Callable[[], None], Then, Any]] = deque()
        self._ready = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="audit-commit", daemon=True)
        self._thread.start()

    def submit(self, write: Callable[[], None], then: Then, loop: Any) -> None:
        """Run `write` on the commit thread, then `then(error or None)` on `loop`."""
        with self._ready:
            if self._stopped:
                raise RuntimeError("the committer is stopped")
            self._jobs.append((write, then, loop))
            self._ready.notify()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._jobs and not self._stopped:
                    self._ready.wait()
                if not self._jobs:
                    return
                write, then, loop = self._jobs.popleft()
            error: BaseException | None = None
            try:
                write()
            except BaseException as exc:  # handed to the loop: it decides (close the channel)
                error = exc
            try:
                loop.add_callback_threadsafe(lambda then=then, error=error: then(error))
            except Exception:  # the loop is gone: nothing is acknowledged, all comes back
                log.warning("commit done after its loop closed")

    def stop(self) -> None:
        """Finish what was submitted, then end the thread."""
        with self._ready:
            self._stopped = True
            self._ready.notify()
        self._thread.join(timeout=60)
