"""How much of the vision workers' time object checks may take while frames wait.

An object check costs about ten face-only frames (83-92 ms against 8.5-16 ms). Past the pool's
capacity, cameras whose frames are skipped are due for objects on almost every frame that gets
through, so the pool spends itself on objects and analyses ever fewer frames (RESULTS.md,
2026-11-23 00:55: 46.9 frames/s at 160 cameras, 35.7 at 250). While frames wait (at least
`backlog` of them: a moment's queue is not overload), object checks are therefore held to
`share` of the workers' recent time; faces take the rest, and the object interval stretches
instead. On schedule (one check per four frames), objects take about 60% of the work with
today's detectors (4 x 7.2 ms of faces against 44 ms of objects with the cheapest setup; 4 x 12
against 64 with the defaults). The default share, 0.7, leaves that schedule alone on a box that
is merely busy and caps objects only past capacity; at 0.6 a busy box at 250 cameras held
checks and stretched the worst camera's interval to 12.5-15 s (RESULTS.md, 2026-11-23 06:49).
Otherwise every due check runs."""

from __future__ import annotations

from dataclasses import dataclass

# Each verdict's weight in the moving sums: about the last 50 analyses count.
_DECAY = 0.98


@dataclass(slots=True)
class ObjectBudget:
    share: float  # of worker time object checks may take while frames wait (1: no limit)
    backlog: int = 1  # frames waiting that count as overload (the number of workers)
    work_ms: float = 0.0  # decayed sum of worker time, all analyses
    object_ms: float = 0.0  # decayed sum of the part spent looking for objects
    held: int = 0  # object checks put off because frames were waiting

    def allows(self, *, frames_waiting: int) -> bool:
        """Whether a due object check may run now; counts the ones it puts off."""
        if frames_waiting < self.backlog or self.share >= 1.0 or self.work_ms == 0.0:
            return True
        if self.object_ms / self.work_ms < self.share:
            return True
        self.held += 1
        return False

    def spent(self, total_ms: float, objects_ms: float) -> None:
        """One analysis's worker time, and how much of it went to objects."""
        self.work_ms = self.work_ms * _DECAY + total_ms
        self.object_ms = self.object_ms * _DECAY + objects_ms
