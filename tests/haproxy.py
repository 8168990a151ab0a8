"""HAProxy, the front door of `imgfleet geo up`: Debian's, installed by scripts/bootstrap."""

from __future__ import annotations

import pytest

from imgfleet.geo.front_door import haproxy


def require_haproxy() -> None:
    """Skip without HAProxy; under IMGFLEET_REQUIRE_SERVICES=1 the skip fails the run."""
    try:
        haproxy()
    except RuntimeError as error:
        pytest.skip(str(error))
