from typing import Any

class Session:
    def create_client(self, service_name: str, **kwargs: Any) -> Any: ...
