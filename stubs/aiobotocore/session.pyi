from types import TracebackType
from typing import Literal

from aiobotocore.client import AioBaseClient
from aiobotocore.config import AioConfig

class ClientCreatorContext:
    async def __aenter__(self) -> AioBaseClient: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None: ...

class AioSession:
    def __init__(self) -> None: ...
    def create_client(
        self,
        service_name: Literal["s3"],
        *,
        region_name: str | None = ...,
        endpoint_url: str | None = ...,
        config: AioConfig | None = ...,
    ) -> ClientCreatorContext: ...

def get_session() -> AioSession: ...
