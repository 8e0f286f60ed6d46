"""Kibana saved objects: the NDJSON is well formed, and `observe kibana import` builds the request Kibana expects.

Kibana itself cannot run here, so the import is checked against a recorder on 127.0.0.1 that answers the way
Kibana's `_import` API documents (this tests how we build the request, not Kibana).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner

from observe.logs.kibana import auth_headers, import_files, import_url, kibana_group, load_objects, saved_objects_dir


def all_objects() -> list[dict[str, Any]]:
    files = sorted(saved_objects_dir().glob("*.ndjson"))
    assert files, "dashboards/kibana has no NDJSON"
    return [o for f in files for o in load_objects(f)]


def test_saved_objects_are_importable_shapes() -> None:
    objects = all_objects()
    ids = {(o["type"], o["id"]) for o in objects}
    assert len(ids) == len(objects), "duplicate saved object ids"
    views = [o for o in objects if o["type"] == "index-pattern"]
    assert {v["attributes"]["timeFieldName"] for v in views} == {"@timestamp"}
    assert "logs-kubernetes" in {v["id"] for v in views}  # Grafana's Kibana links use this data view id
    for obj in objects:
        assert set(obj) >= {"type", "id", "attributes", "references"}
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in ids, f"{obj['id']} references a missing {ref}"
        if obj["type"] == "search":
            source = json.loads(obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
            assert source["query"]["language"] == "lucene", obj["id"]
            assert source["indexRefName"] in {r["name"] for r in obj["references"]}


def test_a_broken_ndjson_line_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"type":"search","id":"a","attributes":{}}\n{oops\n')
    with pytest.raises(ValueError, match=r"bad.ndjson:2"):
        load_objects(bad)


def test_import_url_with_and_without_space() -> None:
    assert import_url("https://k:5601/", None) == "https://k:5601/api/saved_objects/_import?overwrite=true"
    assert import_url("https://k:5601", "team-a") == "https://k:5601/s/team-a/api/saved_objects/_import?overwrite=true"


def test_auth_from_env_prefers_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OBSERVE_KIBANA_API_KEY", "KIBANA_API_KEY", "OBSERVE_KIBANA_USERNAME", "KIBANA_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    assert auth_headers() == {}
    monkeypatch.setenv("KIBANA_USERNAME", "elastic")
    monkeypatch.setenv("KIBANA_PASSWORD", "s3cret")
    assert auth_headers() == {"Authorization": "Basic ZWxhc3RpYzpzM2NyZXQ="}
    monkeypatch.setenv("OBSERVE_KIBANA_API_KEY", "abc==")
    assert auth_headers() == {"Authorization": "ApiKey abc=="}


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        form = await request.post()
        upload = form["file"]
        assert isinstance(upload, web.FileField)
        lines = [json.loads(x) for x in upload.file.read().decode().splitlines() if x.strip()]
        seen.append({"path": request.path_qs, "headers": dict(request.headers), "objects": lines})
        if request.headers.get("Authorization") != "ApiKey k3y":
            return web.json_response({"statusCode": 401, "error": "Unauthorized"}, status=401)
        return web.json_response({"success": True, "successCount": len(lines), "successResults": []})

    app = web.Application()
    app.router.add_post("/s/{space}/api/saved_objects/_import", handle)
    app.router.add_post("/api/saved_objects/_import", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


async def test_import_posts_each_file_as_multipart_with_xsrf_and_auth(
    recorder: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen = recorder
    monkeypatch.setenv("OBSERVE_KIBANA_API_KEY", "k3y")
    files = sorted(saved_objects_dir().glob("*.ndjson"))
    results = await import_files(url, files, space="ops")
    assert [r.success for r in results] == [True] * len(files)
    assert sum(r.count for r in results) == len(all_objects())
    [req] = seen[:1]
    assert req["path"] == "/s/ops/api/saved_objects/_import?overwrite=true"
    assert req["headers"]["kbn-xsrf"] and req["headers"]["Authorization"] == "ApiKey k3y"
    assert req["objects"] == load_objects(files[0])


async def test_import_reports_a_refusal(recorder: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = recorder
    monkeypatch.setenv("OBSERVE_KIBANA_API_KEY", "wrong")
    [result, *_] = await import_files(url, sorted(saved_objects_dir().glob("*.ndjson")))
    assert not result.success and "HTTP 401" in result.errors[0]


def test_cli_exits_nonzero_when_kibana_is_unreachable() -> None:
    result = CliRunner().invoke(kibana_group, ["import", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "observe kibana import:" in result.output
