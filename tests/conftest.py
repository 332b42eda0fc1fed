"""Shared pytest configuration: async tests run on both anyio backends."""

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every `@pytest.mark.anyio` test runs once under asyncio and once under trio."""
    return str(request.param)
