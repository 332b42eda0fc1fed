"""The self-hosted server suite runs on asyncio only (both transports need it),
once per transport: the native one and uvicorn's ASGI."""

from collections.abc import Iterator

import pytest

from . import server_helpers


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True, params=server_helpers.TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every server test runs on each transport (`serve` and `durable-effect serve` use it)."""
    server_helpers.transport = request.param
    yield request.param
    server_helpers.transport = "native"
