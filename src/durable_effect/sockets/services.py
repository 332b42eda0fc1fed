"""The platform services (`Storage`, `Alarm`) bound to one room instance.

Every handler run gets them, so code written against the shared platform
services (the `task` package, a helper library) works inside rooms. They are
the instance core's (`durable_effect.platform.instance`): keys live in their
own namespace, apart from the state, and writes join the run's transaction.
"""

from durable_effect.platform.instance import USER_KEY_PREFIX, InstanceAlarm, InstanceStorage

__all__ = ["USER_KEY_PREFIX", "InstanceAlarm", "InstanceStorage"]
