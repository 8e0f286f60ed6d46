"""The pods' protobuf renderer (render_message, used for the first LIST's protobuf pages) against the JSON renderer
(render, the one compared with kube-state-metrics): the same text for bench/cluster_objects.py's pods and for
thousands of mutations of them, each carried into a protobuf message the way the API server would encode it."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

import pytest

from exporters.cluster import pods
from exporters.cluster.family import Options
from observe.kube import protobuf
from tests.mutate import mutated
from tests.unit.exporters.test_cluster_render_mutations import OBJECTS, _other


class NotEncodable(Exception):
    """A JSON value the API server could not have sent in protobuf (a time that is not one, an int out of range)."""


def _fill(msg: Any, obj: dict[str, Any]) -> None:
    """Set msg's declared fields from the JSON dict (others are ignored, as the decoder skips undeclared fields)."""
    fields = msg.DESCRIPTOR.fields_by_name
    for key, value in obj.items():
        fd = fields.get(key)
        if fd is None:
            continue
        if value is None:
            raise NotEncodable(key)  # JSON's null: protobuf has no present-but-null
        if fd.message_type is None:
            try:
                getattr(msg, key).extend(value) if fd.is_repeated else setattr(msg, key, value)
            except (TypeError, ValueError) as exc:
                raise NotEncodable(key) from exc
        elif fd.message_type.GetOptions().map_entry:
            target = getattr(msg, key)
            quantity = fd.message_type.fields_by_name["value"].message_type is not None
            for k, v in value.items():
                if quantity:
                    target[k].string = v
                else:
                    target[k] = v
        elif fd.message_type.name == "Time":
            try:
                seconds = int(datetime.fromisoformat(value).timestamp())
            except (TypeError, ValueError) as exc:
                raise NotEncodable(key) from exc
            if seconds == pods._ZERO_TIME:
                raise NotEncodable(key)  # JSON writes Go's zero time as null
            getattr(msg, key).seconds = seconds
        elif fd.is_repeated:
            for item in value:
                _fill(getattr(msg, key).add(), item)
        else:
            if not isinstance(value, dict):
                raise NotEncodable(key)
            getattr(msg, key).SetInParent()
            _fill(getattr(msg, key), value)


def lines(rendered: dict[str, bytes]) -> dict[str, list[bytes]]:
    """Each family's lines, sorted: within a family their order is the maps' (a mutation adds keys out of order)."""
    return {family: sorted(text.splitlines()) for family, text in rendered.items()}


def message(pod: dict[str, Any]) -> Any:
    msg = protobuf.CLASSES["Pod"]()
    _fill(msg, pod)
    return msg


@pytest.mark.parametrize("opts", [Options(), Options(["*"], ["*"]), Options(["app"], ["team"])])
def test_the_bench_pods_render_the_same_from_protobuf(opts: Options) -> None:
    assert len(OBJECTS["pods"]) >= 10
    for pod in OBJECTS["pods"]:
        assert pods.render_message(message(pod), opts) == pods.render(pod, opts)


def test_mutated_pods_render_the_same_from_protobuf() -> None:
    rng = random.Random("pods-protobuf")
    opts = Options(["*"], ["*"])
    compared = 0
    for pod in OBJECTS["pods"]:
        for _ in range(300):
            doc, changed = mutated(rng, pod, _other)
            try:
                msg = message(doc)
            except NotEncodable:
                continue
            expected = pods.render(doc, opts)
            assert lines(pods.render_message(msg, opts)) == lines(expected), changed
            compared += 1
    assert compared > 2000
