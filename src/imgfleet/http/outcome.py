"""What the shell records of one request for its metrics and access log line.

The app puts an `Outcome` into the scope; the send it hands down fills in the status and the
bytes sent and adds the request id to the response, and endpoints add the route and fields of
their own (the image route: hit or miss, or the error's reason). A refusal sets `hold`: the
server then reads nothing more from that connection for as long as Retry-After said, so a
client that resends at once after a 503 cannot keep the server busy refusing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from imgfleet.http.asgi import Message, Send

SCOPE_KEY = "imgfleet.outcome"
HIT = {"cache": "hit"}  # the log fields of an answer from this node's memory


@dataclass(slots=True)
class Outcome:
    request_id: str
    headers: dict[bytes, bytes]  # the request's, last value of each name
    head_only: bool  # a HEAD request: no body is sent whatever the app passes
    route: str = "other"
    status: int = 0  # 0: nothing sent
    size: int = 0  # body bytes sent
    extra: dict[str, Any] = field(default_factory=dict)
    hold: float = 0.0  # seconds not to read this connection's next request (a refusal's)

    def recording(self, send: Send) -> Send:
        """`send` that records the status and size and adds the request id header."""
        rid = (b"x-request-id", self.request_id.encode())

        async def recorded(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
                message["headers"] = [rid, *message.get("headers", ())]
            elif message["type"] == "http.response.body" and not self.head_only:
                self.size += len(message.get("body", b""))
            await send(message)

        return recorded
