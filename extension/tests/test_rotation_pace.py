"""The round of reconciliation's pace (incremental.paced_position): a cycle
after a gap checks at most CATCH_UP_PACE cycles' shares, the following
cycles catch up at that pace, and a steady schedule of any period is
never held back."""

from __future__ import annotations

import pytest
from trending_pl.incremental import CATCH_UP_PACE, paced_position

DAY = 24  # hours in the round


def run(schedule: list[float], round_hours: float = DAY) -> list[float]:
    """The positions a round reaches with cycles at these hours after its begin."""
    hour, rotation, last, positions = 1 / round_hours, None, 0.0, []
    for at in schedule:
        wall, step = min(1.0, at / round_hours), (at - last) / round_hours
        p = paced_position(wall, step, hour, rotation)
        rotation, last = ({"position": p, "step": step} if p < 1 else None), at
        positions.append(p)
        if p >= 1:
            break
    return positions


def test_hourly_cycles_follow_the_clock_and_the_24th_completes_the_round():
    positions = run([h for h in range(1, 30)])
    assert positions == [h / DAY for h in range(1, 24)] + [1.0]


@pytest.mark.parametrize("period", [3, 6, 0.25])
def test_a_steady_schedule_of_another_period_is_never_held_back_after_its_first_cycle(period):
    schedule = [period * k for k in range(1, int(DAY / period) + 2)]
    positions = run(schedule)
    assert positions[-1] == 1.0 and len(positions) == int(DAY / period)
    # the round's first cycle may take an hour's pace (CATCH_UP_PACE hours), the rest are on the clock
    assert all(p == pytest.approx(min(1, at / DAY)) for p, at in zip(positions[1:], schedule[1:]))


def test_a_six_hour_gap_checks_two_hours_then_catches_up_two_hours_a_cycle():
    schedule = [1, 2, 8] + list(range(9, 30))
    positions = run(schedule)
    share = [round((b - a) * DAY, 6) for a, b in zip([0.0] + positions, positions)]
    assert share[:3] == [1, 1, CATCH_UP_PACE]  # the gap's cycle: two hours' share, not six
    behind = [round(at - p * DAY, 6) for at, p in zip(schedule, positions)]
    assert behind[2] == 4 and behind[3:7] == [3, 2, 1, 0], behind  # caught up an hour a cycle
    # and the round still completes on time, at hour 24
    assert max(share) == CATCH_UP_PACE and positions[-1] == 1.0 and schedule[len(positions) - 1] == DAY


def test_a_gap_longer_than_the_round_leaves_the_round_late_not_one_cycle_checking_it_all():
    positions = run([30, 31, 32])
    assert positions == pytest.approx([2 / DAY, 4 / DAY, 6 / DAY])


def test_the_end_is_reached_despite_rounding():
    assert paced_position(1.0, 1 / DAY, 1 / DAY, {"position": 1 - 2 / DAY - 1e-12, "step": 1 / DAY}) == 1.0
