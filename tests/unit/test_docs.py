"""Generated docs stay equal to their generators (docs/url.md from the option parser)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from imgfleet.core import option_parser
from imgfleet.core.errors import BadOption
from imgfleet.core.option_parser import Presets, option_names, parse_path
from imgfleet.core.option_reference import REGENERATE, reference
from imgfleet.core.options import ProcessingOptions
from imgfleet.settings import Settings

URL_DOC = Path(__file__).resolve().parents[2] / "docs" / "url.md"
UNKNOWN = "a supported option name"


def table_names(markdown: str) -> set[str]:
    """Names in the first two cells (full name, short names) of the options table."""
    names: set[str] = set()
    for line in markdown.splitlines():
        if line.startswith("| `"):
            full, short = line.split(" | ")[:2]
            names |= set(re.findall(r"`([^`]+)`", f"{full} {short}"))
    return names


def unknown_option_error(name: str) -> bool:
    """Whether the parser refuses `name` as an unknown option (any other error is fine)."""
    try:
        parse_path(
            f"/{name}:1/plain/local:///a.jpg",
            defaults=ProcessingOptions(),
            presets=Presets(),
            allow_security_options=True,
        )
    except BadOption as e:
        return UNKNOWN in e.public_message
    return False


def test_url_doc_is_generated_from_the_parser() -> None:
    text = URL_DOC.read_text(encoding="utf-8") if URL_DOC.exists() else ""
    assert text == reference(), f"docs/url.md is stale; regenerate with: {REGENERATE}"


def test_every_name_the_parser_accepts_is_in_the_reference() -> None:
    documented = table_names(reference())
    assert option_names() - documented == set()
    assert documented == option_names()  # and the table names nothing the parser refuses


@pytest.mark.parametrize("name", sorted(option_names()))
def test_option_names_are_the_names_the_parser_accepts(name: str) -> None:
    assert not unknown_option_error(name)


def test_the_parser_refuses_names_outside_option_names() -> None:
    for name in ("x", "resize_type", "Width", "wm2", "sizes"):
        assert name not in option_names()
        assert unknown_option_error(name), name


def test_settings_named_in_the_reference_exist() -> None:
    sections = Settings.model_fields
    pattern = rf"`({'|'.join(sections)})\.(\w+)`"
    named = re.findall(pattern, reference())
    assert named
    for section, field in named:
        model = sections[section].annotation
        assert model is not None and field in getattr(model, "model_fields", {}), (
            f"{section}.{field}"
        )


def test_signing_example_is_imgproxys_published_vector() -> None:
    assert (
        "/oKfUtW34Dvo2BGQehJFR4Nr0_rIjOtdtzJ3QFsUcXH8/rs:fill:300:400:0/g:sm/"
        "aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/cy9jdXJpb3NpdHku/anBn.png"
    ) in reference()


@pytest.mark.parametrize("doc", [None, "A docstring without the decisions mark."])
def test_reference_refuses_to_drop_the_parser_decisions(
    monkeypatch: pytest.MonkeyPatch, doc: str | None
) -> None:
    monkeypatch.setattr(option_parser, "__doc__", doc)
    with pytest.raises(RuntimeError, match="Decisions"):
        reference()


def test_settings_reference_is_current() -> None:
    from imgfleet.settings import reference as settings_reference

    doc = URL_DOC.parent / "settings.md"
    assert doc.read_text() == settings_reference(), f"regenerate with: {REGENERATE}"


def test_every_setting_is_documented() -> None:
    for section, info in Settings.model_fields.items():
        model = info.annotation
        assert model is not None
        for name, field in model.model_fields.items():  # type: ignore[union-attr]
            assert field.description, f"{section}.{name} has no description"
