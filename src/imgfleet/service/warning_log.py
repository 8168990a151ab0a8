"""The engine's warnings in the log: a line per source and interval, never one per request.

A damaged source makes libvips warn on every render of it, and a source that fails is not
cached, so it is rendered (and warns) again on every request: logged as they came, these
lines were most of the log (issue 18: 18 MB for 24,000 requests). The metric
`imgfleet_vips_warnings_total` counts every warning; the log only says which sources warn.
A source's first warnings are logged at once; after that, at most one line per interval
while it keeps warning, carrying the count since its previous line and its first distinct
messages. Warnings that arrive after a source's last line and are not followed by more once
the interval has passed stay in the metric alone: nothing here runs on a timer.

The interval is a minute: short enough that a source which starts to warn is named in the
log within the minute an alert on the metric's rate looks at, long enough that a source
requested a hundred times a second costs one line a minute instead of hundreds a second.
(imgproxy's vips package sets no handler for libvips' log domain, so there its warnings
reach GLib's default handler on stderr, one line each: it has no interval to follow.)

Memory is bounded: at most `max_sources` sources are remembered, the one that warned least
recently forgotten first (with whatever count it had not logged yet), and a source URL is
cut to MAX_SOURCE_CHARS.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field

from imgfleet.core.render_warnings import RenderWarnings, WarningTally
from imgfleet.ports import Clock

log = logging.getLogger("imgfleet.vips")

INTERVAL_SECONDS = 60.0
MAX_SOURCES = 1024
MAX_SOURCE_CHARS = 1024


@dataclass(slots=True)
class _Source:
    logged_at: float  # clock.monotonic() of its last line
    pending: WarningTally = field(default_factory=WarningTally)  # since that line


class WarningLog:
    """Logs the warnings recorded per source, at most one line per source per interval."""

    def __init__(
        self,
        clock: Clock,
        interval_seconds: float = INTERVAL_SECONDS,
        max_sources: int = MAX_SOURCES,
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError(f"interval_seconds: expected > 0, received {interval_seconds}")
        if max_sources < 1:
            raise ValueError(f"max_sources: expected at least 1, received {max_sources}")
        self.clock = clock
        self.interval = interval_seconds
        self.max_sources = max_sources
        self._sources: OrderedDict[str, _Source] = OrderedDict()

    def record(self, source: str, warnings: RenderWarnings) -> None:
        """Note a render's warnings; log them with those held back if the interval is over."""
        if not warnings.count:
            return
        source = source[:MAX_SOURCE_CHARS]
        now = self.clock.monotonic()
        entry = self._sources.pop(source, None)
        if entry is None:
            entry = _Source(logged_at=now - self.interval)
        entry.pending.absorb(warnings)
        if now - entry.logged_at >= self.interval:
            self._line(source, entry.pending.warnings)
            entry.pending.clear()
            entry.logged_at = now
        self._sources[source] = entry  # the most recent last
        if len(self._sources) > self.max_sources:
            self._sources.popitem(last=False)

    def _line(self, source: str, warnings: RenderWarnings) -> None:
        log.warning(
            "libvips warned while rendering a source",
            extra={
                "source": source,
                "count": warnings.count,  # since this source's previous line
                "messages": list(warnings.messages),
                "interval_seconds": self.interval,
            },
        )
