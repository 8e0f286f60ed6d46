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


def test_special_addresses_need_a_cidr_rule_inside_their_range() -> None:
    wide = TargetPolicy([], ["0.0.0.0/0", "::/0"], [])
    for address in ("127.0.0.1", "169.254.169.254", "0.0.0.0", "::1", "::", "fe80::1", "::ffff:127.0.0.1",
                    "fd00:ec2::254", "100.100.100.200"):
        assert not wide.connect_allowed(address, "cidr"), address
        assert not wide.connect_allowed(address, "suffix"), address
    assert wide.connect_allowed("10.1.2.3", "cidr")
    named = TargetPolicy([], ["127.0.0.1/32", "169.254.169.254/32"], [])
    assert named.connect_allowed("127.0.0.1", "host") and named.connect_allowed("169.254.169.254", "suffix")
    assert not named.connect_allowed("127.0.0.2", "host")
    by_name = TargetPolicy(["a.example"], [], [".svc"])
    assert by_name.connect_allowed("10.9.8.7", "suffix") and not by_name.connect_allowed("10.9.8.7", "cidr")


def test_canonical_host_and_ports() -> None:
    from exporters.probe.allowlist import BadTarget, canonical_host

    assert canonical_host("Web.Shop.SVC.") == "web.shop.svc"
    assert canonical_host("Bücher.example") == "xn--bcher-kva.example"
    assert canonical_host("[::1]") == "::1"
    for bad in ("", ".", "a" * 300, "a..b"):
        try:
            canonical_host(bad)
        except BadTarget:
            continue
        raise AssertionError(bad)
    p = TargetPolicy([], [], [], ports=[80, 443], discovered_ports=lambda: {8080})
    assert p.port_allowed(443) and p.port_allowed(8080) and not p.port_allowed(9600)
    assert discovery.target_port("http://web.shop.svc:8080/x") == 8080
    assert discovery.target_port("https://shop.example.com/") == 443
    assert discovery.target_port("db.shop.svc:5432") == 5432


async def test_unparsable_targets_are_bad_targets() -> None:
    """Found by the property tests: urlsplit raises on an unclosed [ and on a port that is not a number."""
    from exporters.config import ProbeModuleConfig
    from exporters.probe import prober

    policy = TargetPolicy([], ["127.0.0.1/32"], [])
    for target, kind in (("[", "http"), ("http://[::1/", "http"), ("[:1", "tcp"), ("a:port", "tcp")):
        try:
            await prober.run(target, ProbeModuleConfig(prober=kind), policy, 1)  # type: ignore[arg-type,call-arg]
        except prober.Refused as exc:
            assert exc.reason == "bad_target", target
        else:
            raise AssertionError(target)
    assert discovery.target_port("[") == 0
