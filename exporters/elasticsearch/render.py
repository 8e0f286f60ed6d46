"""Stats documents -> Prometheus text with the prometheus-community elasticsearch_exporter names."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from observe.exposition import header, labels, number, sample

COLORS = ("green", "yellow", "red")
_BACKING = re.compile(r"^\.ds-(.+?)(?:-\d{4}\.\d{2}\.\d{2})?-\d{6}$")

Doc = Mapping[str, Any]

FAMILIES: dict[str, tuple[str, str]] = {
    "elasticsearch_cluster_health_status": ("gauge", "Whether all primary and replica shards are allocated, by color "
                                            "(1 for the current one)."),
    "elasticsearch_cluster_health_number_of_nodes": ("gauge", "Number of nodes in the cluster."),
    "elasticsearch_cluster_health_active_shards": ("gauge", "Aggregate total of all shards across all indices, "
                                                   "including replicas."),
    "elasticsearch_cluster_health_unassigned_shards": ("gauge", "The number of shards that exist in the cluster "
                                                       "state but cannot be found in the cluster itself."),
    "elasticsearch_jvm_memory_used_bytes": ("gauge", "JVM memory currently used by area."),
    "elasticsearch_jvm_memory_max_bytes": ("gauge", "JVM memory max by area."),
    "elasticsearch_thread_pool_queue_count": ("gauge", "Thread pool operations queued."),
    # Monotonic, but typed gauge: a counter's name must end in _total and these names are fixed by compatibility.
    "elasticsearch_thread_pool_rejected_count": ("gauge", "Thread pool operations rejected (monotonic; use rate())."),
    "elasticsearch_indices_indexing_index_total": ("counter", "Total index calls."),
    "elasticsearch_indices_indexing_index_time_seconds_total": ("counter", "Cumulative index time in seconds."),
    "elasticsearch_filesystem_data_available_bytes": ("gauge", "Available space on block device in bytes."),
    "elasticsearch_filesystem_data_size_bytes": ("gauge", "Size of block device in bytes."),
    "elasticsearch_breakers_tripped": ("gauge", "Number of times the circuit breaker has been tripped (monotonic; "
                                       "use rate())."),
    "elasticsearch_data_stream_docs_count": ("gauge", "Documents in the backing indices of a data stream "
                                             "(primaries)."),
    "elasticsearch_data_stream_store_size_bytes": ("gauge", "Store size of a data stream's backing indices "
                                                   "(primaries and replicas)."),
}


class Text:
    """Samples grouped by family, each family with its HELP and TYPE once."""

    def __init__(self) -> None:
        self.lines: dict[str, list[str]] = {name: [] for name in FAMILIES}

    def add(self, name: str, value: Any, pairs: tuple[tuple[str, str], ...] = ()) -> None:
        """One sample; values that are missing or not numbers are skipped."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return
        self.lines[name].append(sample(name, labels(pairs), number(value)))

    def render(self, openmetrics: bool = False) -> bytes:
        """The text of every family that has samples; OpenMetrics names a counter family without _total."""
        out: list[str] = []
        for name, samples in self.lines.items():
            if samples:
                kind, help_text = FAMILIES[name]
                out.append(header(name, kind, help_text, openmetrics))
                out.extend(samples)
        return "".join(out).encode()


_INF = float("inf")


def _obj(value: Any) -> Doc:
    """value when it is a JSON object, else an empty one: a part of an answer in another shape (another engine's
    or version's, or a proxy's) costs only the figures under it."""
    return value if isinstance(value, Mapping) else {}


def _count(value: Any) -> int | None:
    """A whole count from a stats field (absent: 0), or None when it is not a number."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value in (_INF, -_INF):
        return None
    return int(value)


def health(text: Text, doc: Doc) -> None:
    """_cluster/health."""
    doc = _obj(doc)
    color = doc.get("status")
    for c in COLORS:
        text.add("elasticsearch_cluster_health_status", 1 if c == color else 0, (("color", c),))
    text.add("elasticsearch_cluster_health_number_of_nodes", doc.get("number_of_nodes"))
    text.add("elasticsearch_cluster_health_active_shards", doc.get("active_shards"))
    text.add("elasticsearch_cluster_health_unassigned_shards", doc.get("unassigned_shards"))


def nodes(text: Text, doc: Doc) -> None:
    """_nodes/stats: heap, write queue, rejections of every pool, indexing, disk, breakers."""
    for value in _obj(_obj(doc).get("nodes")).values():
        node = _obj(value)
        name = str(node.get("name", ""))
        heap = _obj(_obj(node.get("jvm")).get("mem"))
        text.add("elasticsearch_jvm_memory_used_bytes", heap.get("heap_used_in_bytes"), (("area", "heap"), ("name", name)))
        text.add("elasticsearch_jvm_memory_max_bytes", heap.get("heap_max_in_bytes"), (("area", "heap"), ("name", name)))
        for pool, stats in sorted(_obj(node.get("thread_pool")).items()):
            stats = _obj(stats)
            if pool == "write":
                text.add("elasticsearch_thread_pool_queue_count", stats.get("queue"), (("type", pool), ("name", name)))
            text.add("elasticsearch_thread_pool_rejected_count", stats.get("rejected"), (("type", pool), ("name", name)))
        indexing = _obj(_obj(node.get("indices")).get("indexing"))
        text.add("elasticsearch_indices_indexing_index_total", indexing.get("index_total"), (("name", name),))
        millis = indexing.get("index_time_in_millis")
        if isinstance(millis, int | float) and not isinstance(millis, bool):
            text.add("elasticsearch_indices_indexing_index_time_seconds_total", millis / 1000, (("name", name),))
        fs = _obj(_obj(node.get("fs")).get("total"))
        text.add("elasticsearch_filesystem_data_available_bytes", fs.get("available_in_bytes"), (("name", name),))
        text.add("elasticsearch_filesystem_data_size_bytes", fs.get("total_in_bytes"), (("name", name),))
        for breaker, stats in sorted(_obj(node.get("breakers")).items()):
            text.add("elasticsearch_breakers_tripped", _obj(stats).get("tripped"), (("breaker", breaker), ("name", name)))


def data_stream_of(index: str) -> str | None:
    """The data stream owning a backing index (.ds-<name>[-<date>]-<generation>), or None."""
    m = _BACKING.match(index)
    return m.group(1) if m else None


def data_streams(text: Text, doc: Doc) -> None:
    """Index-level _stats of the .ds-* backing indices, summed per data stream.

    Index stats work on both engines and on clusters without the _data_stream APIs, and give document counts,
    which _data_stream/_stats does not. A stream with a backing index whose figure is not a number has no sample
    of that figure: a sum without it would be too small and look true.
    """
    docs: dict[str, int | None] = {}
    size: dict[str, int | None] = {}
    for index, value in _obj(_obj(doc).get("indices")).items():
        ds = data_stream_of(index)
        if ds is None:
            continue
        stats = _obj(value)
        for sums, figure in ((docs, _count(_obj(_obj(stats.get("primaries")).get("docs")).get("count"))),
                             (size, _count(_obj(_obj(stats.get("total")).get("store")).get("size_in_bytes")))):
            before = sums.get(ds, 0)
            sums[ds] = None if before is None or figure is None else before + figure
    for ds in sorted(docs):
        text.add("elasticsearch_data_stream_docs_count", docs[ds], (("data_stream", ds),))
        text.add("elasticsearch_data_stream_store_size_bytes", size[ds], (("data_stream", ds),))
