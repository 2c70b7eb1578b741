"""The session actor's side of who is on camera: it owns the session's `Biometrics` (the
reference embedding and the enrolment candidates), judges each sighting against them, and says
what to store: the frame's `identity` entry, an `identity_enrolled` event, and the biometrics to
seal again. Episodes are not decided here: `actors/identity.py`'s `observe` and `due` do that
from the stored events, so a replay agrees.

The biometrics leave the actor only as `BiometricsEntry` bytes (msgpack), which storage seals
with the session's data key; they never enter an event, the snapshot, Kafka or a log.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from actors.identity import (
    Biometrics,
    IdentityRules,
    Judgement,
    Sighting,
    frame_data,
    judge,
    set_photo,
)

_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = msgspec.msgpack.Decoder(Biometrics)


def encode_biometrics(biometrics: Biometrics) -> bytes:
    return _ENCODER.encode(biometrics)


def decode_biometrics(stored: bytes | None) -> Biometrics:
    return Biometrics() if stored is None else _DECODER.decode(stored)


class Seen(msgspec.Struct, frozen=True, kw_only=True):
    """What one sighting asks the actor to do."""

    identity: dict[str, Any] | None  # the frame_analyzed data's `identity`, if it was judged
    enrolled: dict[str, Any] | None  # the data of an `identity_enrolled` to store after it
    save: bytes | None  # the biometrics to seal and store, when they changed
    suspect: bool  # not the reference person: check the camera's next frame at once


NOTHING_SEEN: Final = Seen(identity=None, enrolled=None, save=None, suspect=False)


class IdentityDesk:
    def __init__(self, rules: IdentityRules, stored: bytes | None) -> None:
        self.rules = rules
        self.biometrics = decode_biometrics(stored)

    def sighting(self, sighting: Sighting | None) -> Seen:
        if sighting is None or sighting.embedding is None:
            return NOTHING_SEEN
        before = list(self.biometrics.candidates)
        judgement: Judgement = judge(self.rules, self.biometrics, sighting)
        changed = judgement.enrolled is not None or self.biometrics.candidates != before
        return Seen(
            identity=frame_data(judgement),
            enrolled=None if judgement.enrolled is None else {"reference": judgement.enrolled},
            save=encode_biometrics(self.biometrics) if changed else None,
            suspect=judgement.match is False,
        )

    def photo(self, embedding: tuple[float, ...]) -> tuple[dict[str, Any], bytes]:
        """A reference photo: the `identity_enrolled` data and the biometrics to store."""
        set_photo(self.biometrics, embedding)
        return {"reference": "photo"}, encode_biometrics(self.biometrics)
