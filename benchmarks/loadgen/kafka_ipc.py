"""What crosses process boundaries in `benchmarks/kafka.py`, beside `ipc`'s `control` array: the
topic, the layout of the shared `watch` array, and the consumer's and admin's `Ready` indexes."""

from __future__ import annotations

from typing import Final

TOPIC: Final = "assessment_activity"
# Layout of the shared `watch` array, shared with the consumer and the admin: they outlive the
# candidates, so they have stop flags of their own, and they report progress in it.
ADMIN_STOP: Final = 0
CONSUMER_STOP: Final = 1
CONSUMED: Final = 2
ADMIN_SEEN: Final = 3
WATCH_SIZE: Final = 4
# Their indexes in `Ready` messages (the candidate workers' are 0, 1, ...).
CONSUMER: Final = 1000
ADMIN: Final = 1001
