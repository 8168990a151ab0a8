"""Source adapters: where the original bytes of an image come from.

Each has `async fetch(url, max_bytes) -> bytes` and raises the `core.errors` tree:
`ForbiddenSource` (403), `SourceNotFound` (404), `TooLarge` (413), `OriginError` (502),
`OriginTimeout` (504).
"""

from imgfleet.adapters.source.http import HttpSource
from imgfleet.adapters.source.local import LocalSource

__all__ = ["HttpSource", "LocalSource"]
