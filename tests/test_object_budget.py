"""The object-check budget (app/vision/budget.py): past the vision pool's capacity, every camera
is due for objects on almost every frame; the budget keeps faces going by holding object checks
to a share of the workers' time while frames wait."""

from __future__ import annotations

import pytest

from app.vision.budget import ObjectBudget

FACES_MS, OBJECTS_MS = 9.6, 92.0  # measured per frame (RESULTS.md, 2026-11-23 00:55)


def overloaded_pool(budget: ObjectBudget, analyses: int) -> tuple[float, int]:
    """Every analysis has an object check due and frames waiting behind it: the share of worker
    time that went to objects, and how many analyses there were per second of worker time."""
    work = objects = 0.0
    for _ in range(analyses):
        if budget.allows(frames_waiting=5):
            budget.spent(FACES_MS + OBJECTS_MS, OBJECTS_MS)
            work, objects = work + FACES_MS + OBJECTS_MS, objects + OBJECTS_MS
        else:
            budget.spent(FACES_MS, 0.0)
            work += FACES_MS
    return objects / work, round(analyses / (work / 1000))


@pytest.mark.parametrize(("cap", "gain"), [(0.5, 4.0), (0.8, 1.8)])
def test_with_frames_waiting_objects_take_at_most_their_share(cap: float, gain: float) -> None:
    share, per_second = overloaded_pool(ObjectBudget(share=cap), 2000)
    assert share == pytest.approx(cap, abs=0.05)
    unlimited_share, unlimited_per_second = overloaded_pool(ObjectBudget(share=1.0), 2000)
    assert unlimited_share > 0.9
    assert per_second > gain * unlimited_per_second  # not ~10 analyses/s of worker time


def test_with_no_frame_waiting_every_due_check_runs() -> None:
    budget = ObjectBudget(share=0.1)
    for _ in range(100):
        assert budget.allows(frames_waiting=0)
        budget.spent(FACES_MS + OBJECTS_MS, OBJECTS_MS)
    assert budget.held == 0
    assert not budget.allows(frames_waiting=1)  # over its share, and a frame waits
    assert budget.held == 1
    two_workers = ObjectBudget(share=0.1, backlog=2, work_ms=100.0, object_ms=90.0)
    assert two_workers.allows(frames_waiting=1)  # a moment's queue is not overload
    assert not two_workers.allows(frames_waiting=2)
