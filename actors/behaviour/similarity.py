"""Answer similarity to known sources (document 001: -20): answers found in an operator's corpus.

Text is compared as word shingles: every run of SHINGLE_WORDS consecutive words after folding
case, width and punctuation away, hashed to 64 bits (blake2b, stable across processes, so a state
restored from a snapshot compares the same). An answer matches a source when at least
`min_containment` of the answer's shingles occur in that one source, counted only for answers of
at least `min_words` words (short answers coincide by chance). A session shows the factor when at
least `min_answers` answers match.

The corpus is data: `build_corpus(named texts)`; which files make it is the edge's business. It
is passed to `fold`, like settings, so each answer is compared once, when it arrives, and the
state keeps only the best source and share per answer (never the shingles: a snapshot stays
small). Evidence: each matching answer's event, with the source's name and the share found in it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from typing import Annotated, Final

import msgspec

from actors.behaviour.findings import Factor, FactorConfig, Finding, Penalty, found
from actors.behaviour.observations import AnswerSeen

FACTOR = Factor(name="Answer similarity to known sources", check="SOURCE_SIMILARITY")
SHINGLE_WORDS: Final = 5
# Beyond this many shingles an answer is long enough to judge by its beginning.
MAX_SHINGLES: Final = 20_000
_WORD: Final = re.compile(r"\w+")


class SimilarityConfig(FactorConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # On: benchmarks/behaviour.py measured under 1% of honest candidates losing points to it.
    enabled: bool = True
    penalty: Penalty = 20
    min_words: Annotated[int, msgspec.Meta(ge=SHINGLE_WORDS)] = 30
    min_containment: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.5
    min_answers: Annotated[int, msgspec.Meta(ge=1)] = 1


class Corpus(msgspec.Struct, frozen=True, kw_only=True):
    sources: dict[str, frozenset[int]]  # source name -> its shingles


class AnswerMatch(msgspec.Struct, frozen=True, kw_only=True):
    offset: int
    words: int
    source: str | None  # the source holding the largest share of the answer's shingles
    share: float


class SimilarityState(msgspec.Struct, frozen=True, kw_only=True):
    answers: dict[str, AnswerMatch] = {}  # question -> its latest answer


def shingles(text: str) -> tuple[int, frozenset[int]]:
    """(word count, shingle hashes) of a text."""
    words = _WORD.findall(unicodedata.normalize("NFKC", text).casefold())
    hashed = set()
    for start in range(min(len(words) - SHINGLE_WORDS + 1, MAX_SHINGLES)):
        run = " ".join(words[start : start + SHINGLE_WORDS]).encode()
        hashed.add(int.from_bytes(hashlib.blake2b(run, digest_size=8).digest(), "big"))
    return len(words), frozenset(hashed)


def build_corpus(texts: Mapping[str, str]) -> Corpus:
    return Corpus(sources={name: shingles(text)[1] for name, text in texts.items()})


def fold(state: SimilarityState, seen: AnswerSeen, corpus: Corpus) -> SimilarityState:
    words, hashed = shingles(seen.text)
    source, share = _best_source(hashed, corpus) if hashed else (None, 0.0)
    answer = AnswerMatch(offset=seen.offset, words=words, source=source, share=share)
    return SimilarityState(answers={**state.answers, seen.questionId: answer})


def finding(state: SimilarityState, config: SimilarityConfig) -> Finding | None:
    matches = [
        (qid, answer)
        for qid, answer in state.answers.items()
        if answer.words >= config.min_words
        and answer.source is not None
        and answer.share >= config.min_containment
    ]
    if len(matches) < config.min_answers:
        return None
    named = "; ".join(f"{qid}: {a.share:.0%} of it in {a.source!r}" for qid, a in matches)
    return found(
        config,
        FACTOR,
        f"{len(matches)} answers of >= min_words={config.min_words} words with at least "
        f"min_containment={config.min_containment} found in one source ({named})",
        [answer.offset for _, answer in matches],
        question_ids=[qid for qid, _ in matches],
        measures={
            "matchingAnswers": float(len(matches)),
            "bestContainment": max(answer.share for _, answer in matches),
        },
    )


def _best_source(answer: frozenset[int], corpus: Corpus) -> tuple[str | None, float]:
    best: tuple[str | None, float] = (None, 0.0)
    for name in sorted(corpus.sources):
        share = len(answer & corpus.sources[name]) / len(answer)
        if share > best[1]:
            best = (name, share)
    return best
