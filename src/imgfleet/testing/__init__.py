"""Test doubles for every port, shipped with imgfleet as httpx ships `MockTransport`.

    MemorySource      SourceLoader over a dict of URL → bytes
    FakeEngine        Engine without libvips: tiny fake images, a gate to hold renders,
                      counters of renders started and running; `fake_image`, `read_fake`
    ManualClock       Clock that moves only when told to
    RecordingMetrics  DeliveryMetrics that keeps counts to assert on

`tests/contract/` runs one behaviour suite per port over every adapter and these doubles,
so a double that drifts from the real thing fails there. A new port brings its in-memory
adapter (in `adapters/`, when it is also an embedded default, else here) and its suite.
"""

from imgfleet.testing.clock import ManualClock
from imgfleet.testing.engine import FakeEngine, fake_image, read_fake
from imgfleet.testing.metrics import RecordingMetrics
from imgfleet.testing.source import MemorySource

__all__ = [
    "FakeEngine",
    "ManualClock",
    "MemorySource",
    "RecordingMetrics",
    "fake_image",
    "read_fake",
]
