"""Span-name normalisation: ids, UUIDs, hex strings and numbers in paths become placeholders."""

from __future__ import annotations

import pytest

from observe.traces.names import NameNormaliser


@pytest.mark.parametrize("raw, expected", [
    ("/api/v1/products/0/reviews", "/api/v1/products/{num}/reviews"),
    ("/orders/3f2b8c1e-9d4a-4b7e-8f00-0123456789ab/items", "/orders/{uuid}/items"),
    ("GET /users/5f1e2d3c4b5a69788796a5b4", "GET /users/{hex}"),
    ("/files/dGhpc2lzYXRva2VuMTIzNDU2", "/files/{id}"),
    ("/search?q=books&page=2", "/search"),
    ("details.default.svc.cluster.local:9080/*", "details.default.svc.cluster.local:9080/*"),
    ("/static/facade/deadbeef", "/static/facade/deadbeef"),
    ("/v2/blobs/sha256", "/v2/blobs/sha256"),
])
def test_ids_in_paths_become_placeholders(raw: str, expected: str) -> None:
    assert NameNormaliser()(raw) == expected


def test_many_uuid_names_become_one_name() -> None:
    norm = NameNormaliser()
    names = {norm(f"/cart/{i:08x}-aaaa-4bbb-8ccc-{i:012x}/checkout") for i in range(1000)}
    assert names == {"/cart/{uuid}/checkout"}


def test_cache_stays_bounded() -> None:
    norm = NameNormaliser(cache_max=10)
    for i in range(100):
        norm(f"/x/{i}")
    assert len(norm._cache) <= 10
