"""The self-hosted server suite runs on asyncio only: uvicorn needs it."""

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
