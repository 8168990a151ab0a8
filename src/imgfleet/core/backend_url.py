"""Backend URLs from settings: `scheme://[user@]host[:port][/path][?option=value&...]`.

Settings choose each backend by URL (`memory://`, `redis://127.0.0.1:6379/0?ttl=3600`, ...);
the scheme picks the adapter and the query carries its options. Parsing is strict: an
unknown option or a value of the wrong kind is an error that names it, so a typo in settings
stops the start instead of being ignored.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True, slots=True)
class BackendUrl:
    text: str
    scheme: str
    host: str | None
    port: int | None
    path: str
    options: Mapping[str, str]

    @classmethod
    def parse(cls, text: str, allowed: Collection[str] = ()) -> BackendUrl:
        """Parse `text`; options outside `allowed` raise ValueError."""
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError as error:
            raise ValueError(f"{text!r} is not a URL: {error}") from None
        if not parts.scheme or "://" not in text:
            raise ValueError(f"expected a URL such as memory:// or redis://host, received {text!r}")
        options = dict(parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False))
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            known = ", ".join(sorted(allowed)) or "none"
            raise ValueError(f"{text!r}: unknown option {unknown[0]!r} (options: {known})")
        return cls(text, parts.scheme.lower(), parts.hostname, port, parts.path, options)

    def integer(self, name: str, default: int, minimum: int = 0) -> int:
        value = self.options.get(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ValueError(
                f"{self.text!r}: {name} expects an integer, received {value!r}"
            ) from None
        if number < minimum:
            raise ValueError(f"{self.text!r}: {name} must be at least {minimum}, received {number}")
        return number

    def seconds(self, name: str, default: float) -> float:
        value = self.options.get(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{self.text!r}: {name} expects seconds, received {value!r}") from None
        if not number > 0:
            raise ValueError(f"{self.text!r}: {name} must be more than 0, received {value!r}")
        return number

    def text_option(self, name: str, default: str) -> str:
        return self.options.get(name, default)

    def without_options(self) -> str:
        """The URL with its query removed (what a client library is given)."""
        return self.text.partition("?")[0]


def scheme_of(text: str) -> str:
    """The scheme of a URL, lower case ("" when there is none)."""
    scheme, sep, _ = text.partition("://")
    return scheme.lower() if sep else ""
