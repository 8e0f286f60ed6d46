"""Encoding: the CRI fast path and the general path give the same bytes; flags; deterministic ids."""

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from observe.logs.decode import CriDecoder
from observe.logs.encode import Encoder, action_id, source_of
from observe.logs.event import FLAG_TRUNCATED, Event
from observe.logs.fastpath import ship_cri
from observe.logs.plan import path_plan
from observe.merge import deep_merge

NOW = b"2030-01-01T00:00:00.000000Z"
PATH = "/var/log/pods/ns1_web-0_u-1/app/0.log"


def encoder() -> Encoder:
    ctx = path_plan(PATH, PATH, host_name="node-a", node_name="node-a", fmt="cri")
    return Encoder(ctx, "abc123", "logs-x-default")


def test_fast_and_general_paths_agree() -> None:
    lines = [b'2024-01-01T00:00:00.5Z stdout F he said "hi" \\ 100%', b"2024-01-01T00:00:01Z stderr F \xff bad",
             b"2024-01-01T00:00:02Z stdout P a", b"2024-01-01T00:00:03Z stdout F b", b"junk line %s"]
    fast: list[bytes] = []
    ship_cri(lines, 7, NOW, CriDecoder(1024), encoder(), fast)
    records: list[Event] = []
    CriDecoder(1024).decode(lines, 7, NOW, records)
    slow: list[bytes] = []
    encoder().encode(records, slow)
    assert fast == slow
    assert len(fast) == 4
    for item in fast:
        orjson.loads(source_of(item))


def test_document_shape() -> None:
    out: list[bytes] = []
    enc = encoder()
    enc.encode([(16, b"2024-01-01T00:00:00Z", b"stdout", b"m", FLAG_TRUNCATED, None)], out)
    action = orjson.loads(out[0].split(b"\n")[0])
    assert action == {"create": {"_index": "logs-x-default", "_id": "abc123-10"}}
    assert action_id(out[0]) == "abc123-10"
    doc = orjson.loads(source_of(out[0]))
    assert doc == {
        "@timestamp": "2024-01-01T00:00:00Z", "message": "m",
        "log": {"offset": 16, "iostream": "stdout", "flags": ["truncated"], "file": {"path": PATH}},
        "container": {"name": "app"},
        "kubernetes": {"namespace": "ns1", "pod": {"name": "web-0", "uid": "u-1"}, "node": {"name": "node-a"},
                       "container": {"restart_count": 0}},
        "host": {"name": "node-a"},
    }
    assert enc.flagged == {"truncated": 1}


def test_restart_count_is_the_kubelets_file_name_rotated_or_not() -> None:
    for name, count in (("0.log", 0), ("3.log", 3), ("12.log.20261203-101500", 12)):
        path = f"/var/log/pods/ns1_web-0_u-1/app/{name}"
        plan = path_plan(path, path, host_name="h", node_name=None, fmt="cri")
        assert plan.fields["kubernetes"]["container"] == {"restart_count": count}, name
    plain = path_plan("/var/log/app/server.log", "/var/log/app/server.log", host_name="h", node_name=None, fmt="cri")
    assert "kubernetes" not in plain.fields


def test_processor_fields_are_merged() -> None:
    out: list[bytes] = []
    encoder().encode([(0, b"2024-01-01T00:00:00Z", b"stdout", b"m", 0, {"log": {"level": "error"}, "message": "x"})], out)
    doc = orjson.loads(source_of(out[0]))
    assert doc["log"] == {"offset": 0, "iostream": "stdout", "file": {"path": PATH}, "level": "error"}
    assert doc["message"] == "x"


def test_percent_in_path_and_index_is_safe() -> None:
    ctx = path_plan("/tmp/a%d.log", "/tmp/a%d.log", host_name="h%s", node_name=None, fmt="cri")
    out: list[bytes] = []
    ship_cri([b"2024-01-01T00:00:00Z stdout F x"], 0, NOW, CriDecoder(10), Encoder(ctx, "k", "logs-%x"), out)
    doc = orjson.loads(source_of(out[0]))
    assert doc["log"]["file"]["path"] == "/tmp/a%d.log" and doc["host"]["name"] == "h%s"


def test_container_link_name_gives_container_id() -> None:
    cid = "a" * 64
    ctx = path_plan(f"/var/log/containers/web-0_ns1_app-{cid}.log", PATH, host_name="h", node_name=None, fmt="auto")
    assert ctx.fields["container"] == {"name": "app", "id": cid}
    assert ctx.namespace == "ns1" and ctx.pod == "web-0"


_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=4),
                       lambda inner: st.dictionaries(st.sampled_from(["a", "level", "file", "offset", "x"]), inner,
                                                     max_size=3), max_leaves=6)
# Roots a parser may write, the document's own roots and the plan's (which no built-in parser writes).
_ROOTS = st.sampled_from(["log", "error", "event", "json", "http", "message", "@timestamp", "host", "kubernetes",
                          "container", "x.y"])


@given(fields=st.dictionaries(_ROOTS, _VALUES, min_size=1, max_size=5), flags=st.sampled_from([0, FLAG_TRUNCATED]),
       stream=st.sampled_from([b"stdout", b""]))
@settings(max_examples=300, deadline=None, derandomize=True, database=None)
def test_parsed_fields_document_is_the_deep_merge_of_its_parts(fields: dict[str, Any], flags: int, stream: bytes) -> None:
    """The pre-encoded composition gives exactly the bytes of deep_merge(head + plan fields, parsed fields)."""
    enc = encoder()
    assert "kubernetes" in enc.plan.fields  # the plan has roots of its own for the fields to collide with
    out: list[bytes] = []
    enc.encode([(16, b"2024-01-01T00:00:00Z", stream, b"m", flags, fields)], out)
    log: dict[str, Any] = {"offset": 16, **({"iostream": stream.decode()} if stream else {}),
                           **({"flags": ["truncated"]} if flags else {}), "file": {"path": PATH}}
    doc = deep_merge({"@timestamp": "2024-01-01T00:00:00Z", "message": "m", "log": log, **enc.plan.fields}, fields)
    assert out == [b'{"create":{"_index":"logs-x-default","_id":"abc123-10"}}\n' + orjson.dumps(doc) + b"\n"]
