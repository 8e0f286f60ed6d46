"""Previewing a file offline (`observe logs parse`): the documents it would be shipped as, through the shipper's own reader."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry

from observe.logs.encode import source_of
from observe.logs.identity import FileIdentity, read_fingerprint
from observe.logs.metrics import ShipperMetrics
from observe.logs.plan import FilePlan, PlanSlot, path_plan
from observe.logs.reader import FileReader

DEFAULT_INDEX = "logs-kubernetes.container-default"


def parse_file(path: Path, *, fmt: str = "auto", max_event_bytes: int = 1024 * 1024, fingerprint_bytes: int = 64,
               plan: FilePlan | None = None, host_name: str | None = None) -> Iterator[bytes]:
    """Yield each document (one JSON object, no newline) of the file, in order."""
    fd = os.open(path, os.O_RDONLY)
    try:
        st = os.fstat(fd)
        ident = FileIdentity(st.st_dev, st.st_ino, read_fingerprint(fd, fingerprint_bytes) or os.pread(fd, fingerprint_bytes, 0))
        plan = plan or path_plan(str(path), os.path.realpath(path), host_name=host_name or socket.gethostname(),
                                 node_name=None, fmt=fmt)
        reader = FileReader(fd, ident, os.path.realpath(path), 0, PlanSlot(plan), DEFAULT_INDEX,
                            ShipperMetrics(CollectorRegistry()), read_bytes=1024 * 1024,
                            max_event_bytes=max_event_bytes, on_advance=lambda: None)
        while True:
            seg = reader.read()
            if seg is None:
                break
            for item in seg.items:
                yield source_of(item)
        for item in reader.finish().items:
            yield source_of(item)
    finally:
        os.close(fd)
