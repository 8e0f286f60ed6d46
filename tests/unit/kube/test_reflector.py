"""The reflector's cache logic: relist diffs, event application, 410 detection (no server needed)."""

from __future__ import annotations

from typing import Any

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
