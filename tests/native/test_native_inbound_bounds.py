"""The native transport's inbound bounds are options of `serve_native`."""

from __future__ import annotations

import pytest

from durable_effect.sockets.server import MemoryStorage, make_socket_server
from durable_effect.sockets.server.native import READ_SIZE, serve_native
from tests.server.server_rooms import config, upgrade_options
from tests.server.test_server_inbound_flood import flood, inbound_peak


@pytest.mark.anyio
@pytest.mark.parametrize(("max_messages", "max_bytes"), [(64, 1 << 20), (100_000, 32 << 10)])
async def test_the_native_inbound_bounds_are_options(max_messages: int, max_bytes: int) -> None:
    app = make_socket_server(config, storage=MemoryStorage(), upgrade_options=upgrade_options)
    async with serve_native(app, max_inbound_messages=max_messages, max_inbound_bytes=max_bytes) as native:
        frame_size = await flood(f"127.0.0.1:{native.port}")
        bound = min(max_messages, max_bytes // frame_size + 1) + READ_SIZE // frame_size + 1
        assert 0 < inbound_peak(app, "f") <= bound
