"""What a behaviour factor found: the evidence a reviewer reads and the points it may cost."""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

# At most this many event offsets are named as evidence; the rest are counted in `measures`.
MAX_EVIDENCE: Final = 50

Penalty = Annotated[int, msgspec.Meta(ge=0, le=100)]


class FactorConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What every factor has: off until its false-flag rate is measured (issue 28, item 3)."""

    enabled: bool = False
    penalty: Penalty = 0


class Factor(msgspec.Struct, frozen=True, kw_only=True):
    """`name` is the riskFactors name its points are summed under, as document 001 spells the
    factor; `check` is its code, as violation types are spelled, for a ledger entry's `type` and
    for an accommodation's `disabledChecks`."""

    name: str
    check: str


class Finding(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """`factor` and `check` as in `Factor`; `points` is what it costs (negative),
    `counted` false while the factor is off, so the evidence is kept but costs nothing. `rule`
    names the criterion and its settings with this session's numbers in it."""

    factor: str
    check: str
    points: int
    counted: bool
    rule: str
    offsets: list[int]
    questionIds: list[str] = []
    otherSessionId: str | None = None
    measures: dict[str, float] = {}


def found(
    config: FactorConfig,
    factor: Factor,
    rule: str,
    offsets: list[int],
    *,
    question_ids: list[str] | None = None,
    other_session_id: str | None = None,
    measures: dict[str, float] | None = None,
) -> Finding:
    named = sorted(set(offsets))
    return Finding(
        factor=factor.name,
        check=factor.check,
        points=-config.penalty,
        counted=config.enabled and config.penalty > 0,
        rule=rule,
        offsets=named[:MAX_EVIDENCE],
        questionIds=sorted(set(question_ids or []))[:MAX_EVIDENCE],
        otherSessionId=other_session_id,
        measures={"evidenceEvents": float(len(named)), **(measures or {})},
    )
