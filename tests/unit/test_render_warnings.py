"""A render's warnings: counted past the few distinct messages kept, and carried by errors."""

from __future__ import annotations

import pickle

from imgfleet.core.errors import UnsupportedMedia
from imgfleet.core.render_warnings import (
    MAX_MESSAGE_CHARS,
    MAX_MESSAGES,
    NO_WARNINGS,
    RenderWarnings,
    WarningTally,
)


def test_a_tally_counts_every_warning_and_keeps_the_first_distinct_messages() -> None:
    tally = WarningTally()
    for message in ["a", "a", "b", "c", "b", "d", "e"]:
        tally.add(message)
    assert tally.warnings == RenderWarnings(7, ("a", "b", "c"))
    assert len(tally.warnings.messages) == MAX_MESSAGES


def test_a_long_message_is_cut() -> None:
    tally = WarningTally()
    tally.add("x" * (MAX_MESSAGE_CHARS + 50))
    tally.add("x" * (MAX_MESSAGE_CHARS + 10))  # the same once cut
    assert tally.warnings == RenderWarnings(2, ("x" * MAX_MESSAGE_CHARS,))


def test_a_tally_absorbs_another_tally_or_a_value() -> None:
    tally, other = WarningTally(), WarningTally()
    tally.add("a")
    other.add("a")
    other.add("b")
    tally.absorb(other)
    tally.absorb(RenderWarnings(5, ("c", "d")))
    assert tally.warnings == RenderWarnings(8, ("a", "b", "c"))


def test_an_empty_or_cleared_tally_has_no_warnings() -> None:
    tally = WarningTally()
    assert tally.warnings is NO_WARNINGS
    tally.add("a")
    tally.clear()
    assert tally.warnings == NO_WARNINGS == RenderWarnings(0, ())


def test_an_error_carries_its_render_warnings_through_pickle() -> None:
    error = UnsupportedMedia("source: corrupt")
    assert error.render_warnings is NO_WARNINGS
    error.render_warnings = RenderWarnings(3, ("error in tile 0 x 144",))
    again = pickle.loads(pickle.dumps(error))
    assert again.render_warnings == RenderWarnings(3, ("error in tile 0 x 144",))
    assert again.public_message == "source: corrupt"
