"""`[behaviour]`: the behaviour factors' tables (actors/behaviour/config.py) and the operator's
files they read (issue 28), loaded once at start-up; a bad file or line is an error naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import msgspec

from actors.behaviour import network, similarity
from actors.behaviour.config import BehaviourConfig
from actors.behaviour.evidence import OutsideData
from actors.behaviour_watch import BehaviourRules

# A corpus source bigger than this is a mistake (a disk image named by accident), not a text.
MAX_CORPUS_FILE_BYTES = 64 * 1024 * 1024


class BehaviourSettings(BehaviourConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # Texts answers are compared with (answer similarity): each file one source, named by it.
    corpus_files: list[str] = []
    # Files of addresses and CIDRs, one a line (`#` starts a comment): VPN and proxy ranges.
    vpn_cidr_files: list[str] = []
    # The operator's own proxies (addresses or CIDRs), whose forwarding headers are expected.
    trusted_proxies: list[str] = []
    # The IANA time zones candidates are expected in ("Europe/Berlin"); empty: not checked.
    region_time_zones: list[str] = []
    # Assessments whose submitted answer sheets the collaboration check keeps in memory
    # (app/sessions/cohort.py); the least recently used one is read again from storage.
    cohort_assessments: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 32

    def factors(self) -> BehaviourConfig:
        names = BehaviourConfig.__struct_fields__
        return BehaviourConfig(**{name: getattr(self, name) for name in names})


class BehaviourFileError(ValueError):
    """A file `[behaviour]` names cannot be used; the message names it and what is wrong."""


def load_rules(settings: BehaviourSettings) -> BehaviourRules:
    texts = {}
    for name in settings.corpus_files:
        path = Path(name)
        try:
            if path.stat().st_size > MAX_CORPUS_FILE_BYTES:
                raise BehaviourFileError(
                    f"[behaviour] corpus_files: {name} is over {MAX_CORPUS_FILE_BYTES} bytes; "
                    "name text files only"
                )
            texts[path.name] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BehaviourFileError(
                f"[behaviour] corpus_files: cannot read {name} as UTF-8 text ({exc})"
            ) from None
    cidrs = [entry for name in settings.vpn_cidr_files for entry in _cidr_lines(name)]
    lists = network.NetworkLists(
        vpn_cidrs=cidrs,
        trusted_proxies=settings.trusted_proxies,
        region_time_zones=settings.region_time_zones,
    )
    try:
        policy = network.policy(lists)
    except ValueError as exc:
        raise BehaviourFileError(f"[behaviour] {exc}") from None
    data = OutsideData(corpus=similarity.build_corpus(texts), network=policy)
    return BehaviourRules(config=settings.factors(), data=data)


def _cidr_lines(name: str) -> list[str]:
    try:
        lines = Path(name).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BehaviourFileError(
            f"[behaviour] vpn_cidr_files: cannot read {name} ({exc})"
        ) from None
    found = []
    for number, line in enumerate(lines, 1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        try:
            network.policy(network.NetworkLists(vpn_cidrs=[entry]))
        except ValueError:
            raise BehaviourFileError(
                f"[behaviour] vpn_cidr_files: {name} line {number}: expected an address or "
                f"CIDR such as 10.0.0.0/8, got {entry!r}; fix or remove that line"
            ) from None
        found.append(entry)
    return found
