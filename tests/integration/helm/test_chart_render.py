"""The chart through the real helm binary: lint, render over the values matrix, validate every object."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from observe.app.config import load_config
from tests.integration.helm import chart
from tests.peers import kube

pytestmark = pytest.mark.integration

KUBE_VERSION = kube.VERSION.removeprefix("v")
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "Pod"}
READ_VERBS = {"get", "list", "watch"}


@pytest.fixture(scope="module")
def helm_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("helm-home")


@pytest.fixture(scope="module")
def rendered(helm_binary: Path, helm_home: Path) -> dict[str, list[dict[str, Any]]]:
    """Every case of the matrix, rendered once."""
    return {name: chart.template(helm_binary, helm_home, name) for name in chart.MATRIX}


@pytest.fixture(scope="module")
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema of every CRD the chart may emit, fetched at test time."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for crd in [*chart.prometheus_operator_crds(), chart.istio_telemetry_crd()]:
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schemas[(f"{group}/{version['name']}", kind)] = version["schema"]["openAPIV3Schema"]
    return schemas


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(object name, pod spec) of every workload."""
    for obj in objects:
        if obj["kind"] == "Pod":
            yield obj["metadata"]["name"], obj["spec"]
        elif obj["kind"] in WORKLOADS:
            yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def unknown_fields(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Paths of keys a structural CRD schema does not declare (the API server would drop or refuse them)."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        out: list[str] = []
        for key, item in value.items():
            if props is not None and key in props:
                out += unknown_fields(item, props[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                out += unknown_fields(item, extra, f"{path}.{key}")
            elif props is not None and path and key not in ("apiVersion", "kind", "metadata"):
                out.append(f"{path}.{key}")
            elif props is not None and not path and key not in props and key not in ("apiVersion", "kind", "metadata"):
                out.append(key)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [p for i, item in enumerate(value) for p in unknown_fields(item, schema["items"], f"{path}[{i}]")]
    return []


@pytest.mark.parametrize("case", chart.MATRIX)
def test_lint_strict_passes(helm_binary: Path, helm_home: Path, case: str) -> None:
    out = chart.run_helm(helm_binary, helm_home, "lint", "--strict", chart.CHART, *chart.values_args([case]))
    assert "0 chart(s) failed" in out.stdout


@pytest.mark.parametrize("case", chart.MATRIX)
def test_every_object_is_valid_against_kubernetes_and_crd_schemas(
    rendered: dict[str, list[dict[str, Any]]], crd_schemas: dict[tuple[str, str], dict[str, Any]], case: str
) -> None:
    assert rendered[case], "nothing rendered"
    for obj in rendered[case]:
        key = (obj["apiVersion"], obj["kind"])
        if key in crd_schemas:
            # CRD schemas are OpenAPI (draft-4 like) with Go regexes: validate, and refuse what the API server prunes.
            jsonschema.Draft4Validator(crd_schemas[key]).validate(obj)
            assert not unknown_fields(obj, crd_schemas[key]), f"{obj['kind']}: fields the CRD does not know"
        else:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)


@pytest.mark.parametrize("case", chart.MATRIX)
def test_rendered_config_is_a_valid_observe_config(rendered: dict[str, list[dict[str, Any]]], case: str,
                                                   tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(chart.config_of(rendered[case])))
    config = load_config(path)
    assert config.service.host == "0.0.0.0"
    assert str(config.logs.checkpoint_path).startswith("/var/lib/observe/checkpoints/")


def test_config_passthrough_reaches_the_config_file(helm_binary: Path, helm_home: Path) -> None:
    objects = chart.template(helm_binary, helm_home, extra=["--set", "shipper.config.batch_max_events=123",
                                                            "--set", "elasticsearch.url=https://es:9200"])
    config = chart.config_of(objects)
    assert config["logs"]["batch_max_events"] == 123
    assert config["logs"]["paths"] == ["/var/log/containers/*.log"]
    assert config["elasticsearch"]["url"] == "https://es:9200"


def test_a_list_of_elasticsearch_urls_and_sniffing_reach_the_config_file(helm_binary: Path, helm_home: Path,
                                                                       tmp_path: Path) -> None:
    objects = chart.template(helm_binary, helm_home, extra=[
        "--set", "elasticsearch.urls={https://es-0.es:9200,https://es-1.es:9200}", "--set", "elasticsearch.sniff=true",
        "--set", "elasticsearch.deadNodeBackoffMaxSeconds=30"])
    es = chart.config_of(objects)["elasticsearch"]
    assert es["urls"] == ["https://es-0.es:9200", "https://es-1.es:9200"] and "url" not in es  # urls replaces url
    assert (es["sniff"], es["sniff_interval_seconds"], es["dead_node_backoff_seconds"],
            es["dead_node_backoff_max_seconds"]) == (True, 60, 1, 30)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(chart.config_of(objects)))
    assert load_config(path).elasticsearch.nodes() == ["https://es-0.es:9200", "https://es-1.es:9200"]
    test_pod = next(o for o in objects if o["kind"] == "Pod")
    env = {e["name"]: e.get("value") for e in test_pod["spec"]["containers"][0]["env"]}
    assert env["ELASTICSEARCH_URL"] == "https://es-0.es:9200, https://es-1.es:9200"


@pytest.mark.parametrize("case", chart.MATRIX)
def test_every_container_is_locked_down(rendered: dict[str, list[dict[str, Any]]], case: str) -> None:
    for name, spec in pod_specs(rendered[case]):
        pod_sc = spec.get("securityContext", {})
        assert pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        shipper = name.endswith("-shipper")
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", name
            assert "resources" in container and container["resources"].get("requests"), name
            if shipper:
                assert sc["capabilities"]["add"] == ["DAC_READ_SEARCH"], name
            else:
                assert not sc["capabilities"].get("add"), name
                assert pod_sc["runAsNonRoot"] is True and pod_sc["runAsUser"] != 0, name


@pytest.mark.parametrize("case", chart.MATRIX)
def test_rbac_only_reads_and_every_part_has_its_own_service_account(
    rendered: dict[str, list[dict[str, Any]]], case: str
) -> None:
    objects = rendered[case]
    for role in [*by_kind(objects, "ClusterRole").values(), *by_kind(objects, "Role").values()]:
        for rule in role["rules"]:
            assert set(rule["verbs"]) <= READ_VERBS, role["metadata"]["name"]
            assert "secrets" not in rule.get("resources", []), role["metadata"]["name"]
    accounts = by_kind(objects, "ServiceAccount")
    parts = {name: spec for name, spec in pod_specs(objects) if by_kind(objects, "Service").get(name)}
    used = [spec["serviceAccountName"] for spec in parts.values()]
    assert len(used) == len(set(used)), f"parts share a ServiceAccount: {used}"
    assert set(used) <= set(accounts), f"missing ServiceAccounts: {set(used) - set(accounts)}"
    for name, spec in parts.items():
        bound = [b for b in by_kind(objects, "ClusterRoleBinding").values()
                 if any(s["name"] == spec["serviceAccountName"] for s in b["subjects"])]
        assert spec["automountServiceAccountToken"] is bool(bound), f"{name}: a token only where RBAC is granted"


def test_secrets_are_referenced_never_inlined(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered["everything-on"]
    for name, spec in pod_specs(objects):
        for container in spec["containers"]:
            env = {e["name"]: e for e in container.get("env", [])}
            for secret_var in ("OBSERVE_ES_PASSWORD", "OBSERVE_ES_API_KEY", "KIBANA_PASSWORD", "KIBANA_USERNAME"):
                if secret_var in env:
                    assert "secretKeyRef" in env[secret_var]["valueFrom"] and "value" not in env[secret_var], name
    deployment = by_kind(objects, "Deployment")["observe-elasticsearch-exporter"]
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["OBSERVE_ES_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "es-credentials", "key": "password"}
    assert env["OBSERVE_ES_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "es-api-key", "key": "api_key"}
    config = chart.config_of(objects)
    assert config["elasticsearch"]["ca_file"] == "/etc/observe/elasticsearch-ca/ca.crt"
    assert not ({"password", "api_key"} & set(config["elasticsearch"]))
    assert not [o for o in objects if o["kind"] == "Secret"], "the chart must not create Secrets holding credentials"
    amc = by_kind(objects, "AlertmanagerConfig")
    for obj in amc.values():
        for receiver in obj["spec"]["receivers"]:
            for email in receiver.get("emailConfigs", []):
                assert email["authPassword"] == {"name": "smtp", "key": "password"}


def test_parts_switch_on_and_off_independently(rendered: dict[str, list[dict[str, Any]]]) -> None:
    def workloads(case: str) -> set[tuple[str, str]]:
        return {(o["kind"], o["metadata"]["name"]) for o in rendered[case] if o["kind"] in WORKLOADS - {"Pod"}}

    assert workloads("defaults") == {
        ("DaemonSet", "observe-shipper"), ("Deployment", "observe-cluster-exporter"),
        ("Deployment", "observe-probe-exporter"), ("Deployment", "observe-elasticsearch-exporter"),
    }
    assert ("Deployment", "observe-trace-puller") in workloads("everything-on")
    assert workloads("everything-off") == set()
    assert {o["kind"] for o in rendered["everything-off"]} == {"ConfigMap"}
    assert ("StatefulSet", "observe-cluster-exporter") in workloads("sharding")
    assert ("Deployment", "observe-cluster-exporter") not in workloads("sharding")


def test_sharded_cluster_exporter_takes_its_shard_from_the_pod_index(rendered: dict[str, list[dict[str, Any]]]) -> None:
    sts = by_kind(rendered["sharding"], "StatefulSet")["observe-cluster-exporter"]
    assert sts["spec"]["replicas"] == 3
    container = sts["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    shard = env["OBSERVE_EXPORTERS__CLUSTER__SHARD"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert shard == "metadata.labels['apps.kubernetes.io/pod-index']"
    assert env["OBSERVE_EXPORTERS__CLUSTER__TOTAL_SHARDS"]["value"] == "3"
    service = by_kind(rendered["sharding"], "Service")["observe-cluster-exporter"]
    assert service["spec"]["clusterIP"] == "None"


def test_shipper_mounts_host_logs_read_only_and_keeps_checkpoints_on_the_host(
    rendered: dict[str, list[dict[str, Any]]]
) -> None:
    ds = by_kind(rendered["defaults"], "DaemonSet")["observe-shipper"]
    spec = ds["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["name"]: m for m in spec["containers"][0]["volumeMounts"]}
    assert volumes["varlog"]["hostPath"]["path"] == "/var/log" and mounts["varlog"]["readOnly"] is True
    assert volumes["checkpoints"]["hostPath"] == {"path": "/var/lib/observe/checkpoints", "type": "DirectoryOrCreate"}
    assert mounts["checkpoints"]["mountPath"] == "/var/lib/observe/checkpoints"
    assert spec["tolerations"] == [{"operator": "Exists"}]
    assert spec["priorityClassName"] == "observe-shipper"
    assert by_kind(rendered["defaults"], "PriorityClass")["observe-shipper"]["value"] == 1000000


def test_prometheus_integration_objects(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered["everything-on"]
    monitors = by_kind(objects, "ServiceMonitor")
    services = by_kind(objects, "Service")
    assert set(monitors) == set(services)
    render_jobs = yaml.safe_load((chart.REPO / "observe/render/values.yaml").read_text())["jobs"]
    for name, monitor in monitors.items():
        assert monitor["spec"]["jobLabel"] == "observe.io/job"
        job = services[name]["metadata"]["labels"]["observe.io/job"]
        assert job in render_jobs.values(), f"{name}: job {job} is not one the dashboards and rules select"
        assert services[name]["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
        relabel = monitor["spec"]["endpoints"][0]["relabelings"][0]
        assert relabel["sourceLabels"] == ["__meta_kubernetes_pod_node_name"] and relabel["targetLabel"] == "node"
    for name, spec in pod_specs(objects):
        if name in services:
            assert spec["containers"][0]["ports"][0]["name"] == "http-metrics"
    rule_files = sorted((chart.CHART / "files" / "prometheusrule").glob("*.yaml"))
    assert len(by_kind(objects, "PrometheusRule")) == len(rule_files)
    dashboard_files = sorted((chart.CHART / "files" / "dashboards").glob("*.json"))
    dashboards = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["labels"].get("grafana_dashboard") == "1"]
    assert len(dashboards) == len(dashboard_files)
    for cm in dashboards:
        assert cm["metadata"]["annotations"] == {"grafana_folder": "observe"}


def test_kibana_import_job_only_when_a_url_is_set(rendered: dict[str, list[dict[str, Any]]]) -> None:
    have_objects = bool(list((chart.CHART / "files" / "kibana").glob("*.ndjson")))
    assert not by_kind(rendered["defaults"], "Job")
    jobs = by_kind(rendered["kibana"], "Job")
    assert bool(jobs) == have_objects
    for job in jobs.values():
        container = job["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        assert env["KIBANA_URL"]["value"] == "https://kibana.logging.svc:5601"
        assert env["KIBANA_SPACE"]["value"] == "platform"
        assert env["KIBANA_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "kibana-credentials", "key": "pass"}


def test_istio_telemetry_samples_at_the_chosen_rate(rendered: dict[str, list[dict[str, Any]]]) -> None:
    assert not by_kind(rendered["defaults"], "Telemetry")
    telemetry = by_kind(rendered["istio"], "Telemetry")["observe-tracing"]
    assert telemetry["metadata"]["namespace"] == "istio-system"
    assert telemetry["spec"]["tracing"] == [{"providers": [{"name": "jaeger"}], "randomSamplingPercentage": 5}]


def test_helm_test_pod_checks_readyz_of_every_enabled_part(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for case in ("defaults", "everything-on"):
        pod = by_kind(rendered[case], "Pod")["observe-test-readyz"]
        assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
        urls = [a for a in pod["spec"]["containers"][0]["command"] if a.startswith("http://")]
        services = by_kind(rendered[case], "Service")
        assert sorted(urls) == sorted(f"http://{n}.observe.svc:9600/readyz" for n in services)


def test_image_tag_is_the_app_version(rendered: dict[str, list[dict[str, Any]]]) -> None:
    app_version = yaml.safe_load((chart.CHART / "Chart.yaml").read_text())["appVersion"]
    for _, spec in pod_specs(rendered["defaults"]):
        assert spec["containers"][0]["image"] == f"ghcr.io/observe/observe:{app_version}"


@pytest.mark.parametrize(("values_file", "key"), [
    ("bad-unknown-key.yaml", "enabeld"),
    ("bad-config-key.yaml", "batch_max_byte"),
    ("bad-es-credentials.yaml", "/elasticsearch/url"),
    ("bad-es-urls.yaml", "/elasticsearch/urls/1"),
])
def test_bad_values_are_refused_naming_the_key(helm_binary: Path, helm_home: Path, values_file: str, key: str) -> None:
    out = chart.run_helm(helm_binary, helm_home, "template", "observe", chart.CHART, "-f",
                         chart.VALUES / values_file, check=False)
    assert out.returncode != 0
    assert "values don't meet the specifications of the schema" in out.stderr
    assert key in out.stderr, out.stderr


def test_rbac_covers_exactly_what_each_part_watches(rendered: dict[str, list[dict[str, Any]]]) -> None:
    from exporters.config import CLUSTER_RESOURCES

    roles = by_kind(rendered["everything-on"], "ClusterRole")

    def resources(part: str) -> set[str]:
        return {r for rule in roles[f"observe-{part}"]["rules"] for r in rule["resources"]}

    assert resources("cluster-exporter") == set(CLUSTER_RESOURCES)
    assert resources("shipper") == {"pods", "namespaces", "replicasets", "jobs"}
    assert resources("probe-exporter") == {"services", "ingresses"}
    assert "observe-elasticsearch-exporter" not in roles and "observe-trace-puller" not in roles


def test_trace_puller_keeps_its_watermark_on_a_writable_volume(rendered: dict[str, list[dict[str, Any]]]) -> None:
    deployment = by_kind(rendered["everything-on"], "Deployment")["observe-trace-puller"]
    spec = deployment["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in spec["containers"][0]["volumeMounts"]}
    state = chart.config_of(rendered["everything-on"])["traces"]["state_file"]
    folder = str(Path(state).parent)
    assert folder in mounts
    assert "emptyDir" in {v["name"]: v for v in spec["volumes"]}[mounts[folder]]
    assert chart.config_of(rendered["everything-on"])["traces"]["jaeger_url"] == "http://jaeger-query.tracing.svc:16686"


def test_every_container_command_is_an_observe_command_that_reads_the_mounted_config(
    rendered: dict[str, list[dict[str, Any]]]
) -> None:
    import click

    from observe.app.cli import cli

    for name, spec in pod_specs(rendered["everything-on"]):
        argv = spec["containers"][0]["command"]
        if argv[0] != "observe":
            continue  # the helm test Pod runs python
        command: click.Command = cli
        for word in argv[1:]:
            if word.startswith("-") or not isinstance(command, click.Group):
                break
            # get_command, not .commands: the root loads some subcommands on first use (observe/app/cli.py), so
            # .commands holds them only after something else asked for them.
            found = command.get_command(click.Context(command), word)
            assert found is not None, f"{name}: `{' '.join(argv)}` is not an observe command"
            command = found
        if name.endswith("-kibana-import-r1"):
            continue  # reads KIBANA_* and the mounted NDJSON files, not the config
        envvars = {p.envvar for p in command.params if isinstance(p, click.Option)}
        assert "OBSERVE_CONFIG" in envvars, f"{name}: `{' '.join(argv)}` does not read OBSERVE_CONFIG"
        env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
        mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
        assert env["OBSERVE_CONFIG"] == f"{mounts['config']}/config.yaml"


def test_empty_dir_logs_mount_the_kubelet_pods_folder_read_only_only_when_asked(
    rendered: dict[str, list[dict[str, Any]]]
) -> None:
    def mounts(case: str) -> dict[str, dict[str, Any]]:
        ds = by_kind(rendered[case], "DaemonSet")["observe-shipper"]
        return {m["name"]: m for m in ds["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}

    assert "kubelet-pods" not in mounts("defaults")
    assert mounts("everything-on")["kubelet-pods"] == {"name": "kubelet-pods", "mountPath": "/var/lib/kubelet/pods",
                                                       "readOnly": True}
    assert chart.config_of(rendered["everything-on"])["logs"]["kubernetes"]["kubelet_root"] == "/var/lib/kubelet"


def test_alertmanager_secret_is_a_config_amtool_accepts(helm_binary: Path, helm_home: Path, tmp_path: Path) -> None:
    import shutil
    import subprocess

    amtool = shutil.which("amtool")
    assert amtool, "amtool (Debian prometheus-alertmanager) is not on PATH"
    objects = chart.template(helm_binary, helm_home, extra=[
        "--set", "alertmanager.kind=Secret", "--set", f"alertmanager.templatesPath={tmp_path}/*.tmpl",
        "--set", "alertmanager.smtp.passwordSecret.name=smtp-auth"])
    secret = by_kind(objects, "Secret")["observe-alertmanager"]
    for key, text in secret["stringData"].items():
        (tmp_path / key).write_text(text)
    config = yaml.safe_load(secret["stringData"]["alertmanager.yaml"])
    assert config["global"]["smtp_auth_password_file"] == "/etc/alertmanager/secrets/smtp-auth/password"
    assert config["templates"] == [f"{tmp_path}/*.tmpl"]
    assert sorted(p.name for p in tmp_path.glob("*.tmpl")) == sorted(
        p.name for p in (chart.CHART / "files" / "alertmanager" / "templates").glob("*.tmpl"))
    out = subprocess.run([amtool, "check-config", str(tmp_path / "alertmanager.yaml")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Found:" in out.stdout and "templates" in out.stdout


def test_bare_cluster_gets_plain_rule_files_scrape_annotations_and_an_alertmanager_secret(
    helm_binary: Path, helm_home: Path, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    # Even with the annotations switched off, a skipped ServiceMonitor brings them back: something must say how
    # to scrape the parts.
    bare = chart.template(helm_binary, helm_home, api_versions=(), extra=["--set", "prometheus.annotations=false"])
    kinds = {o["kind"] for o in bare}
    assert not kinds & {"ServiceMonitor", "PrometheusRule", "AlertmanagerConfig"}, kinds
    rules = by_kind(bare, "ConfigMap")["observe-rules"]
    rule_files = sorted(p.name for p in (chart.CHART / "files" / "rules").glob("*.yaml"))
    assert sorted(rules["data"]) == rule_files
    for name, text in rules["data"].items():
        assert yaml.safe_load(text)["groups"], f"{name}: a Prometheus rule file has groups"
    secret = by_kind(bare, "Secret")["observe-alertmanager"]
    assert "route" in yaml.safe_load(secret["stringData"]["alertmanager.yaml"])
    for name, service in by_kind(bare, "Service").items():
        assert service["metadata"]["annotations"]["prometheus.io/scrape"] == "true", name
    for kind in ("Deployment", "DaemonSet"):
        for name, workload in by_kind(bare, kind).items():
            annotations = workload["spec"]["template"]["metadata"]["annotations"]
            assert annotations["prometheus.io/port"] == "9600", name

    # With the operator's kinds served (the matrix), the operator objects replace the fallbacks.
    served = rendered["defaults"]
    assert by_kind(served, "ServiceMonitor") and by_kind(served, "PrometheusRule")
    assert by_kind(served, "AlertmanagerConfig")
    assert "observe-rules" not in by_kind(served, "ConfigMap")
    assert not by_kind(served, "Secret")


def test_network_policy_admits_only_prometheus_by_default(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """/probe fetches what the caller names: by default only the Prometheus pods the values name may call it."""
    policies = [o for o in rendered["defaults"] if o["kind"] == "NetworkPolicy"]
    assert policies
    for policy in policies:
        [rule] = policy["spec"]["ingress"]
        assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                                 "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}]
        assert rule["ports"] == [{"port": "http-metrics", "protocol": "TCP"}]
    on = [o for o in rendered["everything-on"] if o["kind"] == "NetworkPolicy"]
    assert all(p["spec"]["ingress"][0]["from"] == [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "monitoring"}}}] for p in on)
