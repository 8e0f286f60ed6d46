"""Per-pod log plans from `observe.io/logs*` annotations and log-pilot's `aliyun_logs_*` env."""

from __future__ import annotations

from observe.logs.annotations import ContainerSpec, Mount, Plan, Stream, build_plan, dedot, normalize_index, parse_tags

UID = "0b9c1e6a-4c4e-4a8e-9d65-2f1a1b2c3d4e"
APP = ContainerSpec("app", mounts=(Mount("/var/log/app", "applogs"), Mount("/etc/app", "config")))
SIDE = ContainerSpec("proxy", mounts=(Mount("/var/log/envoy", "envoylogs", sub_path="envoy"),))


def plan(annotations: dict[str, str], containers: list[ContainerSpec] | None = None) -> Plan:
    return build_plan(uid=UID, annotations=annotations, containers=containers or [APP, SIDE],
                      empty_dirs={"applogs", "envoylogs"}, kubelet_root="/k")


def test_no_annotation_ships_every_container_with_defaults() -> None:
    p = plan({})
    assert p.errors == [] and p.files == []
    assert p.output_stream("app") == Stream() and p.output_stream("proxy") == Stream()


def test_pod_and_container_exclusion() -> None:
    assert plan({"observe.io/logs": "false"}).output_stream("app") is None
    p = plan({"observe.io/logs.proxy": "false"})
    assert p.output_stream("proxy") is None and p.output_stream("app") == Stream()


def test_container_stdout_stream_with_settings() -> None:
    p = plan({
        "observe.io/logs.app": "stdout",
        "observe.io/logs.app.index": "payments",
        "observe.io/logs.app.tags": "team=pay, tier=gold,app.kubernetes.io/part-of=shop",
        "observe.io/logs.app.format": "json",
        "observe.io/logs.app.multiline": "java",
    })
    assert p.errors == []
    assert p.output_stream("app") == Stream(
        "app", "logs-payments-default", (("team", "pay"), ("tier", "gold"), ("app_kubernetes_io/part-of", "shop")), "json", "java"
    )
    assert p.output_stream("proxy") == Stream()


def test_settings_alone_imply_the_containers_stdout() -> None:
    p = plan({"observe.io/logs.proxy.format": "nginx"})
    assert p.errors == []
    assert p.output_stream("proxy") == Stream("proxy", format="nginx")


def test_pod_wide_stream_applies_to_containers_without_their_own() -> None:
    p = plan({"observe.io/logs.catalina": "stdout", "observe.io/logs.catalina.index": "logs-tomcat.access-prod",
              "observe.io/logs.proxy.format": "nginx"})
    assert p.output_stream("app") == Stream("catalina", "logs-tomcat.access-prod")
    assert p.output_stream("proxy") == Stream("proxy", format="nginx")


def test_file_in_empty_dir_resolves_to_the_kubelet_volume_path() -> None:
    p = plan({"observe.io/logs.audit": "/var/log/app/audit/*.log", "observe.io/logs.audit.index": "logs-app.audit-default",
              "observe.io/logs.envoy": "/var/log/envoy/access.log"})
    assert p.errors == []
    files = {f.stream.name: f for f in p.files}
    assert files["audit"].container == "app"
    assert files["audit"].host_glob == f"/k/pods/{UID}/volumes/kubernetes.io~empty-dir/applogs/audit/*.log"
    assert files["audit"].stream.index == "logs-app.audit-default"
    assert files["envoy"].container == "proxy"
    assert files["envoy"].host_glob == f"/k/pods/{UID}/volumes/kubernetes.io~empty-dir/envoylogs/envoy/access.log"


def test_invalid_annotations_are_reported_and_the_stream_ships_with_defaults() -> None:
    p = plan({
        "observe.io/logs.app": "stdout",
        "observe.io/logs.app.index": "Bad Index!",
        "observe.io/logs.app.tags": "novalue",
        "observe.io/logs.app.format": "xml",
        "observe.io/logs.app.multiline": "regex:(",
        "observe.io/logs.app.colour": "blue",
        "observe.io/logs.conf": "/etc/app/app.log",
        "observe.io/logs.tmp": "/tmp/x.log",
        "observe.io/logs.ghost": "false",
        "observe.io/logs.x": "stderr-only",
        "observe.io/logs": "maybe",
    })
    keys = sorted(e.key for e in p.errors)
    assert keys == sorted([
        "observe.io/logs.app.index", "observe.io/logs.app.tags", "observe.io/logs.app.format",
        "observe.io/logs.app.multiline", "observe.io/logs.app.colour", "observe.io/logs.conf",
        "observe.io/logs.tmp", "observe.io/logs.ghost", "observe.io/logs.x", "observe.io/logs",
    ])
    assert p.output_stream("app") == Stream("app")
    assert p.files == []
    reasons = {e.key: e.reason for e in p.errors}
    assert "not an emptyDir" in reasons["observe.io/logs.conf"]
    assert "not under any volumeMount" in reasons["observe.io/logs.tmp"]


def test_unrelated_annotations_are_ignored() -> None:
    assert plan({"observe.io/logsx": "1", "prometheus.io/scrape": "true"}).errors == []


def test_aliyun_env_compatibility() -> None:
    app = ContainerSpec("app", mounts=APP.mounts, env=(
        ("aliyun_logs_catalina", "stdout"),
        ("aliyun_logs_catalina_tags", "team=pay,stage=prod"),
        ("aliyun_logs_access_log", "/var/log/app/access.*.log"),
        ("aliyun_logs_access_log_target", "shop_access"),
        ("JAVA_OPTS", "-Xmx1g"),
    ))
    p = plan({}, [app, SIDE])
    assert p.errors == []
    assert p.output_stream("app") == Stream("app/catalina", "logs-catalina-default", (("team", "pay"), ("stage", "prod")))
    assert p.output_stream("proxy") == Stream()
    [f] = p.files
    assert f.container == "app" and f.stream.index == "logs-shop_access-default"
    assert f.host_glob.endswith("~empty-dir/applogs/access.*.log")


def test_annotation_wins_over_env_and_bad_env_is_reported() -> None:
    app = ContainerSpec("app", mounts=APP.mounts, env=(("aliyun_logs_app", "stdout"), ("aliyun_logs_bad", "elsewhere"),
                                                       ("aliyun_logs_nope_tags", "a=b")))
    p = plan({"observe.io/logs.app": "stdout", "observe.io/logs.app.format": "json"}, [app])
    assert p.output_stream("app") == Stream("app", format="json")
    assert sorted(e.key for e in p.errors) == ["env app/aliyun_logs_bad", "env app/aliyun_logs_nope_tags"]


def test_index_normalization_and_tags_and_dedot() -> None:
    assert normalize_index("logs-a.b-prod") == "logs-a.b-prod"
    assert normalize_index("orders") == "logs-orders-default"
    assert normalize_index("Orders") is None and normalize_index("logs-") is None
    assert parse_tags("a=1,,b = 2") == (("a", "1"), ("b", "2"))
    assert parse_tags("=x") is None
    assert dedot("app.kubernetes.io/name") == "app_kubernetes_io/name"


def test_a_regex_the_engine_refuses_past_re_error_is_an_annotation_error() -> None:
    """A repeat count past 2**32 (OverflowError) or deep nesting (RecursionError) in a pod's format or multiline
    annotation raised out of build_plan: the pod's plan was never built (its metadata left out)."""
    p = plan({"observe.io/logs.app.format": "regex:(?P<a>x{4294967296})",
              "observe.io/logs.app.multiline": "regex:" + "(" * 5000 + "x" + ")" * 5000})
    reasons = {e.key: e.reason for e in p.errors}
    assert sorted(reasons) == ["observe.io/logs.app.format", "observe.io/logs.app.multiline"]
    assert all("a valid regex" in r for r in reasons.values())
    assert p.output_stream("app") == Stream("app")
