"""tests/conftest.py: under IMGFLEET_REQUIRE_SERVICES=1 a skipped test fails the run."""

from __future__ import annotations

import pytest

SUITE = """
import pytest

@pytest.fixture
def service():
    pytest.skip("no service on this machine")

def test_passes():
    pass

def test_skips_in_its_body():
    pytest.skip("openssl is not installed")

@pytest.mark.skipif(True, reason="a marker said so")
def test_skips_by_marker():
    pass

def test_skips_in_a_fixture(service):
    pass

@pytest.mark.xfail(reason="a known bug")
def test_expected_to_fail():
    assert False
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_suite=SUITE)
    return pytester


def run(pytester: pytest.Pytester) -> pytest.RunResult:
    # The rule under test comes from tests/conftest.py; the inner run needs no asyncio.
    return pytester.runpytest("-p", "tests.conftest", "-p", "no:asyncio", "-rA")


def test_skips_are_skips_without_the_variable(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IMGFLEET_REQUIRE_SERVICES", raising=False)
    result = run(suite)
    result.assert_outcomes(passed=1, skipped=3, xfailed=1)
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.parametrize("value", ["0", ""])
def test_only_the_value_1_requires_services(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("IMGFLEET_REQUIRE_SERVICES", value)
    run(suite).assert_outcomes(passed=1, skipped=3, xfailed=1)


def test_every_skip_fails_the_run_under_the_variable(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMGFLEET_REQUIRE_SERVICES", "1")
    result = run(suite)
    # A skip in the test's body fails it; one at setup (marker, fixture) is an error.
    result.assert_outcomes(passed=1, failed=1, errors=2, xfailed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    for test, reason in [
        ("test_skips_in_its_body", "openssl is not installed"),
        ("test_skips_by_marker", "a marker said so"),
        ("test_skips_in_a_fixture", "no service on this machine"),
    ]:
        result.stdout.fnmatch_lines(
            [f"*test_suite.py::{test} skipped ({reason}), but IMGFLEET_REQUIRE_SERVICES=1*"]
        )


def test_a_module_that_skips_whole_fails_the_run_under_the_variable(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        test_needs_a_library="""
        import pytest
        pytest.importorskip("a_library_nobody_installed")

        def test_uses_it():
            pass
        """
    )
    monkeypatch.setenv("IMGFLEET_REQUIRE_SERVICES", "1")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.INTERRUPTED  # a collection error stops the run
    result.stdout.fnmatch_lines(["*test_needs_a_library.py skipped (*a_library_nobody_installed*"])
    monkeypatch.delenv("IMGFLEET_REQUIRE_SERVICES")
    run(pytester).assert_outcomes(skipped=1)
