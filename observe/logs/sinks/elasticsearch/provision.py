"""Provisioning: engine detection, the lifecycle policy (ILM or ISM) and the index templates of every data stream."""

from __future__ import annotations

import logging

import orjson

from observe.es_connection import Connection, HttpError
from observe.logs.config import LogsConfig
from observe.logs.sinks.elasticsearch import mappings, templates

log = logging.getLogger("observe.logs.bulk")


class Provisioner:
    """Installs what the data streams need, idempotently; `engine` and `lifecycle` tell what it found."""

    def __init__(self, conn: Connection, logs: LogsConfig, engine: str) -> None:
        self.conn = conn
        self.logs = logs
        self.engine = engine
        self.lifecycle: str | None = None

    async def detect_engine(self) -> str:
        """`opensearch` when GET / says so; otherwise Elasticsearch (a core node has no GET /)."""
        if self.engine != "auto":
            return self.engine
        status, raw = await self.conn.request("GET", "/")
        if status == 200:
            try:
                info = orjson.loads(raw)
                if info.get("version", {}).get("distribution") == "opensearch":
                    return "opensearch"
            except (orjson.JSONDecodeError, AttributeError):
                pass
        return "elasticsearch"

    async def setup(self, streams: set[str]) -> None:
        """Install the lifecycle policy (when supported) and the templates, `streams` (more data streams) included."""
        self.engine = await self.detect_engine()
        if not self.logs.install_templates:
            return
        self.lifecycle = await self._install_lifecycle() if self.logs.lifecycle.enabled else None
        cfg, put = self.logs, self.conn.put
        await put(f"/_component_template/{templates.COMPONENT_SETTINGS}",
                  {"template": {"settings": templates.settings(cfg, lifecycle=self.lifecycle)}})
        await put(f"/_component_template/{templates.COMPONENT_MAPPINGS}",
                  {"template": {"mappings": mappings.log_mappings()}})
        await put(f"/_component_template/{templates.COMPONENT_DEADLETTER}",
                  {"template": {"mappings": mappings.deadletter_mappings()}})
        await put(f"/_index_template/{templates.template_name(cfg.data_stream)}", templates.index_template(
            cfg.data_stream, [templates.COMPONENT_SETTINGS, templates.COMPONENT_MAPPINGS]))
        await put(f"/_index_template/{templates.template_name(cfg.deadletter_data_stream)}", templates.index_template(
            cfg.deadletter_data_stream, [templates.COMPONENT_SETTINGS, templates.COMPONENT_DEADLETTER]))
        for name in sorted(streams - {cfg.data_stream}):
            await self.install_stream(name)
        log.info("data stream templates installed", extra={
            "url.full": self.conn.describe(), "observe.engine": self.engine, "observe.lifecycle": self.lifecycle or "none",
            "observe.data_stream": cfg.data_stream})

    async def install_stream(self, name: str) -> None:
        """The index template of one more log data stream (one a pod chose by annotation)."""
        await self.conn.put(f"/_index_template/{templates.template_name(name)}",
                            templates.index_template(name, [templates.COMPONENT_SETTINGS, templates.COMPONENT_MAPPINGS]))

    async def _install_lifecycle(self) -> str | None:
        if self.engine == "opensearch":
            path = f"/_plugins/_ism/policies/{templates.POLICY}"
            status, _ = await self.conn.request("GET", path)
            if status == 200:
                return "ism"
            status, raw = await self.conn.request("PUT", path, templates.ism_policy(self.logs))
            if status < 300 or status == 409:
                return "ism"
            what = "ISM"
        else:
            status, raw = await self.conn.request("PUT", f"/_ilm/policy/{templates.POLICY}",
                                                  templates.ilm_policy(self.logs))
            if status < 300:
                return "ilm"
            what = "ILM"
        if status in (401, 403):
            raise HttpError(status, raw)
        log.warning(f"this server has no {what}; data streams are created without a lifecycle policy (retention is "
                    "up to you)", extra={"url.full": self.conn.describe(), "http.response.status_code": status,
                                         "error.message": raw[:200].decode(errors="replace")})
        return None
