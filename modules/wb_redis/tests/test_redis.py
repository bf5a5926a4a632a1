"""wb-redis against the real Redis: streams with acks after delivery, lists, pub/sub, refusals, reconnects."""

from __future__ import annotations

import json

import gevent
from wb_redis import RedisIn, RedisOut
from wishbone.ack import mark_abandoned
from wishbone.testing.harness import Harness


def events(n: int, start: int = 0) -> list[dict]:
    return [{"headers": {}, "data": {"i": i}} for i in range(start, start + n)]


def pending(client, key, group="wishbone") -> int:
    return client.xpending(key, group)["pending"]


def test_stream_out_then_in_acks_only_after_delivery(redis_url, client, key):
    with Harness(RedisOut, {"url": redis_url, "key": key}) as out, gevent.Timeout(15):
        out.feed(events(250))
        out.wait_consumed(250)
    assert client.xlen(key) == 250
    assert json.loads(client.xrange(key, count=1)[0][1][b"data"]) == {"i": 0}
    with Harness(RedisIn, {"url": redis_url, "key": key, "start": "0", "consumer": "c1"}) as h, gevent.Timeout(15):
        got = h.collect("outbox", 250)
        assert [e["data"]["i"] for e in got] == list(range(250))
        assert got[0]["headers"]["redis"]["key"] == key and "-" in got[0]["headers"]["redis"]["id"]
        gevent.sleep(0.5)
        assert pending(client, key) == 250, "nothing is acknowledged while the events are held"
        del got
        while pending(client, key):
            gevent.sleep(0.05)
        assert h.module.metrics()["acked"] == 250


def test_maxlen_trims_the_stream_and_field_names_the_entry_field(redis_url, client, key):
    with Harness(RedisOut, {"url": redis_url, "key": key, "maxlen": 10, "field": "body"}) as out, gevent.Timeout(15):
        out.feed(events(2000))
        out.wait_consumed(2000)
    # MAXLEN ~ trims whole nodes of the stream: about 10 entries are kept, never fewer.
    assert 10 <= client.xlen(key) < 1000
    [(_, fields)] = client.xrevrange(key, count=1)
    assert fields == {b"body": b'{"i":1999}'}


def test_what_was_not_acknowledged_comes_back_to_the_same_consumer(redis_url, client, key):
    client.xadd(key, {"data": b'"before"'})
    with Harness(RedisIn, {"url": redis_url, "key": key, "start": "0", "consumer": "c1"}, timeout=3) as h:
        with gevent.Timeout(10):
            got = h.collect("outbox", 1)
            mark_abandoned(got)  # a forced stop: never delivered
            del got
    assert pending(client, key) == 1
    with Harness(RedisIn, {"url": redis_url, "key": key, "consumer": "c1"}) as h, gevent.Timeout(10):
        [again] = h.collect("outbox", 1)
        assert again["data"] == "before" and h.module.metrics()["recovered"] == 1
        del again
        while pending(client, key):
            gevent.sleep(0.05)


def test_entries_a_dead_consumer_left_pending_are_claimed(redis_url, client, key):
    client.xgroup_create(key, "wishbone", id="0", mkstream=True)
    client.xadd(key, {"data": b"1"})
    client.xreadgroup("wishbone", "dead", {key: ">"})  # read by a consumer that then died
    variables = {"url": redis_url, "key": key, "consumer": "alive", "claim_idle": 0.1, "claim_interval": 0.2}
    gevent.sleep(0.2)
    with Harness(RedisIn, variables) as h, gevent.Timeout(10):
        [claimed] = h.collect("outbox", 1)
        assert claimed["data"] == 1 and h.module.metrics()["claimed"] == 1


def test_undecodable_data_goes_to_failed_and_is_acknowledged(redis_url, client, key):
    client.xgroup_create(key, "wishbone", id="0", mkstream=True)
    client.xadd(key, {"data": b"{not json"})
    client.xadd(key, {"data": b"[1]"})
    with Harness(RedisIn, {"url": redis_url, "key": key}) as h, gevent.Timeout(10):
        [bad] = h.collect("failed", 1)
        [good] = h.collect("outbox", 1)
        assert "not JSON" in bad["headers"]["error"]["message"] and good["data"] == [1]
        del bad, good
        while pending(client, key):
            gevent.sleep(0.05)


def test_list_mode_moves_through_a_processing_list(redis_url, client, key):
    client.rpush(key, *[json.dumps(i) for i in range(150)])
    variables = {"url": redis_url, "mode": "list", "key": key, "consumer": "c1"}
    with Harness(RedisIn, variables, timeout=3) as h, gevent.Timeout(15):
        got = h.collect("outbox", 150)
        assert sorted(e["data"] for e in got) == list(range(150))
        assert client.llen(f"{key}:processing:c1") == 150 and client.llen(key) == 0
        mark_abandoned(got[:10])
        del got
        while client.llen(f"{key}:processing:c1") > 10:
            gevent.sleep(0.05)
    with Harness(RedisIn, variables) as h, gevent.Timeout(15):  # the next run starts with those ten
        again = h.collect("outbox", 10)
        assert h.module.metrics()["recovered"] == 10 and len({e["data"] for e in again}) == 10
        del again
        while client.llen(f"{key}:processing:c1"):
            gevent.sleep(0.05)


def test_pubsub_in_and_publish_out(redis_url, key):
    with Harness(RedisIn, {"url": redis_url, "mode": "pubsub", "key": key}) as h, gevent.Timeout(10):
        gevent.sleep(0.3)  # subscribed
        with Harness(RedisOut, {"url": redis_url, "mode": "publish", "key": key}) as out:
            out.feed(events(5))
            out.wait_consumed(5)
        got = h.collect("outbox", 5)
    assert [e["data"]["i"] for e in got] == list(range(5)) and got[0]["headers"]["redis"]["channel"] == key


def test_lists_key_from_header_and_a_refused_command_to_failed(redis_url, client, key):
    client.set(f"{key}:string", "not a list")
    batch = [
        {"headers": {"to": f"{key}:a"}, "data": "x"},
        {"headers": {"to": f"{key}:string"}, "data": "y"},
        {"headers": {}, "data": "z"},
    ]
    with (
        Harness(RedisOut, {"url": redis_url, "mode": "rpush", "key": key, "key_header": "to"}) as h,
        gevent.Timeout(10),
    ):
        h.feed(batch)
        [failed] = h.collect("failed", 1)
        h.wait_consumed(3)
    assert "WRONGTYPE" in failed["headers"]["error"]["message"]
    assert client.lrange(f"{key}:a", 0, -1) == [b'"x"'] and client.lrange(key, 0, -1) == [b'"z"']


def test_connections_killed_by_the_server_are_reconnected_and_nothing_is_lost(redis_url, client, key):
    with Harness(RedisOut, {"url": redis_url, "key": key}) as out, gevent.Timeout(30):
        with Harness(RedisIn, {"url": redis_url, "key": key, "start": "0", "block": 0.2}) as h:
            for round_ in range(5):
                out.feed(events(100, round_ * 100))
                out.wait_consumed((round_ + 1) * 100)
                client.client_kill_filter(_type="normal", skipme=True)  # every other client
            got = h.collect("outbox", 500)
    assert sorted({e["data"]["i"] for e in got}) == list(range(500))


def test_the_field_is_found_in_any_place_and_null_field_gives_the_whole_entry(redis_url, client, key):
    client.xadd(key, {"data": b'{"i": 0}'})
    client.xadd(key, {"other": b"x", "data": b'{"i": 1}'})  # the field not first
    client.xadd(key, {"data": b"not json"})
    with Harness(RedisIn, {"url": redis_url, "key": key, "start": "0", "consumer": "c1"}) as h, gevent.Timeout(15):
        got = h.collect("outbox", 2)
        assert [e["data"] for e in got] == [{"i": 0}, {"i": 1}]
        [failed] = h.collect("failed", 1)
        assert failed["data"] == b"not json"
        del got, failed
        while pending(client, key):
            gevent.sleep(0.05)
        assert h.module.metrics()["decode_errors"] == 1
    with Harness(RedisIn, {"url": redis_url, "key": key, "group": "whole", "start": "0", "field": None}) as h:
        with gevent.Timeout(15):
            got = h.collect("outbox", 3)
            assert [e["data"] for e in got] == [
                {"data": '{"i": 0}'},
                {"other": "x", "data": '{"i": 1}'},
                {"data": "not json"},
            ]


def test_a_resp2_connection_reads_the_same(redis_url, client, key):
    url = redis_url + ("&" if "?" in redis_url else "?") + "protocol=2"  # the reply is a list, not a map
    for i in range(150):
        client.xadd(key, {"data": json.dumps({"i": i}).encode()})
    with Harness(RedisIn, {"url": url, "key": key, "start": "0"}) as h, gevent.Timeout(15):
        got = h.collect("outbox", 150)
        assert [e["data"]["i"] for e in got] == list(range(150))
        del got
        while pending(client, key):
            gevent.sleep(0.05)
