"""The behaviour factors' settings: one TOML table per factor under `[behaviour]`. A factor is on
by default only where benchmarks/behaviour.py showed under 1% of honest candidates lose points
to it (README, "Behaviour evidence"): all but typing."""

from __future__ import annotations

import msgspec

from actors.behaviour.answer_patterns import AnswerPatternsConfig
from actors.behaviour.bot_like import BotLikeConfig
from actors.behaviour.collaboration import CollaborationConfig
from actors.behaviour.exact_timing import ExactTimingConfig
from actors.behaviour.network import VpnProxyConfig
from actors.behaviour.similarity import SimilarityConfig
from actors.behaviour.typing_rhythm import TypingConfig


class BehaviourConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    bot_like: BotLikeConfig = BotLikeConfig()
    typing: TypingConfig = TypingConfig()
    exact_timing: ExactTimingConfig = ExactTimingConfig()
    answer_patterns: AnswerPatternsConfig = AnswerPatternsConfig()
    similarity: SimilarityConfig = SimilarityConfig()
    collaboration: CollaborationConfig = CollaborationConfig()
    vpn_proxy: VpnProxyConfig = VpnProxyConfig()
