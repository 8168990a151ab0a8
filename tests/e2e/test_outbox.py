"""The transactional outbox across a crash: an upload committed while NATS was down, then the
process killed before its event could be published: the event is published after the
restart, once."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import nats

from imgfleet.adapters.bus.nats import stream_name
from imgfleet.core.asset_codec import decode_event
from imgfleet.core.assets import EventType, KeyEvent
from tests import imagegen
from tests.nats_server import running_nats_server
from tests.serving_process import bearer, serve_process
from tests.waiting import until_blocking

REGION = "outbox-test"


def stream_events(url: str) -> list[tuple[str, str]]:
    """(Nats-Msg-Id, asset id) of every asset event in the region's stream, in order (the
    key the test made has its event there too)."""

    async def read() -> list[tuple[str, str]]:
        connection = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
        try:
            js = connection.jetstream()
            try:
                info = await js.stream_info(stream_name(REGION))
            except nats.js.errors.NotFoundError:
                return []
            found = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                message = await js.get_msg(stream_name(REGION), seq)
                event = decode_event(message.data or b"")
                if isinstance(event, KeyEvent):
                    continue
                assert event.type is EventType.STORED
                found.append(((message.headers or {})["Nats-Msg-Id"], event.asset.id))
            return found
        finally:
            await connection.close()

    return asyncio.run(read())


def test_an_event_committed_before_a_crash_is_published_after_the_restart_once(
    tmp_path: Path,
) -> None:
    (tmp_path / "nats").mkdir()
    with running_nats_server(tmp_path / "nats") as nats_server:
        env = {
            **os.environ,
            "IMGFLEET_STORAGE__DATA": str(tmp_path / "data"),
            "IMGFLEET_EVENTS__BUS": nats_server.url,
            "IMGFLEET_REGION__NAME": REGION,
            "IMGFLEET_RENDER__ISOLATION": "threads",
            "IMGFLEET_SERVER__ACCESS_LOG": "false",
        }
        headers = bearer(env, "t")

        def upload(base: str, data: bytes) -> str:
            answer = httpx.post(
                f"{base}/v1/assets",
                content=data,
                headers={**headers, "content-type": "image/jpeg"},
                timeout=10,
            )
            assert answer.status_code == 201, answer.text
            return str(answer.json()["id"])

        nats_server.stop()
        with serve_process(env, probe="/health") as (base, serving):  # not ready: no NATS
            first = upload(base, imagegen.jpeg(64, 48))
            serving.process.kill()  # committed; its event could not be published
        nats_server.start()
        assert stream_events(nats_server.url) == []

        with serve_process(env) as (base, serving):
            until_blocking(
                lambda: [asset for _, asset in stream_events(nats_server.url)] == [first],
                "the committed event published after the restart",
                15,
            )
            serving.process.kill()
        with serve_process(env) as (base, _):
            second = upload(base, imagegen.jpeg(65, 48))
            until_blocking(
                lambda: len(stream_events(nats_server.url)) == 2,
                "the next upload's event published",
                15,
            )
        events = stream_events(nats_server.url)
        assert [asset for _, asset in events] == [first, second]
        assert len({event_id for event_id, _ in events}) == 2
