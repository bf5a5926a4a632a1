"""wishbone.reconnect: backoff with jitter and a maximum, a pause a stop cuts short, a deadline."""

from __future__ import annotations

import time

import gevent
import pytest
from wishbone.reconnect import Backoff, Reconnect


def test_backoff_grows_by_its_factor_up_to_the_maximum_and_resets():
    backoff = Backoff(0.5, 3.0, factor=2.0, jitter=0.0)
    assert [backoff.next() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.next() == 0.5


def test_jitter_draws_each_delay_below_its_nominal_value_never_above():
    low = Backoff(1.0, 8.0, jitter=0.25, random=lambda: 0.999999)
    high = Backoff(1.0, 8.0, jitter=0.25, random=lambda: 0.0)
    assert [round(low.next(), 3) for _ in range(5)] == [0.75, 1.5, 3.0, 6.0, 6.0]
    assert [high.next() for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]


def test_jitter_spreads_the_delays_of_many_clients():
    delays = [Backoff(2.0, 2.0, jitter=0.5).next() for _ in range(200)]
    assert all(1.0 <= d <= 2.0 for d in delays)
    assert len({round(d, 3) for d in delays}) > 50, "two hundred clients would come back in the same instant"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((0, 1), "more than 0"),
        ((2, 1), "shorter than the first"),
        ((1, 2, 0.5), "factor"),
        ((1, 2, 2, 1.0), "jitter"),
    ],
)
def test_nonsense_settings_are_refused_with_a_reason(args, words):
    with pytest.raises(ValueError, match=words):
        Backoff(*args)


def test_run_retries_failed_attempts_serves_and_reconnects_after_a_loss():
    log = []
    outcomes = iter([OSError("refused"), OSError("refused"), "conn-1", "conn-2"])

    def connect():
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    served = iter([False, True])  # conn-1 is lost, conn-2 ends on purpose

    def serve(connection):
        log.append(("serve", connection))
        return next(served)

    reconnect = Reconnect(0.01, 0.04, jitter=0.0)
    with gevent.Timeout(5):
        reconnect.run(
            connect,
            serve,
            errors=(OSError,),
            on_error=lambda exc, delay: log.append(("error", str(exc), delay)),
            on_lost=lambda conn, delay: log.append(("lost", conn, delay)),
        )
    assert log == [
        ("error", "refused", 0.01),
        ("error", "refused", 0.02),
        ("serve", "conn-1"),
        ("lost", "conn-1", 0.01),  # a connection was made in between: the backoff started again
        ("serve", "conn-2"),
    ]
    assert (reconnect.attempts, reconnect.failures, reconnect.lost) == (4, 2, 1)


def test_an_error_it_was_not_told_about_propagates():
    def connect():
        raise KeyError("a bug, not a connection problem")

    with pytest.raises(KeyError), gevent.Timeout(5):
        Reconnect(0.01, 0.01).run(connect, lambda c: True, errors=(OSError,))


def _never_connects():
    raise OSError("connection refused")


def test_a_stop_cuts_a_long_pause_short():
    reconnect = Reconnect(30.0, 30.0)
    runner = gevent.spawn(reconnect.run, _never_connects, lambda c: True, errors=(OSError,))
    gevent.sleep(0.05)
    assert reconnect.failures == 1 and not runner.dead  # in its 30 s pause
    started = time.monotonic()
    reconnect.stop()
    runner.join(2)
    assert runner.dead and runner.successful()
    assert time.monotonic() - started < 0.5
    assert reconnect.failures == 1, "no attempt after the stop"


def test_after_a_stop_with_a_deadline_it_keeps_trying_while_needed_then_gives_up_at_the_deadline():
    reconnect = Reconnect(0.02, 0.02, jitter=0.0)
    runner = gevent.spawn(reconnect.run, _never_connects, lambda c: True, errors=(OSError,), needed=lambda: True)
    gevent.sleep(0.05)
    started = time.monotonic()
    reconnect.stop(deadline=started + 0.3)
    runner.join(3)
    took = time.monotonic() - started
    assert runner.dead and runner.successful()
    assert 0.25 <= took < 1.0, took
    assert reconnect.failures >= 10, "it stopped trying before the deadline"


def test_after_a_stop_with_a_deadline_nothing_is_tried_when_nothing_needs_it():
    reconnect = Reconnect(30.0, 30.0)
    runner = gevent.spawn(reconnect.run, _never_connects, lambda c: True, errors=(OSError,), needed=lambda: False)
    gevent.sleep(0.05)
    started = time.monotonic()
    reconnect.stop(deadline=started + 10)
    runner.join(2)
    assert runner.dead and runner.successful()
    assert time.monotonic() - started < 0.5
    assert reconnect.failures == 1


def test_stopped_before_it_started_it_never_connects():
    reconnect = Reconnect()
    reconnect.stop()
    calls = []
    with gevent.Timeout(2):
        reconnect.run(lambda: calls.append(1), lambda c: True)
    assert calls == []


def test_pause_reports_whether_to_go_on():
    reconnect = Reconnect()
    with gevent.Timeout(2):
        assert reconnect.pause(0.01) is True
        reconnect.stop()
        assert reconnect.pause(10) is False
