"""The session's budget for waiting out a slow host (`patience.HostWait`), on an injected sleep."""

from pytest_infperf.patience import HostWait


def test_waits_in_steps_until_the_budget_is_spent():
    slept: list[float] = []
    waits = HostWait(40.0, step_s=15.0, sleep=slept.append)
    assert [waits.pause() for _ in range(4)] == [15.0, 15.0, 10.0, 0.0]
    assert slept == [15.0, 15.0, 10.0]  # the last step is what was left; nothing once spent
    assert waits.spent_s == 40.0 and waits.left_s == 0.0 and waits.next_pause() == 0.0


def test_no_budget_never_sleeps():
    slept: list[float] = []
    waits = HostWait(0.0, sleep=slept.append)
    assert waits.next_pause() == 0.0 and waits.pause() == 0.0 and slept == []
