"""Behaviour evidence: document 001's extended risk factors that read how answers were produced.

One module per factor, each pure (no clock, no I/O): a typed state folded one observation at a
time (`fold(state, observation) -> state`) and `finding(state, config, ...) -> Finding | None`.
What a factor needs from outside (a corpus, CIDR lists, other sessions' answers) is passed in as
data; loading it is the edge's job. docs/behaviour.md defines each factor.
"""
