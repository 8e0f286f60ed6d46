"""Kibana's saved searches, run as Lucene `query_string` on the real Elasticsearch over a seeded corpus.

The corpus is built the way the shipper builds documents (enriched kubernetes fields, dedotted labels,
parsers and multiline error fields) and indexed into data streams under the shipper's mappings. Kibana cannot
run here, so each saved search's query runs against the indices its data view names, and `_field_caps` proves
every field it names exists with the right type and that clashing labels across namespaces never conflict.
"""

from __future__ import annotations

import fnmatch
import json
import re
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

from observe.logs.annotations import dedot
from observe.logs.event import flag_names
from observe.logs.kibana import load_objects, saved_objects_dir
from observe.logs.multiline import Merger, rule_for
from observe.logs.parsers import JsonParser, NginxParser
from observe.logs.sinks.elasticsearch.mappings import deadletter_mappings, log_mappings
from observe.logs.stack_traces import error_fields
from observe.merge import deep_merge
from tests.peers import base
from tests.unit.logs import traces

pytestmark = pytest.mark.integration


def es(peer: base.Peer, method: str, path: str, body: Any = None, ndjson: bytes | None = None) -> Any:
    data = ndjson if ndjson is not None else (json.dumps(body).encode() if body is not None else None)
    ctype = "application/x-ndjson" if ndjson is not None else "application/json"
    req = urllib.request.Request(peer.url + path, data=data, method=method, headers={"content-type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{method} {path}: HTTP {exc.code}: {exc.read()[:2000]!r}") from None


def pod_fields(ns: str, pod: str, labels: dict[str, str], ns_labels: dict[str, str], deployment: str | None) -> dict[str, Any]:
    kube: dict[str, Any] = {
        "namespace": ns, "pod": {"name": pod, "uid": str(uuid.uuid4())}, "node": {"name": "node-1"},
        "labels": {dedot(k): v for k, v in labels.items()}, "namespace_labels": {dedot(k): v for k, v in ns_labels.items()},
    }
    if deployment:
        kube["deployment"] = {"name": deployment}
    return {"kubernetes": kube, "container": {"name": pod.split("-")[0], "image": {"name": f"registry.local/{pod}:1"}}}


def doc(base_fields: dict[str, Any], message: str, *, offset: int, parser: Any = None, stream: str = "stdout") -> dict[str, Any]:
    d: dict[str, Any] = {"@timestamp": f"2024-05-14T09:{offset // 60 % 60:02d}:{offset % 60:02d}Z", "message": message,
                         "log": {"offset": offset, "iostream": stream, "file": {"path": "/var/log/containers/x.log"}}}
    d = deep_merge(d, json.loads(json.dumps(base_fields)))
    if parser is not None:
        out = parser.parse(message)
        d = deep_merge(d, out.fields)
        if out.message is not None:
            d["message"] = out.message
        if out.flags:
            d["log"]["flags"] = flag_names(out.flags)
    d = deep_merge(d, error_fields(d["message"]))
    return d


def merged(mode: str, text: str) -> str:
    m: Merger[str, int] = Merger()
    rule = rule_for(mode)
    out = []
    for i, line in enumerate(text.split("\n")):
        out += m.feed("k", rule, line, i, 0.0)
    out += list(m.drain())
    assert len(out) == 1
    return out[0].message


@pytest.fixture(scope="module")
def corpus(elasticsearch: base.Peer) -> dict[str, Any]:
    """Index the corpus; return the data stream names and the ids each saved search must return."""
    tag = uuid.uuid4().hex[:8]
    app, ingress = f"logs-kt{tag}.app-default", f"logs-kt{tag}.ingress-default"
    dead = f"logs-observe.deadletter-kt{tag}"
    # The shipper's own mappings (observe/logs/sinks/elasticsearch/mappings.py: encoder, enrichment and parser fields).
    for name, patterns, mappings in ((f"kt{tag}", [f"logs-kt{tag}.*"], log_mappings()),
                                     (f"kt{tag}-dead", [dead], deadletter_mappings())):
        es(elasticsearch, "PUT", f"/_index_template/{name}", {
            "index_patterns": patterns, "data_stream": {}, "priority": 900,
            "template": {"settings": {"number_of_replicas": 0}, "mappings": mappings},
        })
    # Two namespaces whose labels clash before dedotting: `app` (a string) and `app.kubernetes.io/name` (which
    # would make `app` an object), plus a numeric-looking value next to a word.
    web_a = pod_fields("shop-a", "web-7d9f-abcde", {"app": "web", "tier": "3"}, {"team": "a"}, "web")
    web_b = pod_fields("shop-b", "web-55c4-fghij", {"app.kubernetes.io/name": "web", "app.kubernetes.io/version": "1.2",
                                                    "tier": "frontend"}, {"kubernetes.io/metadata.name": "shop-b"}, "web")
    nginx = pod_fields("ingress-nginx", "controller-6b5f-klmno", {"app.kubernetes.io/name": "ingress-nginx"},
                       {"kubernetes.io/metadata.name": "ingress-nginx"}, "ingress-nginx-controller")
    js = JsonParser()
    docs: dict[str, tuple[str, dict[str, Any]]] = {
        "a-json-error": (app, doc(web_a, '{"level":"ERROR","msg":"charge failed","status":"ok"}', offset=1, parser=js)),
        "a-spring": (app, doc(web_a, merged("java", traces.SPRING_CAUSED_BY), offset=2)),
        "a-info": (app, doc(web_a, "GET /healthz 200", offset=3)),
        "a-dubbo": (app, doc(web_a, merged("auto", traces.DUBBO), offset=4, stream="stderr")),
        "b-python": (app, doc(web_b, merged("python", traces.PYTHON), offset=5, stream="stderr")),
        "b-json-info": (app, doc(web_b, '{"level":"info","msg":"ok","status":200}', offset=6, parser=js)),
        "b-go": (app, doc(web_b, merged("go", traces.GO_PANIC), offset=7, stream="stderr")),
        "b-not-json": (app, doc(web_b, "plain text, not json", offset=8, parser=js)),
        "n-5xx": (ingress, doc(nginx, traces.INGRESS_5XX, offset=9, parser=NginxParser())),
        "n-200": (ingress, doc(nginx, traces.INGRESS_5XX.replace("502 150", "200 150"), offset=10, parser=NginxParser())),
        "n-combined-500": (ingress, doc(nginx, traces.NGINX_COMBINED.replace(" 200 ", " 500 "), offset=11, parser=NginxParser())),
        "dead-1": (dead, {"@timestamp": "2024-05-14T09:20:00Z", "message": "raw line",
                          "error": {"type": "mapper_parsing_exception", "message": "failed to parse field [json.a]"},
                          "event": {"original": "raw line"}, "log": {"offset": 12, "file": {"path": "/var/log/x.log"}},
                          "observe": {"deadletter": {"data_stream": app, "status": 400, "reason": "mapping"}}}),
    }
    lines = b""
    for doc_id, (index, body) in docs.items():
        lines += json.dumps({"create": {"_index": index, "_id": doc_id}}).encode() + b"\n" + json.dumps(body).encode() + b"\n"
    resp = es(elasticsearch, "POST", "/_bulk?refresh=true", ndjson=lines)
    assert not resp["errors"], [i for i in resp["items"] if i["create"].get("error")]
    return {
        "indices": [app, ingress, dead],
        "pod": ("shop-a", "web-7d9f-abcde"),
        "expect": {
            "observe-errors-by-namespace": {"a-json-error", "a-spring", "a-dubbo", "b-python", "b-go"},
            "observe-java-stack-traces": {"a-spring", "a-dubbo"},
            "observe-pod-logs": {"a-json-error", "a-spring", "a-info", "a-dubbo"},
            "observe-ingress-5xx": {"n-5xx"},
            "observe-dead-lettered": {"dead-1"},
        },
    }


def saved() -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    objects = [o for p in sorted(saved_objects_dir().glob("*.ndjson")) for o in load_objects(p)]
    views = {o["id"]: o for o in objects if o["type"] == "index-pattern"}
    return views, [o for o in objects if o["type"] == "search"]


def search_source(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"]))


def view_of(obj: dict[str, Any], views: dict[str, dict[str, Any]]) -> dict[str, Any]:
    [ref] = [r for r in obj["references"] if r["name"] == search_source(obj)["indexRefName"]]
    return views[ref["id"]]


def lucene_fields(query: str) -> set[str]:
    """Field names a Lucene query mentions (`field:` and `_exists_:field`)."""
    names = {m.replace("\\", "") for m in re.findall(r"(?<![\w.\\])([A-Za-z@][\w.@]*(?:\\/[\w.]+)?):", query)}
    names |= set(re.findall(r"_exists_:([\w.@]+)", query))
    return names - {"_exists_"}


def matches(title: str, index: str) -> bool:
    """Whether an index expression (comma-separated globs, `-` to exclude) selects `index`."""
    parts = [p.strip() for p in title.split(",")]
    included = any(fnmatch.fnmatch(index, p) for p in parts if not p.startswith("-"))
    return included and not any(fnmatch.fnmatch(index, p[1:]) for p in parts if p.startswith("-"))


def test_each_saved_search_returns_its_expected_events(elasticsearch: base.Peer, corpus: dict[str, Any]) -> None:
    views, searches = saved()
    assert {s["id"] for s in searches} == set(corpus["expect"])
    for obj in searches:
        source = search_source(obj)
        assert source["query"]["language"] == "lucene", obj["id"]
        query = source["query"]["query"]
        if obj["id"] == "observe-pod-logs":
            ns, pod = corpus["pod"]
            query = query.replace('"default"', f'"{ns}"').replace('"my-pod"', f'"{pod}"')
        title = view_of(obj, views)["attributes"]["title"]
        mine = [i for i in corpus["indices"] if matches(title, i)]
        assert mine, f"{obj['id']}: data view {title} matches none of the corpus streams"
        sort = [{field: {"order": order}} for field, order in obj["attributes"]["sort"]]
        hits = es(elasticsearch, "POST", f"/{','.join(mine)}/_search",
                  {"size": 100, "query": {"query_string": {"query": query}}, "sort": sort})["hits"]["hits"]
        assert {h["_id"] for h in hits} == corpus["expect"][obj["id"]], obj["id"]
        if obj["id"] == "observe-pod-logs":
            assert [h["_id"] for h in hits] == ["a-json-error", "a-spring", "a-info", "a-dubbo"]


def test_every_field_a_saved_object_names_exists_with_its_type(elasticsearch: base.Peer, corpus: dict[str, Any]) -> None:
    caps = es(elasticsearch, "GET", f"/{','.join(corpus['indices'])}/_field_caps?fields=*")["fields"]
    expected_types = {"http.response.status_code": "long", "event.duration": "long", "source.ip": "ip",
                      "@timestamp": "date_nanos", "log.offset": "long", "message": "text"}
    views, searches = saved()
    for view in views.values():
        assert view["attributes"]["timeFieldName"] in caps
    for obj in searches:
        attrs = obj["attributes"]
        fields = set(attrs["columns"]) | {f for f, _ in attrs["sort"]} | lucene_fields(search_source(obj)["query"]["query"])
        for name in fields:
            assert name in caps, f"{obj['id']} names {name}, which no corpus index has"
            if name in expected_types:
                assert set(caps[name]) == {expected_types[name]}, (name, caps[name])


def test_clashing_labels_across_namespaces_never_conflict(elasticsearch: base.Peer, corpus: dict[str, Any]) -> None:
    caps = es(elasticsearch, "GET", f"/{','.join(corpus['indices'])}/_field_caps?fields=*")["fields"]
    conflicts = {name: sorted(types) for name, types in caps.items() if len(types) > 1}
    assert conflicts == {}
    assert caps["kubernetes.labels.app"] == {"keyword": caps["kubernetes.labels.app"]["keyword"]}
    assert "keyword" in caps["kubernetes.labels.app_kubernetes_io/name"]
    assert "keyword" in caps["kubernetes.labels.tier"]
    assert "keyword" in caps["kubernetes.namespace_labels.kubernetes_io/metadata_name"]
    assert "keyword" in caps["json.status"]
    hits = es(elasticsearch, "POST", f"/{corpus['indices'][0]}/_search", {
        "query": {"query_string": {"query": r"kubernetes.labels.app_kubernetes_io\/name:web"}}})["hits"]["hits"]
    assert {h["_id"] for h in hits} == {"b-python", "b-json-info", "b-go", "b-not-json"}


def test_clashing_labels_never_conflict_on_opensearch_either(opensearch: base.Peer) -> None:
    tag = uuid.uuid4().hex[:8]
    stream = f"logs-kt{tag}.os-default"
    es(opensearch, "PUT", f"/_index_template/kt{tag}", {
        "index_patterns": [stream], "data_stream": {}, "priority": 900,
        "template": {"settings": {"number_of_replicas": 0}, "mappings": log_mappings()}})
    a = pod_fields("shop-a", "web-a", {"app": "web", "tier": "3"}, {"team": "a"}, "web")
    b = pod_fields("shop-b", "web-b", {"app.kubernetes.io/name": "web", "tier": "frontend"},
                   {"kubernetes.io/metadata.name": "shop-b"}, None)
    js = JsonParser()
    lines = b""
    for i, body in enumerate([doc(a, '{"status":"ok"}', offset=1, parser=js), doc(b, '{"status":200}', offset=2, parser=js)]):
        lines += json.dumps({"create": {"_index": stream, "_id": str(i)}}).encode() + b"\n" + json.dumps(body).encode() + b"\n"
    resp = es(opensearch, "POST", "/_bulk?refresh=true", ndjson=lines)
    assert not resp["errors"], resp["items"]
    caps = es(opensearch, "GET", f"/{stream}/_field_caps?fields=*")["fields"]
    assert {name: sorted(types) for name, types in caps.items() if len(types) > 1} == {}
    for name in ("kubernetes.labels.app", "kubernetes.labels.app_kubernetes_io/name", "kubernetes.labels.tier", "json.status"):
        assert list(caps[name]) == ["keyword"], (name, caps[name])
