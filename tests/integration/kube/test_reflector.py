"""The reflector against a real kube-apiserver: list, watch, field selectors, and a real 410 Gone with relist."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from observe.config import KubeConfig
from observe.kube import PODS, KubeApiError, KubeClient, Reflector, Resource
from tests.peers.base import Peer


@pytest.fixture
async def kube(kube_apiserver: Peer) -> AsyncIterator[KubeClient]:
    client = await KubeClient.from_config(KubeConfig(kubeconfig=Path(str(kube_apiserver.extra["kubeconfig"]))))  # type: ignore[call-arg]
    yield client
    await client.close()


async def until(check: Callable[[], bool], within: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def recorder() -> tuple[dict[str, list[str]], dict[str, Any]]:
    log: dict[str, list[str]] = {"add": [], "update": [], "delete": []}
    callbacks = {f"on_{k}": (lambda key, obj, k=k: log[k].append(key)) for k in log}
    return log, callbacks


@pytest.fixture
def kubeconfig_without_ca(kube_apiserver: Peer, tmp_path: Path) -> Path:
    """The same server and token, but no CA: the server's self-signed certificate cannot be verified."""
    text = Path(str(kube_apiserver.extra["kubeconfig"])).read_text()
    bad = tmp_path / "kubeconfig"
    bad.write_text(text.replace(f'"certificate-authority": "{kube_apiserver.extra["ca_file"]}"', '"x": 1'))
    return bad


async def test_tls_is_verified_against_the_kubeconfig_ca(kubeconfig_without_ca: Path) -> None:
    client = await KubeClient.from_config(KubeConfig(kubeconfig=kubeconfig_without_ca))  # type: ignore[call-arg]
    try:
        with pytest.raises(Exception, match=r"(?i)certificate"):
            await client.request("GET", "/api/v1/namespaces")
    finally:
        await client.close()


async def test_list_then_watch_with_field_selector(kube: KubeClient, kube_namespace: str) -> None:
    ns = kube_namespace
    pod = {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "c", "image": "x"}]}}

    async def create(name: str, node: str) -> None:
        await kube.request("POST", f"/api/v1/namespaces/{ns}/pods",
                           body={**pod, "metadata": {"name": name}, "spec": {**pod["spec"], "nodeName": node}})

    await create("before", "node-a")
    await create("elsewhere", "node-b")
    log, callbacks = recorder()
    r: Reflector[dict[str, Any]] = Reflector(kube, PODS, namespace=ns, field_selector="spec.nodeName=node-a",
                                             page_size=1, **callbacks)
    r.start()
    try:
        assert await r.wait_synced(30)
        assert set(r.store) == {f"{ns}/before"} and r.up
        await create("after", "node-a")
        await until(lambda: f"{ns}/after" in r.store)
        await kube.request("PATCH", f"/api/v1/namespaces/{ns}/pods/after", body={"metadata": {"labels": {"x": "y"}}})
        await until(lambda: log["update"] == [f"{ns}/after"])
        await kube.request("DELETE", f"/api/v1/namespaces/{ns}/pods/before", params={"gracePeriodSeconds": "0"})
        await until(lambda: log["delete"] == [f"{ns}/before"])
        assert log["add"] == [f"{ns}/before", f"{ns}/after"]
    finally:
        await r.stop()


async def test_real_410_gone_relists_and_loses_nothing(kube: KubeClient) -> None:
    # A CRD's watch cache starts at its creation, so resourceVersion 1 is too old for it: the server answers 410.
    group = f"g{uuid.uuid4().hex[:8]}.observe.test"
    await kube.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body={
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {"group": group, "scope": "Cluster", "names": {"plural": "widgets", "singular": "widget",
                                                                "kind": "Widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                     "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}})
    widgets = Resource(group, "v1", "widgets", namespaced=False)
    path = widgets.path()

    async def create(name: str, size: int) -> None:
        for _ in range(50):  # the CRD takes a moment to be served
            try:
                await kube.request("POST", path, body={"apiVersion": f"{group}/v1", "kind": "Widget",
                                                       "metadata": {"name": name}, "size": size})
                return
            except KubeApiError as exc:
                if exc.status != 404:
                    raise
                await asyncio.sleep(0.2)
        raise AssertionError("the CRD was never served")

    await create("stays", 1)
    await create("goes", 2)
    log, callbacks = recorder()
    r: Reflector[int] = Reflector(kube, widgets, transform=lambda o: int(o["size"]), **callbacks)
    r.start()
    assert await r.wait_synced(30)
    assert r.store == {"stays": 1, "goes": 2}
    await r.stop()
    # While the reflector is away: one deleted, one added, one changed.
    await kube.request("DELETE", f"{path}/goes")
    await create("arrived", 3)
    await kube.request("PATCH", f"{path}/stays", body={"size": 10})
    r.resource_version = "1"
    r.start()
    try:
        await until(lambda: r.relists == 1 and r.store == {"stays": 10, "arrived": 3})
        assert log["delete"] == ["goes"]
        assert "arrived" in log["add"] and "stays" in log["update"]
        await create("later", 4)  # and the watch resumes after the relist
        await until(lambda: r.store.get("later") == 4)
    finally:
        await r.stop()
