"""Settings → the small typed values that inner layers take, validated at start."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from imgfleet.adapters.source.http import HttpSourceConfig
from imgfleet.core.encoding import EncoderConfig, Qualities
from imgfleet.core.limits import Limits
from imgfleet.core.option_parser import compile_presets
from imgfleet.core.options import ProcessingOptions
from imgfleet.service.admission import AdmissionConfig
from imgfleet.service.assets import AssetsConfig
from imgfleet.service.delivery import DeliveryConfig
from imgfleet.service.outbox_relay import RelayConfig
from imgfleet.settings import (
    EventSettings,
    FormatSettings,
    RenderSettings,
    Settings,
    SourceSettings,
    StorageSettings,
    env_name,
)

if TYPE_CHECKING:
    from imgfleet.adapters.source.s3 import S3SourceConfig

CGROUP_LIMIT = Path("/sys/fs/cgroup/memory.max")  # cgroup v2: "max" or a byte count


def encoder_config(f: FormatSettings) -> EncoderConfig:
    return EncoderConfig(
        qualities=Qualities(f.quality, f.jpeg_quality, f.webp_quality, f.avif_quality),
        jpeg_progressive=f.jpeg_progressive,
        webp_effort=f.webp_effort,
        avif_effort=f.avif_effort,
        avif_tune=f.avif_tune,
        png_compression=f.png_compression,
        strip_metadata=f.strip_metadata,
        keep_copyright=f.keep_copyright,
        strip_color_profile=f.strip_color_profile,
        svg_input=f.svg_input,
    )


def limits(settings: Settings) -> Limits:
    lim = settings.limits
    return Limits(
        max_src_bytes=settings.sources.max_bytes,
        max_src_megapixels=lim.max_src_megapixels,
        max_frames=lim.max_frames,
        max_frame_megapixels=lim.max_frame_megapixels,
        max_result_dimension=lim.max_result_dimension,
    )


def delivery_config(settings: Settings) -> DeliveryConfig:
    """Everything the delivery path needs from settings (bad presets raise ValueError)."""
    sec, fmt = settings.security, settings.formats
    return DeliveryConfig(
        key_pairs=sec.key_pairs,
        signature_size=sec.signature_size,
        presets=compile_presets(sec.presets, allow_security_options=sec.allow_security_options),
        only_presets=sec.only_presets,
        allow_security_options=sec.allow_security_options,
        defaults=ProcessingOptions(
            strip_metadata=fmt.strip_metadata,
            keep_copyright=fmt.keep_copyright,
            strip_color_profile=fmt.strip_color_profile,
        ),
        limits=limits(settings),
        qualities=encoder_config(fmt).qualities,
        prefer_avif=fmt.prefer_avif,
        prefer_webp=fmt.prefer_webp,
        render_timeout=settings.limits.render_timeout,
        threads=os.cpu_count() or 1,  # libvips' default concurrency (`configure_vips`)
    )


def http_source_config(s: SourceSettings) -> HttpSourceConfig:
    return HttpSourceConfig(
        allowed_prefixes=s.allowed_prefixes,
        allow_private_networks=s.allow_private_networks,
        connect_timeout=s.connect_timeout,
        download_timeout=s.download_timeout,
        max_redirects=s.max_redirects,
        user_agent=s.user_agent,
    )


def s3_source_config(s: SourceSettings) -> S3SourceConfig | None:
    """The `s3://` sources' configuration, None when no bucket is allowed; ValueError naming
    the settings otherwise. The S3 client (aiobotocore: about half a second to import) is
    imported only when S3 sources are on."""
    if not s.s3_buckets:
        return None
    from imgfleet.adapters.source.s3 import S3SourceConfig

    try:
        return S3SourceConfig(
            buckets=frozenset(s.s3_buckets),
            endpoint=s.s3_endpoint or None,
            region=s.s3_region or None,
            connect_timeout=s.connect_timeout,
            download_timeout=s.download_timeout,
        )
    except ValueError as error:
        names = (env_name("sources", name) for name in ("s3_buckets", "s3_endpoint"))
        raise ValueError(f"{' or '.join(names)}: {error}") from None


def admission_config(r: RenderSettings) -> AdmissionConfig:
    return AdmissionConfig(
        workers=r.pool_size,
        queue=r.queue_size,
        memory_budget=r.memory_budget or machine_memory() // 2,
        queue_timeout=r.queue_timeout,
        retry_after=r.retry_after,
    )


def machine_memory(cgroup_limit: Path = CGROUP_LIMIT) -> int:
    """Bytes of memory this process may use: the machine's, or its cgroup's limit if lower."""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = cgroup_limit.read_text().strip()
    except OSError:
        return physical
    return min(physical, int(limit)) if limit.isdigit() else physical


def assets_config(settings: Settings) -> AssetsConfig:
    region = settings.region
    return AssetsConfig(
        region=region.name,
        limits=limits(settings),
        regions=1 + len(region.peers),
        write_concern=region.write_concern,
        write_timeout=region.write_timeout,
    )


def relay_config(e: EventSettings) -> RelayConfig:
    return RelayConfig(
        interval=e.relay_interval, batch=100, retention=e.retention, max_backoff=30.0
    )


def blobs_url(s: StorageSettings) -> str:
    """The blob store's URL: the setting, or the embedded store under the data folder."""
    return s.blobs or f"file://{(s.data / 'blobs').resolve()}"


def metadata_url(s: StorageSettings) -> str:
    """The metadata store's URL: the setting, or SQLite in the data folder."""
    return s.metadata or f"sqlite://{(s.data / 'imgfleet.db').resolve()}"


def bus_url(settings: Settings) -> str:
    """The event bus's URL; a NATS one names this region's stream unless it says otherwise."""
    url = settings.events.bus
    if url.startswith("nats://") and "region=" not in url:
        url += ("&" if "?" in url else "?") + f"region={settings.region.name}"
    return url
