"""The warnings an engine logs while it renders, kept with the render instead of logged.

A damaged source makes libvips log a warning per bad tile or row, on every request for it.
The engine collects a render's warnings in a `WarningTally` (a count and the first few
distinct messages, so a source that warns a thousand times costs no more memory than one
that warns thrice); the render hands back its `RenderWarnings`, a small value that crosses
into the server from a worker process with the result or the error. The server counts them
and logs them, a line per source now and then (`service/warning_log.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_MESSAGES = 3  # distinct messages kept; the count goes on past them
MAX_MESSAGE_CHARS = 300  # a message is cut to this length


@dataclass(frozen=True, slots=True)
class RenderWarnings:
    """How many warnings a render logged, and the first distinct messages among them."""

    count: int = 0
    messages: tuple[str, ...] = ()  # at most MAX_MESSAGES


NO_WARNINGS = RenderWarnings()


class WarningTally:
    """Warnings as they arrive: a count and the first MAX_MESSAGES distinct messages.

    Mutable, for the one place that adds to it at a time (a log handler under a lock, or a
    single thread). Adding allocates no object the garbage collector tracks, so it cannot
    start a collection: a log handler may add while holding a lock that a warning logged by
    a collection would need.
    """

    __slots__ = ("count", "messages")

    def __init__(self) -> None:
        self.count = 0
        self.messages: list[str] = []

    def add(self, message: str) -> None:
        self.count += 1
        self._keep(message[:MAX_MESSAGE_CHARS])

    def absorb(self, other: WarningTally | RenderWarnings) -> None:
        """Add the warnings of `other`: its count, and its messages while there is room."""
        self.count += other.count
        for message in other.messages:
            self._keep(message)

    def clear(self) -> None:
        self.count = 0
        self.messages.clear()

    @property
    def warnings(self) -> RenderWarnings:
        """The warnings so far, as a value."""
        return RenderWarnings(self.count, tuple(self.messages)) if self.count else NO_WARNINGS

    def _keep(self, message: str) -> None:
        if len(self.messages) < MAX_MESSAGES and message not in self.messages:
            self.messages.append(message)
