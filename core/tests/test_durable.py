"""Durable queues: on disk before the sender is released, replayed after a restart, removed once
delivered, damage skipped and counted, a full disk holds the sender (real files, real threadpool)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import gevent
import pytest
from wishbone import Pipeline, durable
from wishbone.ack import track
from wishbone.durable import DurableQueue
from wishbone.testing import bootstrap


def events(start: int, n: int) -> list[dict]:
    return [{"headers": {"n": i}, "data": {"i": i, "b": b"\x00\xff"}} for i in range(start, start + n)]


def drain(queue: DurableQueue, timeout: float = 5.0) -> list[dict]:
    """Take every queued event (closing the queue first), released at once (delivered)."""
    got = []
    queue.close()
    with gevent.Timeout(timeout):
        while (batch := queue.get_batch()) is not None:
            got.extend({"headers": e["headers"], "data": e["data"]} for e in batch)
            del batch
    return got


def test_what_was_not_delivered_is_replayed_in_order_after_a_restart(tmp_path):
    q = DurableQueue("a.inbox", str(tmp_path))
    for start in range(0, 1000, 100):
        q.put_batch(events(start, 100))
    assert q.metrics()["size"] == 1000 and q.bytes > 0
    q.shutdown()  # a crash would leave the same files: nothing was settled
    again = DurableQueue("a.inbox", str(tmp_path))
    assert again.replayed == 1000 and again.damaged == 0
    assert drain(again) == events(0, 1000)


def test_a_crash_leaves_the_zeros_ahead_of_the_records_and_the_next_start_reads_them_as_the_end(tmp_path):
    q = DurableQueue("a.inbox", str(tmp_path))
    for start in range(0, 1000, 100):
        q.put_batch(events(start, 100))
    [segment] = (tmp_path / "a.inbox" / "worker-0").glob("*.seg")
    data = segment.read_bytes()
    assert len(data) > q._write_pos and not data[q._write_pos :].strip(b"\0")  # no shutdown: as at a kill -9
    again = DurableQueue("a.inbox", str(tmp_path))
    assert (again.replayed, again.damaged) == (1000, 0)
    assert drain(again) == events(0, 1000)


def test_a_record_cut_short_before_the_zeros_is_counted_as_damage(tmp_path):
    q = DurableQueue("a.inbox", str(tmp_path))
    for start in range(0, 300, 100):
        q.put_batch(events(start, 100))
    [segment] = (tmp_path / "a.inbox" / "worker-0").glob("*.seg")
    data = bytearray(segment.read_bytes())
    cut = q._write_pos - 10
    data[cut : q._write_pos] = bytes(10)  # the last record's tail never reached the disk
    segment.write_bytes(bytes(data))
    again = DurableQueue("a.inbox", str(tmp_path))
    assert (again.replayed, again.damaged) == (200, 1)
    assert drain(again) == events(0, 200)


@pytest.mark.timeout(20)
def test_a_consumer_waits_while_a_sender_saves_the_cursor(tmp_path):
    """A sender held by a full disk saves the cursor; a consumer finding the queue empty meanwhile
    must wait for the next batch, not spin on the save it cannot make (the hub would hang)."""
    q = DurableQueue("a.inbox", str(tmp_path))
    q.put_batch(events(0, 10))
    held = q.get_batch()  # in flight: unsettled, so the consumer wants the cursor saved
    q._saving, q._last_ack_write = True, 0.0  # as while the sender's save waits for the threadpool
    consumer = gevent.spawn(q.get_batch)
    gevent.sleep(0.1)  # a spinning consumer would never give the hub back
    q.put_batch(events(10, 5))
    assert [e["headers"]["n"] for e in consumer.get(timeout=5)] == list(range(10, 15))
    del held


@pytest.mark.timeout(30)
def test_concurrent_senders_share_writes_and_syncs_and_come_back_in_order_of_release(tmp_path):
    """Group commit: batches that arrive while a write is in flight join the next write (one
    pwrite, one fdatasync); each sender goes on once the write holding its batch is done."""
    q = DurableQueue("a.inbox", str(tmp_path), segment_bytes=64 << 10)
    released = []

    def sender(first: int) -> None:
        for start in range(first, first + 4000, 100):
            q.put_batch(events(start, 100))
            released.append(start)  # before yielding: the order senders were released in

    with gevent.Timeout(20):
        gevent.joinall([gevent.spawn(sender, first) for first in range(0, 32_000, 4000)], raise_error=True)
    m = q.metrics()
    assert len(released) == 320 and m["in"] == 32_000
    assert m["syncs"] == m["writes"] < 320 / 2, m  # most writes, and their one sync, served several batches
    assert m["segments"] > 2  # rolled on the way
    q.shutdown()
    again = DurableQueue("a.inbox", str(tmp_path))
    assert (again.replayed, again.damaged) == (32_000, 0)
    assert drain(again) == [e for start in released for e in events(start, 100)]


def test_a_sender_killed_while_its_batch_waits_for_a_write_is_left_out(tmp_path):
    q = DurableQueue("a.inbox", str(tmp_path))
    first = gevent.spawn(q.put_batch, events(0, 10))  # its write is in flight
    waiting = gevent.spawn(q.put_batch, events(10, 10))  # joins the next write
    gevent.sleep(0)
    waiting.kill()
    with gevent.Timeout(5):
        first.join()
        assert first.successful() and waiting.dead
        q.put_batch(events(20, 10))
    assert q.metrics()["in"] == 20 and q.writes == 2  # the killed sender's batch was never written
    q.shutdown()
    assert drain(DurableQueue("a.inbox", str(tmp_path))) == events(0, 10) + events(20, 10)


def test_the_writer_thread_ends_when_idle_and_starts_again_with_the_next_write(tmp_path, monkeypatch):
    monkeypatch.setattr(durable, "_WRITER_IDLE", 0.05)
    q = DurableQueue("a.inbox", str(tmp_path))
    q.put_batch(events(0, 10))
    assert q._writer._running
    with gevent.Timeout(5):
        while q._writer._running:  # an idle queue has no thread
            gevent.sleep(0.02)
    q.put_batch(events(10, 10))
    q.shutdown()
    assert drain(DurableQueue("a.inbox", str(tmp_path))) == events(0, 20)


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts OS threads in /proc/self/task (Linux)")
def test_the_writer_is_an_os_thread_even_in_a_monkey_patched_program(tmp_path):
    """An embedding program may patch threads into greenlets: the writes must still leave the hub."""
    script = textwrap.dedent(
        f"""
        import gevent.monkey
        gevent.monkey.patch_all()
        import os
        from wishbone.durable import DurableQueue
        q = DurableQueue("a.inbox", {str(tmp_path)!r})  # its recovery scan starts gevent's threadpool
        before = len(os.listdir("/proc/self/task"))
        q.put_batch([{{"headers": {{}}, "data": i}} for i in range(10)])
        print(before, len(os.listdir("/proc/self/task")))
        q.shutdown()
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    before, after = map(int, out.stdout.split())
    assert after == before + 1, out.stdout  # the writer thread, a real one


def test_delivered_records_leave_the_disk_and_are_not_replayed(tmp_path):
    q = DurableQueue("a.inbox", str(tmp_path), segment_bytes=4096)
    for start in range(0, 2000, 100):
        q.put_batch(events(start, 100))
    segments = len(q._segment_sizes)
    assert segments > 3
    first = q.get_batch()
    del first  # delivered: settles 100 records
    kept = q.get_batch()  # in flight: not settled at the "crash"
    q.shutdown()
    again = DurableQueue("a.inbox", str(tmp_path))
    assert again.replayed == 1900
    assert drain(again)[:100] == events(100, 100)
    del kept
    again.shutdown()
    assert DurableQueue("a.inbox", str(tmp_path)).replayed == 0
    assert len(os.listdir(again.directory)) <= 3  # the cursor, the last segment, a new empty one


def test_abandoned_events_stay_for_the_next_start(tmp_path):
    q = DurableQueue("a.inbox", str(tmp_path))
    q.put_batch(events(0, 10))
    batch = q.get_batch()
    for e in batch:
        e.delivery.abandoned = True
    del batch, e
    q.shutdown()
    assert drain(DurableQueue("a.inbox", str(tmp_path))) == events(0, 10)


def test_an_upstream_delivery_settles_once_the_event_is_on_disk(tmp_path):
    settled = []
    q = DurableQueue("a.inbox", str(tmp_path))
    batch = [track(e, lambda tag, ok: settled.append(ok), e["data"]["i"]) for e in events(0, 5)]
    q.put_batch(batch)
    del batch
    assert settled == [True] * 5  # the sender is released: on disk counts as delivered


def test_damaged_records_and_a_cut_tail_are_skipped_and_counted(tmp_path):
    q = DurableQueue("a.inbox", str(tmp_path))
    for start in range(0, 300, 100):
        q.put_batch(events(start, 100))
    q.shutdown()
    [path] = [p for p in (tmp_path / "a.inbox" / "worker-0").glob("*.seg") if p.stat().st_size]
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 40] = b"garbage!" * 5  # overwritten with garbage
    path.write_bytes(bytes(data[:-7]))  # and the tail cut mid-record (a crash mid-write)
    again = DurableQueue("a.inbox", str(tmp_path))
    assert again.damaged >= 1
    got = drain(again)
    assert got == events(0, 100)  # one record a batch: the garbled batch and the cut one are skipped
    assert [e["headers"]["n"] for e in got] == sorted(e["headers"]["n"] for e in got)  # order kept
    again.shutdown()
    goes_on = DurableQueue("a.inbox", str(tmp_path))  # and the queue goes on
    goes_on.put_batch(events(300, 10))
    goes_on.shutdown()
    assert drain(DurableQueue("a.inbox", str(tmp_path))) == events(300, 10)


def test_full_disk_blocks_the_sender_until_deliveries_free_room(tmp_path):
    q = DurableQueue("a.inbox", str(tmp_path), max_bytes=30_000, segment_bytes=5_000)
    sent = []

    def sender():
        for start in range(0, 10_000, 100):
            q.put_batch(events(start, 100))
            sent.append(start)

    g = gevent.spawn(sender)
    gevent.sleep(0.3)
    assert not g.dead, "the sender should be held while the disk is full"
    assert q.bytes <= 30_000
    taken = 0
    with gevent.Timeout(20):
        while taken < 10_000:
            batch = q.get_batch()
            taken += len(batch)
            del batch
    g.join(5)
    assert g.dead and len(sent) == 100
    assert q.metrics()["dropped"] == 0


class Watched(DurableQueue):
    """A durable queue that keeps the most bytes it ever held on disk (looked at after every write)."""

    peak = 0

    def _account(self, *args) -> None:
        super()._account(*args)
        self.peak = max(self.peak, self.bytes)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("segment_bytes", [5_000, 15_000])  # 15,000: a roll needs half of max_bytes at once
def test_full_disk_holds_several_senders_and_lets_every_batch_in_once_room_is_freed(tmp_path, segment_bytes):
    q = Watched("a.inbox", str(tmp_path), max_bytes=30_000, segment_bytes=segment_bytes)
    released = []

    def sender(first: int) -> None:
        for start in range(first, first + 2500, 100):
            q.put_batch(events(start, 100))
            released.append(start)

    senders = [gevent.spawn(sender, first) for first in range(0, 10_000, 2500)]
    gevent.sleep(0.3)
    assert not any(g.dead for g in senders), "the senders should be held while the disk is full"
    assert q.peak <= 30_000
    got = []
    with gevent.Timeout(20):
        while len(got) < 10_000:
            batch = q.get_batch()
            got.extend(e["headers"]["n"] for e in batch)
            del batch
    gevent.joinall(senders, timeout=5, raise_error=True)
    assert got == [n for start in released for n in range(start, start + 100)]  # in order of release
    assert q.metrics()["dropped"] == 0 and q.syncs < 100


def test_full_disk_in_drop_mode_counts_what_it_drops(tmp_path):
    q = DurableQueue("a.inbox", str(tmp_path), max_bytes=20_000, segment_bytes=5_000, when_full="drop")
    for start in range(0, 5000, 100):
        q.put_batch(events(start, 100))
    m = q.metrics()
    assert m["dropped"] > 0 and m["in"] + m["dropped"] == 5000 and q.bytes <= 20_000


@pytest.mark.parametrize("segment_bytes", [5_000, 10_000])
def test_full_disk_in_drop_mode_with_several_senders_counts_every_event_once(tmp_path, segment_bytes):
    q = Watched("a.inbox", str(tmp_path), max_bytes=20_000, segment_bytes=segment_bytes, when_full="drop")

    def sender(first: int) -> None:
        for start in range(first, first + 2500, 100):
            q.put_batch(events(start, 100))

    with gevent.Timeout(20):
        gevent.joinall([gevent.spawn(sender, first) for first in range(0, 10_000, 2500)], raise_error=True)
    m = q.metrics()
    assert m["dropped"] > 0 and m["in"] + m["dropped"] == 10_000 and q.peak <= 20_000
    assert m["in"] == m["size"] == len(drain(q))


@pytest.mark.parametrize("senders", [1, 4])
def test_a_file_system_refusing_writes_holds_the_sender_and_corrupts_nothing(tmp_path, senders):
    """RLIMIT_FSIZE makes every write past the limit fail (EFBIG), as a full disk does; with
    several senders the refused write held several batches, and each is held and written later."""
    script = textwrap.dedent(
        f"""
        import resource, signal, gevent
        from wishbone.durable import DurableQueue
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        q = DurableQueue("a.inbox", {str(tmp_path)!r})
        ev = [{{"headers": {{}}, "data": "x" * 200}} for _ in range(100)]
        resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, resource.RLIM_INFINITY))
        done = []
        def sender(n):
            for _ in range(n):
                q.put_batch(list(ev))
                done.append(1)
        gs = [gevent.spawn(sender, 10 // {senders}) for _ in range({senders})]
        gevent.sleep(0.5)
        held = len(done)
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        gevent.joinall(gs, timeout=10)
        q.shutdown()
        again = DurableQueue("a.inbox", {str(tmp_path)!r})
        print(held, len(done), again.replayed, again.damaged)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    held, done, replayed, damaged = map(int, out.stdout.split())
    total = 10 // senders * senders
    assert held < total, "the sender went on although writes failed"
    assert (done, replayed, damaged) == (total, total * 100, 0)


def test_a_durable_inbox_in_a_pipeline_delivers_everything(tmp_path):
    durable = {"inbox": {"durable": True, "path": str(tmp_path), "max_bytes": 50_000_000}}
    p = Pipeline.from_dict(
        bootstrap(
            {
                "input": ("testevent", {"interval": 0, "count": 20_000}),
                "pass": ("passthrough", {}, durable),
                "out": "null",
            },
            {"input.outbox": ["pass.inbox"], "pass.outbox": ["out.inbox"]},
        )
    )
    with gevent.Timeout(30):
        p.start()
        assert p.wait(20)
        assert p.stop(10)
    assert p.modules["out"].consumed == 20_000
    queue = p.snapshot()["queues"]["pass.inbox"]
    assert queue["in"] == queue["out"] == 20_000 and queue["dropped"] == 0
    assert DurableQueue("pass.inbox", str(tmp_path)).replayed == 0


def test_several_inputs_into_one_durable_inbox_share_its_syncs(tmp_path):
    durable = {"inbox": {"durable": True, "path": str(tmp_path)}}
    inputs = {f"in{i}": ("testevent", {"interval": 0, "count": 5_000}) for i in range(4)}
    p = Pipeline.from_dict(
        bootstrap(
            {**inputs, "pass": ("passthrough", {}, durable), "out": "null"},
            {**{f"in{i}.outbox": ["pass.inbox"] for i in range(4)}, "pass.outbox": ["out.inbox"]},
        )
    )
    with gevent.Timeout(30):
        p.start()
        assert p.wait(20)
        assert p.stop(10)
    queue = p.snapshot()["queues"]["pass.inbox"]
    assert p.modules["out"].consumed == queue["in"] == 20_000
    assert queue["syncs"] == queue["writes"] < 20_000 / 100, queue  # batches shared writes and syncs


def test_events_msgpack_cannot_store_are_dropped_and_counted_and_the_rest_kept(tmp_path):
    q = DurableQueue("a.inbox", str(tmp_path))
    batch = events(0, 3)
    batch[1] = {"headers": {}, "data": object()}
    q.put_batch(batch)
    assert (q.metrics()["dropped"], q.metrics()["in"]) == (1, 2)
    q.shutdown()
    assert drain(DurableQueue("a.inbox", str(tmp_path))) == [events(0, 3)[0], events(0, 3)[2]]


def test_bad_fsync_policy_is_refused(tmp_path):
    with pytest.raises(ValueError, match="fsync must be one of"):
        DurableQueue("a.inbox", str(tmp_path), fsync="sometimes")
