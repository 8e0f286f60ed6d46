"""The Kibana import script of the chart's Job: the request it builds (pure logic; Kibana cannot run here)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from observe.chart_values_reference import chart_dir


def script() -> ModuleType:
    path = chart_dir() / "scripts" / "kibana_import.py"
    spec = importlib.util.spec_from_file_location("kibana_import", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_import_url_prefixes_non_default_spaces() -> None:
    ki = script()
    assert ki.import_url("http://k:5601/", "") == "http://k:5601/api/saved_objects/_import?overwrite=true"
    assert ki.import_url("http://k:5601", "default") == "http://k:5601/api/saved_objects/_import?overwrite=true"
    assert ki.import_url("http://k:5601", "ops") == "http://k:5601/s/ops/api/saved_objects/_import?overwrite=true"


def test_request_is_multipart_with_xsrf_header_and_basic_auth(tmp_path: Path) -> None:
    ki = script()
    req = ki.request("http://k/api/saved_objects/_import", "objects.ndjson", b'{"id":"a"}\n', "elastic", "s3cret")
    assert req.get_method() == "POST"
    assert req.get_header("Kbn-xsrf") == "observe"
    assert req.get_header("Authorization") == "Basic ZWxhc3RpYzpzM2NyZXQ="
    boundary = req.get_header("Content-type").split("boundary=")[1]
    body = req.data
    assert body.startswith(f"--{boundary}\r\n".encode())
    assert b'name="file"; filename="objects.ndjson"' in body
    assert b'{"id":"a"}\n\r\n--' + boundary.encode() + b"--\r\n" in body


def test_request_without_credentials_sends_no_authorization() -> None:
    req = script().request("http://k/x", "o.ndjson", b"", "", "")
    assert req.get_header("Authorization") is None
