"""Rooms by name: `registry.handler("ledger", ...)`, `for_("ledger")`, `rt.room("ledger")`.

The string forms are the seed's; an unknown name is a `RoomNotFoundError`.
"""

from __future__ import annotations

import pytest

from durable_effect.effect import EffectGen, gen, run_promise
from durable_effect.sockets import RoomCtx, RoomNotFoundError

from .conftest import RuntimeFactory
from .rooms import ROOM, Credit, LedgerConn, LedgerSaid, LedgerState, Probe, lab_handlers, registry

LedgerCtx = RoomCtx[LedgerState, LedgerConn, Credit, LedgerSaid]


@gen
def credit(ctx: LedgerCtx, ev: Credit) -> EffectGen[None, object]:
    state = yield from ctx.recall()
    yield from ctx.save(LedgerState(balance=(state.balance if state else 0) + ev.amount))


@pytest.mark.anyio
async def test_handlers_given_by_room_name_run(make_runtime: RuntimeFactory) -> None:
    c = registry.for_("ledger")
    ledger = registry.handler("ledger", on_event=c.on_event(credit))
    rt = make_runtime(registry.build({"lab": lab_handlers(Probe()), "ledger": ledger}))

    await run_promise(rt.room("ledger").send(ROOM, Credit(amount=5)))
    assert await run_promise(rt.room("ledger").get_state(ROOM)) == LedgerState(balance=5)


def test_an_unknown_room_name_is_a_room_not_found_error() -> None:
    with pytest.raises(RoomNotFoundError, match="nowhere"):
        registry.handler("nowhere", on_event=credit)  # type: ignore[unknown-room]  # the run-time check of what mypy refuses
    with pytest.raises(RoomNotFoundError, match="nowhere"):
        registry.for_("nowhere")  # type: ignore[unknown-room]  # the run-time check of what mypy refuses
