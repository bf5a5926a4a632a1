"""Queues: the bound counts events, a closed queue refuses, a killed sender abandons."""

from __future__ import annotations

import time

import gevent
from wishbone.ack import track
from wishbone.queue import DestinationQueue, SourceQueue


def ev(i):
    return {"headers": {}, "data": i}


def test_the_bound_counts_events_not_batches():
    q = DestinationQueue("x.inbox", maxsize=50, when_full="drop")
    for i in range(1000):
        q.put_batch([ev(i)])  # a trickle input hands over one event at a time
    assert q.size == 50 and q.dropped == 950 and q.received == 50


def test_a_blocked_sender_waits_for_room():
    q = DestinationQueue("x.inbox", maxsize=10)
    sender = gevent.spawn(lambda: [q.put_batch([ev(i)]) for i in range(30)])
    gevent.sleep(0.01)
    assert q.size == 10 and not sender.dead
    taken = 0
    with gevent.Timeout(5):
        while taken < 30:
            taken += len(q.get_batch())
    sender.join(1)  # returns None whether or not the sender finished: ask it
    assert sender.successful()
    assert q.received == q.taken == 30


def test_a_closed_queue_refuses_and_its_consumer_ends():
    q = DestinationQueue("x.inbox")
    q.put_batch([ev(1)])
    q.close()
    settled = []
    q.put_batch([track(ev(2), lambda tag, ok: settled.append((tag, ok)), 2)])
    assert settled == [(2, None)]  # abandoned: its source may deliver it again
    assert q.dropped == 1
    assert q.get_batch()[0]["data"] == 1
    assert q.get_batch() is None


def test_a_sender_killed_while_blocked_abandons_what_it_held():
    source = SourceQueue("a.outbox")
    full = DestinationQueue("b.inbox", maxsize=1)
    other = DestinationQueue("c.inbox")
    source.routes += [full, other]
    full.put_batch([ev(0)])
    events = [track(ev(i), lambda tag, ok: None, i) for i in (1, 2)]
    sender = gevent.spawn(source.send, list(events))
    gevent.sleep(0.01)
    sender.kill()
    # never delivered: left for the source to deliver again, not acknowledged
    assert all(e.delivery.abandoned and not e.delivery.failed for e in events)
    assert source.sent == 0 and source.dropped == 4  # the batch and its copy
    assert full.size == 1 and other.size == 0


class Unpicklable:
    def __deepcopy__(self, memo):
        raise TypeError("cannot copy this")


def test_events_that_cannot_be_copied_for_1_n_are_dropped_and_the_rest_go_on():
    source = SourceQueue("a.outbox")
    b, c = DestinationQueue("b.inbox"), DestinationQueue("c.inbox")
    source.routes += [b, c]
    source.send([ev(1), {"headers": {}, "data": Unpicklable()}, ev(3)])
    assert [e["data"] for e in b.get_batch()] == [1, 3]
    assert [e["data"] for e in c.get_batch()] == [1, 3]
    assert source.dropped == 1 and source.sent == 2


def test_a_queue_waits_without_spinning():
    q = DestinationQueue("x.inbox")
    getter = gevent.spawn(q.get_batch)
    start = time.process_time()
    gevent.sleep(0.2)
    assert time.process_time() - start < 0.1
    q.put_batch([ev(1)])
    assert getter.get(timeout=1)[0]["data"] == 1
