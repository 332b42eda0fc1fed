"""pytest configuration for the examples: async tests run on asyncio."""

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """`@pytest.mark.anyio` tests under examples/ run on asyncio."""
    return "asyncio"
