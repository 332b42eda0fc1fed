"""The platform services (`Storage`, `Alarm`) bound to one room instance.

Every handler run gets them, so code written against the shared platform
services (a `task` package, a helper library) works inside rooms. Keys live
in their own namespace, apart from the room's state, and writes join the
run's transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from durable_effect.effect import Effect
from durable_effect.platform import Alarm, Storage

if TYPE_CHECKING:
    from durable_effect.sockets.engine import Instance

__all__ = ["InstanceAlarm", "InstanceStorage", "USER_KEY_PREFIX"]

USER_KEY_PREFIX = "kv:"


class InstanceStorage(Storage):
    __slots__ = ("_instance",)

    def __init__(self, instance: Instance) -> None:
        self._instance = instance

    def get(self, key: str) -> Effect[str | None]:
        return self._instance.load_key(USER_KEY_PREFIX + key)

    def put(self, key: str, value: str) -> Effect[None]:
        return self._instance.write_key(USER_KEY_PREFIX + key, value)

    def delete(self, key: str) -> Effect[None]:
        return self._instance.write_key(USER_KEY_PREFIX + key, None)


class InstanceAlarm(Alarm):
    __slots__ = ("_instance",)

    def __init__(self, instance: Instance) -> None:
        self._instance = instance

    def get(self) -> Effect[float | None]:
        return self._instance.next_alarm().or_die()

    def set(self, at_ms: float) -> Effect[None]:
        return self._instance.schedule_at(at_ms).or_die()

    def delete(self) -> Effect[None]:
        return self._instance.cancel_schedule().or_die()
