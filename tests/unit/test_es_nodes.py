"""The node pool (observe/es_nodes.py) on a clock the test moves: round robin, rest and probe, sniff answers."""

from __future__ import annotations

import orjson
import pytest

from observe.es_nodes import NodePool, publish_url, sniffed_urls

A, B, C = "http://a:9200", "http://b:9200", "http://c:9200"


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def pool(*urls: str, initial: float = 1.0, maximum: float = 60.0) -> tuple[NodePool, Clock]:
    clock = Clock()
    return NodePool(urls or (A, B, C), initial=initial, maximum=maximum, clock=clock), clock


def urls_of(p: NodePool, n: int) -> list[str]:
    return [p.next().url for _ in range(n)]


def test_round_robin_over_live_nodes() -> None:
    p, _ = pool()
    assert urls_of(p, 7) == [A, B, C, A, B, C, A]
    assert [n.requests for n in p.nodes] == [3, 2, 2]


def test_a_trailing_slash_is_the_same_node() -> None:
    p = NodePool(["http://a:9200/", "http://a:9200"])
    assert p.urls() == [A]
    with pytest.raises(ValueError):
        NodePool([])


def test_a_dead_node_is_skipped_until_its_rest_ends() -> None:
    p, clock = pool()
    b = p.nodes[1]
    assert p.mark_dead(b, "connection") == 1.0
    assert not b.alive and b.failed == {"connection": 1}
    assert urls_of(p, 4) == [A, C, A, C]
    clock.now += 1.0
    assert p.usable(b)
    # The rest is over: B gets its turn again, and that request is the probe.
    assert urls_of(p, 3) == [A, B, C]
    assert not b.alive  # still dead until the probe succeeds
    p.mark_alive(b)
    assert b.alive and b.failures == 0
    assert urls_of(p, 3) == [A, B, C]


def test_one_probe_at_a_time() -> None:
    p, clock = pool(A, B)
    a = p.nodes[0]
    p.mark_dead(a, "timeout")
    clock.now += 1.0
    assert p.next() is a  # the probe
    # While the probe is out, the other requests go to B; A rests on until the probe's answer (or another rest).
    assert urls_of(p, 3) == [B, B, B]
    clock.now += 1.0
    assert p.next() is a  # no answer came back (a cancelled request): probed again after another rest


def test_the_rest_doubles_per_consecutive_failure_up_to_the_max() -> None:
    p, clock = pool(A, B, initial=1.0, maximum=5.0)
    a = p.nodes[0]
    rests = []
    for _ in range(5):
        rests.append(p.mark_dead(a, "connection"))
        assert a.dead_until == clock.now + rests[-1]
        clock.now += rests[-1]
    assert rests == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert a.failed == {"connection": 5}
    p.mark_alive(a)
    assert p.mark_dead(a, "timeout") == 1.0  # a success resets the count
    assert a.failed == {"connection": 5, "timeout": 1}


def test_a_probe_that_fails_rests_twice_as_long() -> None:
    p, clock = pool(A, B)
    a = p.nodes[0]
    p.mark_dead(a, "connection")
    clock.now += 1.0
    assert p.next() is a
    assert p.mark_dead(a, "connection") == 2.0
    assert urls_of(p, 2) == [B, B]


def test_all_dead_gives_the_node_whose_rest_ends_first() -> None:
    p, clock = pool(initial=1.0, maximum=60.0)
    a, b, c = p.nodes
    for node, times in ((a, 3), (b, 1), (c, 2)):  # rests: a 4 s, b 1 s, c 2 s
        for _ in range(times):
            p.mark_dead(node, "connection")
    assert not p.has_usable()
    assert p.next() is b  # never nothing, even with every node resting
    assert b.dead_until == 102.0  # handing it out pushed its rest on by one more rest
    assert p.next(exclude=[b]) is c
    clock.now += 10
    assert p.has_usable()


def test_exclude_skips_nodes_already_tried() -> None:
    p, _ = pool()
    a = p.nodes[0]
    assert p.next(exclude=[a]).url == B
    assert p.has_usable(exclude=p.nodes[:2])
    assert not p.has_usable(exclude=p.nodes)
    assert p.next(exclude=p.nodes).url in (A, B, C)  # all excluded: still an answer


def test_replace_keeps_known_nodes_and_ignores_an_empty_answer() -> None:
    p, _ = pool(A, B)
    b = p.nodes[1]
    p.mark_dead(b, "timeout")
    assert p.replace([]) is False and p.urls() == [A, B]
    assert p.replace([A, B]) is False
    assert p.replace([B, C]) is True
    assert p.urls() == [B, C]
    assert p.nodes[0] is b and not b.alive  # its rest and counters stay
    assert p.nodes[1].alive and p.nodes[1].requests == 0


@pytest.mark.parametrize(("address", "url"), [
    ("127.0.0.1:9201", "http://127.0.0.1:9201"),
    ("es-0.es-headless.default.svc/10.1.2.3:9200", "http://es-0.es-headless.default.svc:9200"),
    ("[::1]:9200", "http://[::1]:9200"),
    ("localhost/[::1]:9200", "http://localhost:9200"),
    ("127.0.0.1", None),
    ("", None),
])
def test_publish_addresses(address: str, url: str | None) -> None:
    assert publish_url(address, "http") == url


# Shaped like real answers of GET /_nodes/http?filter_path=nodes.*.http.publish_address,nodes.*.roles
ES_ANSWER = {"nodes": {
    "bX3H0H5HQ7G3eAFp9ZpoVw": {"roles": ["data", "ingest", "master"], "http": {"publish_address": "127.0.0.1:9201"}},
    "aL2sDkA2TD2PkbX9x2x2_g": {"roles": ["data_content", "data_hot", "ingest", "master", "ml", "transform"],
                               "http": {"publish_address": "es-1/10.0.0.2:9200"}},
    "cM8dUfO3R5aF3vDjE2uGhA": {"roles": ["master"], "http": {"publish_address": "10.0.0.9:9200"}},
    "dK1eBw4eSdO2CZoL6yLq0Q": {"roles": ["data"]},
}}
OPENSEARCH_ANSWER = {"_nodes": {"total": 2, "successful": 2, "failed": 0}, "cluster_name": "docker-cluster", "nodes": {
    "O5Bq2KyzTfGz4p9eHk0aTw": {"roles": ["cluster_manager", "data", "ingest", "remote_cluster_client"],
                               "http": {"bound_address": ["[::]:9200"], "publish_address": "172.18.0.2:9200",
                                        "max_content_length_in_bytes": 104857600}},
    "nP3x0c8kQyaO3J5lB4mLpQ": {"roles": ["cluster_manager"], "http": {"publish_address": "172.18.0.4:9200"}},
}}


def test_sniffed_urls_from_an_elasticsearch_answer() -> None:
    # Sorted by node id; the dedicated master and the node without HTTP are left out.
    assert sniffed_urls(orjson.dumps(ES_ANSWER), "https") == ["https://es-1:9200", "https://127.0.0.1:9201"]


def test_sniffed_urls_from_an_opensearch_answer() -> None:
    assert sniffed_urls(orjson.dumps(OPENSEARCH_ANSWER), "http") == ["http://172.18.0.2:9200"]


def test_a_sniff_answer_that_is_not_one_is_an_error() -> None:
    assert sniffed_urls(b'{"nodes": {}}', "http") == []
    for raw in (b"<html>", b"[]", b'{"error": "x"}'):
        with pytest.raises(ValueError):
            sniffed_urls(raw, "http")
