"""Once shutting down, the server takes no new WebSockets: a client that comes
back between the 1001 closes and the end of the process is refused with 503
(and retries), instead of being let in and then closed by the ASGI server's own
shutdown (uvicorn closes with 1012, which clients take as final)."""

from __future__ import annotations

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from .server_helpers import serve, wait_closed
from .server_rooms import build


@pytest.mark.anyio
async def test_upgrades_are_refused_with_503_once_shutting_down() -> None:
    server = build()
    async with serve(server) as addr:
        url = f"ws://{addr}/ws/notes/s1?name=ann&id=ann"
        async with connect(url) as ann:
            server.shutdown()
            assert await wait_closed(ann) == 1001
        with pytest.raises(InvalidStatus) as refused:
            await connect(url)
        assert refused.value.response.status_code == 503
