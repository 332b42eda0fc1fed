from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .devtools import chromium


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # uvicorn and the DevTools client run on asyncio


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[str]:
    """A headless Chromium for the test; its DevTools HTTP address."""
    async with chromium(tmp_path / "profile") as devtools:
        yield devtools
