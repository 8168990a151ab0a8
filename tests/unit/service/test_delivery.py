"""DeliveryService without libvips: the test kit's engine, source, clock and metrics."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from imgfleet.adapters.cache.memory import MemoryCache
from imgfleet.core.encoding import Qualities
from imgfleet.core.errors import (
    BadSignature,
    CacheUnavailable,
    Expired,
    OverLimit,
    Overloaded,
    RenderTimeout,
    SourceNotFound,
    UnsupportedMedia,
)
from imgfleet.core.limits import Limits
from imgfleet.core.lru import ByteLRU
from imgfleet.core.option_parser import compile_presets
from imgfleet.core.options import ProcessingOptions
from imgfleet.core.rendition import Rendition
from imgfleet.core.signing import sign
from imgfleet.ports import RegionCache
from imgfleet.service import render_job
from imgfleet.service.admission import Admission, AdmissionConfig
from imgfleet.service.delivery import DeliveryConfig, DeliveryService, Tier
from imgfleet.service.worker import Worker
from imgfleet.service.worker_threads import ThreadWorkers
from imgfleet.testing import FakeEngine, ManualClock, MemorySource, RecordingMetrics, fake_image
from imgfleet.testing import read_fake as fields_of
from tests.waiting import until

KEY, SALT = b"key", b"salt"
PHOTO = "local:///photo.jpg"
MB = 1024 * 1024

CONFIG = DeliveryConfig(
    key_pairs=((KEY, SALT),),
    signature_size=32,
    presets=compile_presets({}),
    only_presets=False,
    allow_security_options=False,
    defaults=ProcessingOptions(),
    limits=Limits(10_000_000, 50, 200, 50, 8192),
    qualities=Qualities(),
    prefer_avif=True,
    prefer_webp=True,
    render_timeout=10,
    threads=2,
)


def signed(options: str, source: str = PHOTO, ext: str = "jpg") -> str:
    path = f"/{options}/plain/{source}@{ext}"
    return "/" + sign(path, KEY, SALT) + path


@dataclass
class Kit:
    service: DeliveryService
    engine: FakeEngine
    source: MemorySource
    clock: ManualClock
    metrics: RecordingMetrics
    admission: Admission

    async def get(self, path: str, accept: str = "") -> Any:
        return await self.service.deliver(path, accept)


@pytest.fixture
async def make_kit() -> AsyncIterator[Any]:
    admissions: list[Admission] = []

    def factory(
        workers: int = 2,
        queue: int = 8,
        region: RegionCache | None = None,
        memory_budget: int = 1 << 40,
        **config: Any,
    ) -> Kit:
        clock = ManualClock()
        engine = FakeEngine(clock)
        source = MemorySource({PHOTO: fake_image(400, 300)})
        metrics = RecordingMetrics()
        admission = Admission(
            AdmissionConfig(workers, queue, memory_budget, queue_timeout=30, retry_after=3),
            ThreadWorkers(workers),
            rng=lambda: 0.0,
        )
        admissions.append(admission)
        service = DeliveryService(
            replace(CONFIG, **config),
            engine_version=engine.version,
            probe=engine.probe,
            render=functools.partial(render_job.run, engine),
            sources={"local": source},
            admission=admission,
            clock=clock,
            metrics=metrics,
            result_cache=ByteLRU[str, Rendition](1 << 20, lambda r: len(r.body)),
            source_cache=ByteLRU[str, bytes](1 << 20, len),
            region_cache=region,
        )
        return Kit(service, engine, source, clock, metrics, admission)

    yield factory
    for admission in admissions:
        admission.shutdown()


async def test_a_miss_renders_the_plan_and_a_repeat_is_a_hit(make_kit: Any) -> None:
    kit = make_kit()
    first = await kit.get(signed("rs:fit:100:100"))
    assert fields_of(first.rendition.body) == {
        "format": "jpeg", "width": 100, "height": 75, "pages": 1, "quality": 80
    }  # fmt: skip
    assert (first.cache_hit, first.rendition.media_type) == (False, "image/jpeg")
    again = await kit.get(signed("rs:fit:100:100"))
    assert again.cache_hit and again.rendition == first.rendition
    assert (kit.metrics.misses, kit.metrics.hits, kit.engine.started) == (1, 1, 1)
    assert [fmt.value for fmt, _ in kit.metrics.renders] == ["jpeg"]


async def test_identical_misses_wait_for_one_render_and_other_keys_render_beside_it(
    make_kit: Any,
) -> None:
    """50 concurrent misses of one URL: one render, 49 coalesced while it runs; a miss of
    another URL renders at the same time instead of queueing behind them."""
    kit = make_kit(workers=2)
    gate = kit.engine.hold()
    same = [asyncio.create_task(kit.get(signed("w:90"))) for _ in range(50)]
    await until(
        lambda: kit.metrics.coalesced_misses == 49 and kit.engine.running == 1,
        "49 misses joined the first, whose render is running",
    )
    assert (kit.metrics.misses, kit.engine.started) == (50, 1)
    other = asyncio.create_task(kit.get(signed("w:91")))
    await until(lambda: kit.engine.running == 2, "a second key rendering beside the first")
    gate.set()
    results = await asyncio.gather(*same)
    assert len({r.rendition.body for r in results}) == 1
    assert fields_of((await other).rendition.body)["width"] == 91  # type: ignore[index]
    assert kit.engine.started == 2


async def test_admission_queues_its_size_beyond_the_workers_then_refuses(make_kit: Any) -> None:
    kit = make_kit(workers=1, queue=2)
    gate = kit.engine.hold()
    admitted = [asyncio.create_task(kit.get(signed(f"w:{w}"))) for w in (10, 11, 12)]
    await until(
        lambda: (kit.engine.running, kit.admission.running, kit.admission.queued) == (1, 1, 2),
        "one render running and two queued",
    )
    kit.source.objects["local:///other.jpg"] = fake_image(400, 300)
    fetched = kit.source.fetches
    with pytest.raises(Overloaded) as refused:
        await kit.get(signed("w:13", "local:///other.jpg"))
    assert (refused.value.status, refused.value.retry_after) == (503, 3)
    assert kit.source.fetches == fetched  # refused before any work was done for it
    gate.set()
    widths = [fields_of((await task).rendition.body)["width"] for task in admitted]  # type: ignore[index]
    assert widths == [10, 11, 12]


async def test_a_render_is_weighed_by_its_estimated_memory_and_one_too_big_is_refused(
    make_kit: Any,
) -> None:
    small = make_kit(memory_budget=64 * MB)
    assert (await small.get(signed("w:200"))).tier is Tier.RENDERED
    with pytest.raises(OverLimit) as refused:  # 8000 x 6000 RGBA is far past 64 MB
        await small.get(signed("rs:fit:8000:6000:1"))
    assert refused.value.status == 422
    assert "the render memory budget is 64 MB" in refused.value.public_message
    assert small.engine.started == 1  # refused before a worker was taken

    kit = make_kit()
    gate = kit.engine.hold()
    task = asyncio.create_task(kit.get(signed("w:100")))
    await until(lambda: kit.engine.running == 1, "the render running")
    assert kit.admission.memory_in_use > 0  # its estimate is counted while it runs
    gate.set()
    await task
    await until(lambda: kit.admission.memory_in_use == 0, "and released after")


@pytest.mark.parametrize("escaped", ["rs%3Afit%3A50%3A50", "rs%3afit:50:50"])
async def test_options_re_encoded_by_a_proxy_still_pass_the_signature(
    make_kit: Any, escaped: str
) -> None:
    """imgproxy's clients sign the options unescaped; a proxy may send `:` as %3A."""
    kit = make_kit()
    path = signed("rs:fit:50:50").replace("rs:fit:50:50", escaped)
    assert fields_of((await kit.get(path)).rendition.body)["width"] == 50  # type: ignore[index]
    with pytest.raises(BadSignature):
        await kit.get(path.replace("50", "51", 1))


async def test_a_url_past_its_expiry_is_not_found_and_never_reusable(make_kit: Any) -> None:
    kit = make_kit()
    path = signed(f"exp:{int(kit.clock.time()) + 100}/w:20")
    await kit.get(path)
    hit = await kit.get(path)
    assert hit.cache_hit and not hit.reusable  # its answer depends on the time of asking
    kit.clock.advance(101)
    with pytest.raises(Expired):
        await kit.get(path)


async def test_only_a_hit_without_expiry_is_reusable(make_kit: Any) -> None:
    kit = make_kit()
    miss = await kit.get(signed("w:30"))
    hit = await kit.get(signed("w:30"))
    assert (miss.reusable, hit.reusable) == (False, True)


async def test_cached_rendition_is_the_one_way_to_the_cache_and_counts_hits(
    make_kit: Any,
) -> None:
    kit = make_kit()
    delivery = await kit.get(signed("w:40"))
    assert kit.service.cached_rendition("no-such-key") is None
    assert kit.metrics.hits == 0
    assert kit.service.cached_rendition(delivery.presentation.key) == delivery.rendition
    assert kit.metrics.hits == 1


@pytest.mark.parametrize(
    ("accept", "fmt", "negotiated"),
    [
        ("image/avif,image/webp,*/*", "avif", True),
        ("image/webp,*/*", "webp", True),
        ("*/*", "jpeg", True),
    ],
)
async def test_the_format_follows_accept_when_the_url_leaves_it_open(
    make_kit: Any, accept: str, fmt: str, negotiated: bool
) -> None:
    kit = make_kit()
    path = "/" + sign("/w:20/plain/" + PHOTO, KEY, SALT) + "/w:20/plain/" + PHOTO
    delivery = await kit.get(path, accept)
    assert fields_of(delivery.rendition.body)["format"] == fmt  # type: ignore[index]
    assert delivery.presentation.negotiated is negotiated


async def test_a_missing_source_is_counted_by_reason(make_kit: Any) -> None:
    kit = make_kit()
    with pytest.raises(SourceNotFound):
        await kit.get(signed("w:10", "local:///nope.jpg"))
    assert kit.metrics.source_failures == ["source_not_found"]


async def test_a_render_held_past_its_deadline_times_out(make_kit: Any) -> None:
    kit = make_kit(render_timeout=0.05)
    kit.engine.hold()
    with pytest.raises(RenderTimeout):
        await kit.get(signed("w:10"))


async def test_several_renditions_of_one_source_fetch_it_once(make_kit: Any) -> None:
    kit = make_kit()
    await asyncio.gather(*(kit.get(signed(f"w:{w}")) for w in (20, 30, 40)))
    assert kit.source.fetches == 1


async def test_a_node_serves_what_another_rendered_through_the_region_cache(
    make_kit: Any,
) -> None:
    region = MemoryCache()
    first, second = make_kit(region=region), make_kit(region=region)
    rendered = await first.get(signed("w:60"))
    shared = await second.get(signed("w:60"))
    assert (rendered.tier, shared.tier) == (Tier.RENDERED, Tier.REGION)
    assert shared.rendition == rendered.rendition and second.engine.started == 0
    assert (first.metrics.region_results, second.metrics.region_results) == (["miss"], ["hit"])
    assert (await second.get(signed("w:60"))).tier is Tier.MEMORY


class DownCache:
    """A region cache whose backend is down."""

    async def get(self, key: str) -> Rendition | None:
        raise CacheUnavailable("region cache: down")

    async def put(self, key: str, rendition: Rendition) -> None:
        raise CacheUnavailable("region cache: down")

    async def delete(self, key: str) -> None:
        raise CacheUnavailable("region cache: down")

    async def aclose(self) -> None:
        pass


async def test_a_region_cache_that_is_down_costs_a_render_not_the_request(
    make_kit: Any,
) -> None:
    kit = make_kit(region=DownCache())
    delivery = await kit.get(signed("w:70"))
    assert delivery.tier is Tier.RENDERED and kit.engine.started == 1
    assert kit.metrics.region_results == ["error", "error"]  # the lookup and the store


async def test_a_worker_warms_paths_in_order_and_reports_failures(make_kit: Any) -> None:
    kit = make_kit()
    paths = [signed("w:80"), signed("w:10", "local:///nope.jpg"), signed("w:80"), "/bad"]
    results = await Worker(kit.service, concurrency=2).warm(paths)
    assert [(r.path, r.status) for r in results] == list(
        zip(paths, [200, 404, 200, 400], strict=True)
    )
    assert results[0].detail == f"image/jpeg, {len(fake_image(80, 60, quality=80))} bytes"
    assert kit.engine.started == 1  # the repeat joined or hit the first
    with pytest.raises(ValueError, match="at least 1"):
        Worker(kit.service, concurrency=0)


WARNS = "local:///warns.png"
CORRUPT = "local:///corrupt.png"
WARNINGS = ["error in tile 0 x 144", "error in tile 0 x 130"]


def _vips_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, int]]:
    return [
        (r.source, r.count)  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == "imgfleet.vips"
    ]


async def test_a_warning_source_is_counted_per_render_and_logged_once_a_minute(
    make_kit: Any, caplog: pytest.LogCaptureFixture
) -> None:
    kit = make_kit()
    kit.source.objects[WARNS] = fake_image(400, 300, warnings=WARNINGS)
    with caplog.at_level(logging.WARNING, "imgfleet.vips"):
        for width in range(10, 60):  # 50 renditions of it: 50 renders
            await kit.get(signed(f"w:{width}", WARNS))
        assert (kit.engine.started, kit.metrics.warnings) == (50, 50 * 2)
        assert _vips_lines(caplog) == [(WARNS, 2)]
        kit.clock.advance(60)
        await kit.get(signed("w:60", WARNS))
    assert _vips_lines(caplog) == [(WARNS, 2), (WARNS, 49 * 2 + 2)]


async def test_a_failing_source_keeps_its_warnings(
    make_kit: Any, caplog: pytest.LogCaptureFixture
) -> None:
    kit = make_kit()
    kit.source.objects[CORRUPT] = fake_image(400, 300, warnings=WARNINGS, corrupt=True)
    with caplog.at_level(logging.WARNING, "imgfleet.vips"):
        for _ in range(50):  # a failure is not cached: every request renders it again
            with pytest.raises(UnsupportedMedia):
                await kit.get(signed("w:100", CORRUPT))
    assert (kit.engine.started, kit.metrics.warnings) == (50, 50 * 2)
    assert _vips_lines(caplog) == [(CORRUPT, 2)]
