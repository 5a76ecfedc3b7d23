"""The greenlets Tengo code runs in, reused from one piece of code to the next.

Every piece of Tengo an instance runs (the main file, each callback) runs in a greenlet, so that
it can be suspended in an API call (see :mod:`._instance`). Starting a new greenlet costs about
8 µs here, switching into a suspended one under 1 µs: an instance keeps the workers whose code
has finished (a few, see :data:`IDLE_WORKERS`) and hands each the next piece, so a callback
costs a few switches rather than a new greenlet. A worker whose code was interrupted (its
driver cancelled, the instance closed) is unwound with ``GreenletExit`` and never reused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from greenlet import greenlet  # type: ignore[import-untyped]

IDLE_WORKERS = 4
"""Finished workers an instance keeps for its next pieces of code."""

FAILED = object()
"""The status of an outcome whose code raised (its payload is the exception)."""


class Worker(greenlet):  # type: ignore[misc]
    """Runs the bodies switched into it, one after the other.

    ``switch(body)`` runs ``body()``; the code may switch to the parent with an API request
    (any value but None) and be resumed with the reply. When the body returns or raises an
    ``Exception``, the worker stores ``outcome`` (``(None, value)`` or ``(FAILED, exception)``),
    sets ``ready`` and switches to the parent with None; the next ``switch(body)`` starts the
    next body. Other exceptions (``GreenletExit``) end the worker.

    Attributes:
        instance: the instance whose code this is (the API functions find it here).
        ready: whether the worker waits for a body (its last one has finished).
        outcome: the last body's outcome, until the driver takes it.
        long: whether its code paused after holding the loop for a slice (its next resume
            is surely long too: its CPU time is read from the thread's clock at once).
    """

    def __init__(self, instance: Any) -> None:
        super().__init__(self._serve)
        self.instance = instance
        self.ready = True
        self.outcome: tuple[object, Any] | None = None
        self.long = False

    def _serve(self, body: Callable[[], Any] | None) -> None:
        while True:
            self.ready = False
            assert body is not None
            try:
                self.outcome = (None, body())
            except Exception as exc:  # handed to the driver, which raises it in its own task
                self.outcome = (FAILED, exc)
            body = None  # nothing of a finished piece of code is kept alive while idle
            self.ready = True
            body = self.parent.switch(None)

    def take_outcome(self) -> tuple[object, Any]:
        """The finished body's ``(status, payload)``, forgotten by the worker."""
        outcome = self.outcome
        assert outcome is not None
        self.outcome = None
        return outcome
