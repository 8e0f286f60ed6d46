"""The reflector's cache logic: relist diffs, event application, 410 detection (no server needed)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from observe.kube.reflector import PODS, Gone, Reflector, Resource, object_key


def pod(name: str, rv: str, ns: str = "ns") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": rv, "uid": f"uid-{name}"}}


def recording() -> tuple[Reflector[dict[str, Any]], list[tuple[str, str]]]:
    calls: list[tuple[str, str]] = []
    r: Reflector[dict[str, Any]] = Reflector(
        None,  # type: ignore[arg-type]  # the cache logic never touches the client
        PODS,
        on_add=lambda k, o: calls.append(("add", k)),
        on_update=lambda k, o: calls.append(("update", k)),
        on_delete=lambda k, o: calls.append(("delete", k)),
    )
    return r, calls


def test_resource_paths() -> None:
    assert PODS.path() == "/api/v1/pods"
    assert PODS.path("kube-system") == "/api/v1/namespaces/kube-system/pods"
    assert Resource("apps", "v1", "deployments").path("a") == "/apis/apps/v1/namespaces/a/deployments"
    assert Resource("", "v1", "nodes", namespaced=False).path("ignored") == "/api/v1/nodes"


def test_object_key_is_namespace_slash_name_or_name() -> None:
    assert object_key(pod("a", "1")) == "ns/a"
    assert object_key({"metadata": {"name": "node1"}}) == "node1"


async def test_relist_deletes_missing_adds_new_and_skips_unchanged() -> None:
    r, calls = recording()
    await r._replace({"ns/a": pod("a", "1"), "ns/b": pod("b", "2")})
    assert calls == [("add", "ns/a"), ("add", "ns/b")]
    calls.clear()
    await r._replace({"ns/b": pod("b", "2"), "ns/c": pod("c", "3")})
    assert calls == [("delete", "ns/a"), ("add", "ns/c")]  # b unchanged: no callback
    calls.clear()
    await r._replace({"ns/b": pod("b", "9"), "ns/c": pod("c", "3")})
    assert calls == [("update", "ns/b")]
    assert set(r.store) == {"ns/b", "ns/c"}


def test_watch_events_update_store_and_resource_version() -> None:
    r, calls = recording()
    r._apply({"type": "ADDED", "object": pod("a", "5")})
    r._apply({"type": "MODIFIED", "object": pod("a", "6")})
    r._apply({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "10"}}})
    assert r.resource_version == "10"
    r._apply({"type": "DELETED", "object": pod("a", "11")})
    assert calls == [("add", "ns/a"), ("update", "ns/a"), ("delete", "ns/a")]
    assert r.store == {}
    assert r.resource_version == "11"
    assert r.events == {"ADDED": 1, "MODIFIED": 1, "DELETED": 1, "BOOKMARK": 1}


def test_error_event_410_means_gone() -> None:
    r, _ = recording()
    with pytest.raises(Gone):
        r._apply({"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}})


def test_transform_keeps_only_what_the_consumer_needs() -> None:
    seen: list[str] = []
    r: Reflector[str] = Reflector(None, PODS, transform=lambda o: o["metadata"]["uid"],  # type: ignore[arg-type]
                                  on_add=lambda k, v: seen.append(v))
    r._apply({"type": "ADDED", "object": pod("a", "1")})
    assert r.store == {"ns/a": "uid-a"} and seen == ["uid-a"]


class PagedList:
    """Answers paginated LISTs from a fixed set of pods (the client's only job in _list)."""

    def __init__(self, pods: list[dict[str, Any]], version: str = "100") -> None:
        self.pods = pods
        self.version = version
        self.calls = 0
        self.log: list[tuple[str, ...]] = []

    async def get_bytes(self, path: str, *, params: dict[str, str], seconds: float) -> bytes:
        self.calls += 1
        self.log.append(("get", params.get("continue", ""), params.get("resourceVersion", "")))
        start = int(params.get("continue", "0"))
        end = start + int(params["limit"])
        cont = str(end) if end < len(self.pods) else ""
        return orjson.dumps({"kind": "PodList", "metadata": {"resourceVersion": self.version, "continue": cont},
                             "items": self.pods[start:end]})


async def test_keys_only_mode_lists_page_by_page_and_forgets_what_a_relist_misses() -> None:
    events: list[tuple[str, str]] = []
    client = PagedList([pod(f"p{i}", str(i)) for i in range(5)])
    r: Reflector[str] = Reflector(client, PODS, transform=lambda o: o["metadata"]["uid"],  # type: ignore[arg-type]
                                  keep_objects=False, page_size=2,
                                  on_add=lambda k, v: events.append(("add", v)),
                                  on_delete=lambda k, v: events.append(("delete", k)),
                                  on_forget=lambda k: events.append(("forget", k)))
    await r._list()
    assert client.calls == 3 and r.resource_version == "100" and r.synced.is_set()
    assert events == [("add", f"uid-p{i}") for i in range(5)]
    assert r.store == {} and len(r) == 5 and "ns/p3" in r  # nothing of the objects is kept, only their keys
    events.clear()
    client.pods = [pod("p0", "0"), pod("p1", "7"), pod("p4", "4")]
    await r._list()
    # p1 changed (no on_update callback is set), p2 and p3 are gone: forgotten after the complete list; on_delete
    # is not called in this mode, as there is no stored object to hand over.
    assert events == [("forget", "ns/p2"), ("forget", "ns/p3")]
    assert len(r) == 3


async def test_the_next_page_is_asked_for_before_this_one_is_applied() -> None:
    client = PagedList([pod(f"p{i}", str(i)) for i in range(5)])

    def apply(obj: dict[str, Any]) -> str:
        client.log.append(("apply", obj["metadata"]["name"]))
        return ""

    r: Reflector[str] = Reflector(client, PODS, page_size=2, transform=apply)  # type: ignore[arg-type]
    await r._list()
    assert client.log == [("get", "", ""), ("get", "2", ""), ("apply", "p0"), ("apply", "p1"), ("get", "4", ""),
                          ("apply", "p2"), ("apply", "p3"), ("apply", "p4")]


async def test_on_forget_also_fires_when_objects_are_kept() -> None:
    r, calls = recording()
    forgotten: list[str] = []
    r.on_forget = forgotten.append
    r._apply({"type": "ADDED", "object": pod("a", "1")})
    r._apply({"type": "DELETED", "object": pod("a", "2")})
    assert calls == [("add", "ns/a"), ("delete", "ns/a")] and forgotten == ["ns/a"]


async def test_a_shard_decodes_and_keeps_only_its_own_objects() -> None:
    """With `owns`, another shard's objects are skipped by UID in the LIST and in watch events: no callback, no key."""
    client = PagedList([pod(f"p{i}", str(i)) for i in range(6)])
    mine = {"uid-p1", "uid-p4", "uid-p5"}
    built: list[str] = []
    r: Reflector[str] = Reflector(client, PODS, page_size=4, keep_objects=False,  # type: ignore[arg-type]
                                  owns=mine.__contains__, transform=lambda o: built.append(o["metadata"]["name"]) or "")
    await r._list()
    assert built == ["p1", "p4", "p5"] and len(r) == 3 and "ns/p0" not in r and r.resource_version == "100"
    r._apply({"type": "ADDED", "object": pod("p9", "101")})  # not this shard's
    r._apply({"type": "MODIFIED", "object": pod("p5", "102")})
    r._apply({"type": "DELETED", "object": pod("p0", "103")})  # never known here: nothing to forget
    assert built == ["p1", "p4", "p5", "p5"] and len(r) == 3 and r.resource_version == "103"


async def test_lists_in_pages_of_two_thousand_by_default() -> None:
    # The API server's watch cache pays for the whole list on every page (bench note in reflector.py): 4,500 pods
    # must take three requests, not nine.
    client = PagedList([pod(f"p{i}", str(i)) for i in range(4500)])
    r: Reflector[str] = Reflector(client, PODS, transform=lambda o: o["metadata"]["uid"],  # type: ignore[arg-type]
                                  keep_objects=False)
    await r._list()
    assert client.calls == 3 and len(r) == 4500


async def test_a_large_list_gives_freed_memory_back(monkeypatch: pytest.MonkeyPatch) -> None:
    from observe.kube import reflector

    trims: list[int] = []
    monkeypatch.setattr(reflector, "trim_heap", lambda: trims.append(1) or True)
    small = Reflector(PagedList([pod(f"p{i}", str(i)) for i in range(100)]), PODS, keep_objects=False)  # type: ignore[arg-type]
    await small._list()
    assert trims == []
    large = Reflector(PagedList([pod(f"p{i}", str(i)) for i in range(reflector.TRIM_AFTER_OBJECTS)]), PODS,  # type: ignore[arg-type]
                      keep_objects=False)
    await large._list()
    assert trims == [1]


def test_trim_heap_calls_glibc() -> None:
    from observe.kube.reflector import trim_heap

    assert trim_heap() in (True, False)


def _fragile(obj: dict[str, Any]) -> str:
    """A transform with a bug that shows on one object only."""
    if obj["metadata"]["name"] == "bad":
        raise TypeError("a renderer bug")
    return str(obj["metadata"]["name"])


async def test_an_object_the_transform_raises_on_is_skipped_counted_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    """A bug on one object used to leave the list (ValueError: relisted forever; anything else: the task died), so
    no object of the resource after it was ever seen again. Now that object is left out, counted and logged once,
    and the others go on; a later version of it that the transform takes is added."""
    added: list[str] = []
    client = PagedList([pod("a", "1"), pod("bad", "2"), pod("c", "3")])
    r: Reflector[str] = Reflector(client, PODS, transform=_fragile, page_size=2,  # type: ignore[arg-type]
                                  on_add=lambda k, v: added.append(v))
    await r._list()
    assert added == ["a", "c"] and r.synced.is_set() and r.object_errors == 1
    assert "ns/bad" not in r and set(r.store) == {"ns/a", "ns/c"}
    r._apply({"type": "MODIFIED", "object": pod("bad", "4")})  # still failing: counted again, logged once
    assert r.object_errors == 2
    assert [rec.message for rec in caplog.records].count("an object could not be processed; it is left out") == 1
    failing = next(rec for rec in caplog.records if rec.message.startswith("an object"))
    assert failing.__dict__["kubernetes.object"] == "ns/bad" and "TypeError: a renderer bug" in failing.__dict__[
        "error.message"]

    r.transform = lambda o: str(o["metadata"]["name"])  # type: ignore[assignment]  # fixed
    r._apply({"type": "MODIFIED", "object": pod("bad", "5")})
    assert added == ["a", "c", "bad"] and r.store["ns/bad"] == "bad"


async def test_a_known_object_that_starts_failing_loses_its_old_value() -> None:
    """Its old value would be stale: the consumer forgets it (on_delete/on_forget) until a version renders."""
    events: list[tuple[str, str]] = []
    r: Reflector[str] = Reflector(None, PODS, transform=_fragile,  # type: ignore[arg-type]
                                  on_add=lambda k, v: events.append(("add", k)),
                                  on_delete=lambda k, v: events.append(("delete", k)),
                                  on_forget=lambda k: events.append(("forget", k)))
    r._apply({"type": "ADDED", "object": {"metadata": {"name": "x", "namespace": "ns", "resourceVersion": "1"}}})
    r.transform = lambda o: (_ for _ in ()).throw(ValueError("now it fails"))  # type: ignore[assignment]
    r._apply({"type": "MODIFIED", "object": {"metadata": {"name": "x", "namespace": "ns", "resourceVersion": "2"}}})
    assert events == [("add", "ns/x"), ("delete", "ns/x"), ("forget", "ns/x")] and r.object_errors == 1
    assert "ns/x" not in r


async def test_a_callback_that_raises_is_counted_and_the_list_goes_on() -> None:
    def on_add(key: str, value: str) -> None:
        if value == "bad":
            raise KeyError(key)
        seen.append(value)

    seen: list[str] = []
    client = PagedList([pod("a", "1"), pod("bad", "2"), pod("c", "3")])
    r: Reflector[str] = Reflector(client, PODS, transform=lambda o: str(o["metadata"]["name"]),  # type: ignore[arg-type]
                                  on_add=on_add)
    await r._list()
    assert seen == ["a", "c"] and r.object_errors == 1 and r.synced.is_set()
