"""Our own kubeconfig loader against the real kube-apiserver: an inline CA verifies the server, a token file
authenticates, and a wrong token is refused."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from observe.config import KubeConfig
from observe.kube import KubeApiError, KubeClient
from tests.peers.base import Peer


def variant(kube_apiserver: Peer, tmp_path: Path, *, cluster: dict[str, Any], user: dict[str, Any]) -> KubeConfig:
    """The peer's kubeconfig with its cluster and user entries replaced."""
    doc = json.loads(Path(str(kube_apiserver.extra["kubeconfig"])).read_text())
    doc["clusters"][0]["cluster"] = {"server": kube_apiserver.url, **cluster}
    doc["users"][0]["user"] = user
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(doc))
    return KubeConfig(kubeconfig=path)  # type: ignore[call-arg]


@pytest.fixture
def inline_ca_token_file(kube_apiserver: Peer, tmp_path: Path) -> KubeConfig:
    """The CA inline as certificate-authority-data, the token in a file next to the kubeconfig."""
    ca = Path(str(kube_apiserver.extra["ca_file"])).read_bytes()
    (tmp_path / "token").write_text(str(kube_apiserver.extra["token"]) + "\n")
    return variant(kube_apiserver, tmp_path, cluster={"certificate-authority-data": base64.b64encode(ca).decode()},
                   user={"tokenFile": "token"})


async def test_inline_ca_and_token_file_reach_the_server(inline_ca_token_file: KubeConfig) -> None:
    config = inline_ca_token_file
    client = await KubeClient.from_config(config)
    try:
        page = await client.request("GET", "/api/v1/namespaces", params={"limit": "1"})
        assert page["kind"] == "NamespaceList"
    finally:
        await client.close()


async def test_a_wrong_token_is_refused(kube_apiserver: Peer, tmp_path: Path) -> None:
    config = variant(kube_apiserver, tmp_path, cluster={"certificate-authority": str(kube_apiserver.extra["ca_file"])},
                     user={"token": "not-a-valid-token"})
    client = await KubeClient.from_config(config)
    try:
        with pytest.raises(KubeApiError) as caught:
            await client.request("GET", "/api/v1/namespaces")
        assert caught.value.status == 401
    finally:
        await client.close()
