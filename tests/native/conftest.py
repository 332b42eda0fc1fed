"""The native transport's own tests run on asyncio (it is an asyncio protocol)."""

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
