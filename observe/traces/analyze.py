"""Offline analysis of a Jaeger JSON export: the service graph with exact percentiles, as one JSON object."""

from __future__ import annotations

import math
from typing import Any

import msgspec

from observe.traces.model import (
    KIND_CLIENT,
    KIND_SERVER,
    STATUS_ERROR,
    Span,
    decode_response_bounded,
    decode_spans_or_skip,
    gc_paused,
)
from observe.traces.names import NameNormaliser
from observe.traces.pairing import Pairer


def percentile(sorted_values: list[int], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    return float(sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)])


def _number(value: float) -> float | int:
    return int(value) if value == int(value) else round(value, 3)


class Analysis:
    """A pairing sink that keeps every edge's client latencies for exact percentiles."""

    def __init__(self) -> None:
        self.edges: dict[tuple[str, str], list[Any]] = {}  # -> [requests, errors, durations_us]
        self.services: dict[str, list[float]] = {}  # -> [requests, errors]
        self.unpaired_count = 0.0

    def _service(self, span: Span) -> None:
        row = self.services.setdefault(span.service, [0.0, 0.0])
        row[0] += span.weight
        if span.status == STATUS_ERROR:
            row[1] += span.weight

    def span(self, span: Span) -> None:
        # Services seen only as callers still appear, with zero requests answered.
        self.services.setdefault(span.service, [0.0, 0.0])
        if span.kind == KIND_SERVER or (span.kind == KIND_CLIENT and not span.parent_id):
            self._service(span)

    def pair(self, client: Span, server: Span, connection: str = "") -> None:
        row = self.edges.setdefault((client.service, server.service), [0.0, 0.0, []])
        row[0] += client.weight
        if client.status == STATUS_ERROR or server.status == STATUS_ERROR:
            row[1] += client.weight
        row[2].append(client.duration_us)
        if server.kind == KIND_CLIENT and server.parent_id:
            self._service(server)

    def unpaired(self, span: Span) -> None:
        self.unpaired_count += span.weight

    def result(self) -> dict[str, Any]:
        """The report: edges sorted by client then server, services by name, and the unpaired count."""
        edges = []
        for (client, server), (requests, errors, durations) in sorted(self.edges.items()):
            durations.sort()
            edges.append({"client": client, "server": server, "requests": _number(requests),
                          "errors": _number(errors), "p50_ms": round(percentile(durations, 0.50) / 1000, 3),
                          "p95_ms": round(percentile(durations, 0.95) / 1000, 3)})
        services = [{"name": name, "requests": _number(r), "errors": _number(e)}
                    for name, (r, e) in sorted(self.services.items())]
        return {"edges": edges, "services": services, "unpaired": _number(self.unpaired_count)}


def analyze(body: bytes, sampling_rate: float = 1.0, rejected: dict[str, int] | None = None) -> dict[str, Any]:
    """Analyse an /api/traces-shaped body ({"data": [trace, ...]}, a UTF-8 BOM allowed); raises msgspec.DecodeError
    on bad input or a body without `data`. Traces that cannot be decoded are skipped and counted in `rejected`."""
    analysis = Analysis()
    pairer = Pairer(analysis)
    name_of = NameNormaliser()
    counts = rejected if rejected is not None else {}
    malformed = counts.get("trace_malformed", 0)
    with gc_paused():
        traces = decode_response_bounded(body, counts)
        if traces is None:
            raise msgspec.DecodeError('no "data" list of traces in it')
        if not traces and counts.get("trace_malformed", 0) > malformed:
            raise msgspec.DecodeError("none of its traces has the shape of a Jaeger trace")
        for trace in traces:
            pairer.add_all(decode_spans_or_skip(trace, sampling_rate, name_of, counts))
    pairer.flush()
    return analysis.result()
