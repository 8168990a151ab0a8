"""The CLI: settings errors name the field; `sign` prints URLs the service verifies."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from imgfleet.cli import main
from imgfleet.core.signing import verify
from imgfleet.logs import JsonFormatter


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"IMGFLEET_LIMITS__MAX_FRAMES": "many"}, "IMGFLEET_LIMITS__MAX_FRAMES"),
        ({"IMGFLEET_SERVER__PORT": "70000"}, "IMGFLEET_SERVER__PORT"),
        ({"IMGFLEET_SECURITY__KEYS": "zz", "IMGFLEET_SECURITY__SALTS": "aa"}, "KEYS"),
        ({"IMGFLEET_SECURITY__KEYS": "aa"}, "1 keys but 0 salts"),
        ({"IMGFLEET_SOURCES__LOCAL_ROOT": "/no/such/folder"}, "LOCAL_ROOT"),
        ({"IMGFLEET_SECURITY__PRESETS": '{"x": "w:abc"}'}, "preset 'x'"),
        ({"IMGFLEET_FORMATS__NOPE": "1"}, "IMGFLEET_FORMATS__NOPE"),
        ({"IMGFLEET_FORMATS__AVIF_TUNE": "sharp"}, "IMGFLEET_FORMATS__AVIF_TUNE"),
    ],
)
def test_check_config_names_the_bad_field(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as caught:
        main(["check-config"])
    assert named in str(caught.value.code)


def test_check_config_accepts_good_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "imgfleet.toml"
    config.write_text(f'[sources]\nlocal_root = "{tmp_path}"\n[limits]\nmax_frames = 5\n')
    main(["--config", str(config), "check-config"])
    assert "settings are valid" in capsys.readouterr().out


def test_sign_prints_a_verifiable_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IMGFLEET_SECURITY__KEYS", b"secret".hex())
    monkeypatch.setenv("IMGFLEET_SECURITY__SALTS", b"hello".hex())
    main(["sign", "rs:fill:300:200", "local:///a.jpg", "--ext", "webp", "--base-url", "http://h"])
    printed = capsys.readouterr()
    url = printed.out.strip()
    assert url.startswith("http://h/") and url.endswith(".webp")
    signature, _, path = url.removeprefix("http://h/").partition("/")
    verify(signature, "/" + path, [(b"secret", b"hello")])
    assert printed.err == ""  # signed: nothing to warn about


def test_sign_without_keys_is_insecure_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    main(["sign", "w:10", "local:///a b.jpg", "--plain", "--ext", "png"])
    printed = capsys.readouterr()
    assert printed.out.strip() == "/insecure/w:10/plain/local:///a%20b.jpg@png"
    assert "no signing keys are set" in printed.err and "unsigned" in printed.err


def test_docs_command_writes_both_references(tmp_path: Path) -> None:
    main(["docs", str(tmp_path)])
    assert (tmp_path / "settings.md").read_text().startswith("# Settings reference")
    assert (tmp_path / "url.md").read_text().startswith("# URL reference")


def test_json_log_lines_carry_extra_fields() -> None:
    record = logging.makeLogRecord(
        {"name": "imgfleet.access", "levelname": "INFO", "msg": "request", "request_id": "r1"}
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "request" and line["request_id"] == "r1" and line["level"] == "info"


def test_keys_are_created_listed_without_secrets_and_revoked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IMGFLEET_STORAGE__DATA", str(tmp_path / "data"))
    main(["keys", "create", "--tenant", "acme", "--scope", "assets:read"])
    created = capsys.readouterr()
    bearer = created.out.strip()
    assert bearer.startswith("ifk_") and "shown once" in created.err
    main(["keys", "list", "--tenant", "acme"])
    [line] = capsys.readouterr().out.splitlines()
    listed = json.loads(line)
    assert listed["scopes"] == ["assets:read"] and listed["revoked"] is None
    assert bearer.split("_")[2] not in line  # the secret is never shown again
    main(["keys", "revoke", listed["id"]])
    main(["keys", "list"])
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["revoked"] is not None
    with pytest.raises(SystemExit, match="no key 'nope'"):
        main(["keys", "revoke", "nope"])
    with pytest.raises(SystemExit, match="tenant: expected"):
        main(["keys", "create", "--tenant", "Bad Tenant!"])
