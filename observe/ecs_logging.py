"""Structured JSON logs to stdout with ECS field names."""

from __future__ import annotations

import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

import orjson

# Attributes every LogRecord has; anything else passed in `extra=` becomes a field.
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class EcsFormatter(logging.Formatter):
    """Formats a record as one ECS JSON line."""

    def __init__(self, service_name: str) -> None:
        super().__init__()
        self.service_name = service_name

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "@timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "log.level": record.levelname.lower(),
            "message": record.getMessage(),
            "log.logger": record.name,
            "service.name": self.service_name,
            "ecs.version": "8.11.0",
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                doc[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            etype, evalue, tb = record.exc_info
            doc["error.type"] = etype.__name__
            doc["error.message"] = str(evalue)
            doc["error.stack_trace"] = "".join(traceback.format_exception(etype, evalue, tb))
        return orjson.dumps(doc, default=str).decode()


def setup_logging(level: str = "info", service_name: str = "observe") -> None:
    """Send every log record to stdout as ECS JSON."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(EcsFormatter(service_name))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
