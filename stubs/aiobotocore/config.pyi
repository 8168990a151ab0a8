from collections.abc import Mapping

class AioConfig:
    def __init__(
        self,
        *,
        connect_timeout: float = ...,
        read_timeout: float = ...,
        retries: Mapping[str, str | int] = ...,
        s3: Mapping[str, str] = ...,
        max_pool_connections: int = ...,
    ) -> None: ...
