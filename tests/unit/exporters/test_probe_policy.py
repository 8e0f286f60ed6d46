"""The probe allowlist and discovery: what may be probed, and which targets annotated objects produce."""

from __future__ import annotations

from exporters.probe import discovery
from exporters.probe.allowlist import TargetPolicy
from exporters.probe.prober import Result


async def test_hosts_suffixes_and_networks() -> None:
    p = TargetPolicy(["example.internal"], ["10.0.0.0/8", "127.0.0.1/32"], ["svc.cluster.local"])
    assert (await p.allows("example.internal"))[0]
    assert (await p.allows("web.shop.svc.cluster.local"))[0]
    assert (await p.allows("10.1.2.3"))[0]
    assert (await p.allows("localhost"))[0]  # resolves only into 127.0.0.1/32
    assert await p.allows("169.254.169.254") == (False, "not_allowlisted")  # cloud metadata stays out
    assert await p.allows("evilsvc.cluster.local") == (False, "unresolvable")
    assert await p.allows("[::1]") == (False, "not_allowlisted")


async def test_empty_policy_refuses_everything_but_suffixes() -> None:
    p = TargetPolicy([], [], [".svc"])
    assert (await p.allows("a.b.svc"))[0]
    assert await p.allows("127.0.0.1") == (False, "not_allowlisted")
    assert await p.allows("localhost") == (False, "not_allowlisted")


def test_service_and_ingress_targets() -> None:
    svc = {"metadata": {"name": "web", "namespace": "shop",
                        "annotations": {"observe.io/probe": "true", "observe.io/probe-path": "/healthz"}},
           "spec": {"ports": [{"port": 8080}]}}
    assert discovery.service_targets(svc, "http_2xx") == [{
        "targets": ["http://web.shop.svc:8080/healthz"],
        "labels": {"__param_module": "http_2xx", "namespace": "shop", "service": "web"}}]
    assert discovery.service_targets({**svc, "metadata": {"name": "x", "namespace": "y"}}, "http_2xx") == []
    ing = {"metadata": {"name": "front", "namespace": "shop", "annotations": {"observe.io/probe": "true"}},
           "spec": {"tls": [{"hosts": ["shop.example.com"]}],
                    "rules": [{"host": "shop.example.com"}, {"host": "plain.example.com"}]}}
    groups = discovery.ingress_targets(ing, "http_2xx")
    assert [g["targets"][0] for g in groups] == ["https://shop.example.com/", "http://plain.example.com/"]
    assert groups[0]["labels"]["__param_module"] == "https_2xx"


def test_result_exposition_uses_blackbox_names() -> None:
    r = Result(success=True, status_code=204, cert_expiry=1.9e9)
    text = r.exposition(http=True).decode()
    assert "probe_success 1\n" in text and "probe_http_status_code 204\n" in text
    assert 'probe_http_duration_seconds{phase="tls"}' in text
    assert "probe_ssl_earliest_cert_expiry 1900000000\n" in text
