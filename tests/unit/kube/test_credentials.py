"""Kubeconfig and service-account credentials without kubernetes_asyncio (pure file logic; no server)."""

from __future__ import annotations

import base64
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from observe.kube import credentials
from observe.kube.client import KubeConfigError, LibraryCredentials, load_configuration
from observe.kube.credentials import CredentialsError, NeedsLibrary, from_kubeconfig, in_cluster


def kubeconfig(tmp_path: Path, user: dict[str, Any], cluster: dict[str, Any] | None = None) -> Path:
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
           "clusters": [{"name": "k", "cluster": cluster or {"server": "https://10.0.0.1:6443/",
                                                             "certificate-authority": "certs/ca.crt"}}],
           "users": [{"name": "u", "user": user}],
           "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}
    path = tmp_path / "kube" / "config"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


async def test_token_user_and_a_ca_path_relative_to_the_kubeconfig(tmp_path: Path) -> None:
    creds = from_kubeconfig(kubeconfig(tmp_path, {"token": "abc"}))
    assert creds.host == "https://10.0.0.1:6443"
    assert creds.ca_file == str((tmp_path / "kube" / "certs" / "ca.crt").resolve())
    assert await creds.authorization() == "Bearer abc"


def test_inline_certificates_go_to_private_files(tmp_path: Path) -> None:
    b64 = base64.b64encode
    creds = from_kubeconfig(kubeconfig(
        tmp_path, {"client-certificate-data": b64(b"CERT").decode(), "client-key-data": b64(b"KEY").decode()},
        {"server": "https://api:6443", "certificate-authority-data": b64(b"-----CA-----").decode()}))
    assert creds.ca_data == "-----CA-----" and creds.ca_file is None
    assert creds.cert_file and Path(creds.cert_file).read_bytes() == b"CERT"
    assert creds.key_file and Path(creds.key_file).read_bytes() == b"KEY"
    assert stat.S_IMODE(Path(creds.key_file).stat().st_mode) == 0o600
    assert creds.token is None and creds.basic is None


async def test_token_file_is_reread_as_it_rotates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "kube").mkdir()
    (tmp_path / "kube" / "token").write_text("first\n")
    creds = from_kubeconfig(kubeconfig(tmp_path, {"tokenFile": "token"}))
    assert await creds.authorization() == "Bearer first"
    (tmp_path / "kube" / "token").write_text("second\n")
    assert await creds.authorization() == "Bearer first"  # within the re-read interval
    monkeypatch.setattr(credentials, "TOKEN_REREAD_SECONDS", 0.0)
    assert await creds.authorization() == "Bearer second"


async def test_basic_auth_and_insecure_skip_verify(tmp_path: Path) -> None:
    creds = from_kubeconfig(kubeconfig(tmp_path, {"username": "a", "password": "b"},
                                       {"server": "https://api:6443", "insecure-skip-tls-verify": True}))
    assert await creds.authorization() == "Basic " + base64.b64encode(b"a:b").decode()
    assert creds.ssl_context() is False


def test_exec_plugins_and_auth_providers_need_the_library(tmp_path: Path) -> None:
    with pytest.raises(NeedsLibrary):
        from_kubeconfig(kubeconfig(tmp_path, {"exec": {"command": "get-token"}}))
    with pytest.raises(NeedsLibrary):
        from_kubeconfig(kubeconfig(tmp_path, {"auth-provider": {"name": "oidc"}}))


async def test_an_exec_plugin_is_run_through_kubernetes_asyncio(tmp_path: Path) -> None:
    plugin = tmp_path / "get-token"
    plugin.write_text('#!/bin/sh\necho \'{"apiVersion": "client.authentication.k8s.io/v1beta1", '
                      '"kind": "ExecCredential", "status": {"token": "from-plugin"}}\'\n')
    plugin.chmod(0o755)
    path = kubeconfig(tmp_path, {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                                          "command": str(plugin)}}, {"server": "https://api:6443"})
    creds = await load_configuration(path)
    assert isinstance(creds, LibraryCredentials) and creds.host == "https://api:6443"
    assert await creds.authorization() == "Bearer from-plugin"


async def test_errors_name_the_file_and_the_problem(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path, {"token": "x"})
    path.write_text(path.read_text().replace("current-context: c", "current-context: other"))
    with pytest.raises(KubeConfigError, match=rf"kube.kubeconfig: {path} is not usable: contexts: no entry named 'other'"):
        await load_configuration(path)
    path.write_text("- just\n- a list\n")
    with pytest.raises(KubeConfigError, match="expected a mapping"):
        await load_configuration(path)


def test_in_cluster_service_account(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("sa-token\n")
    (tmp_path / "ca.crt").write_text("CA")
    creds = in_cluster({"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}, tmp_path)
    assert creds.host == "https://[fd00::1]:443" and creds.token == "sa-token"
    assert creds.ca_file == str(tmp_path / "ca.crt")
    with pytest.raises(CredentialsError, match="KUBERNETES_SERVICE_HOST"):
        in_cluster({}, tmp_path)
    (tmp_path / "token").unlink()
    with pytest.raises(CredentialsError, match="token does not exist"):
        in_cluster({"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}, tmp_path)
