"""The test peers' Kubernetes helper waits out a 429 the way client-go does, and nothing else."""
from __future__ import annotations

import email.message
import io
import urllib.error
import urllib.request

import pytest

from tests.peers.kube import _retry_after


def _error(code: int, retry_after: str | None) -> urllib.error.HTTPError:
    headers = email.message.Message()
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    return urllib.error.HTTPError("https://127.0.0.1/x", code, "x", headers, None)


def test_a_429_is_retried_after_the_seconds_the_server_names() -> None:
    assert _retry_after(_error(429, "2")) == 2.0
    assert _retry_after(_error(429, None)) == 1.0
    assert _retry_after(_error(429, "soon")) == 1.0
    assert _retry_after(_error(429, "600")) == 5.0


def test_other_errors_are_not_retried() -> None:
    for code in (400, 403, 404, 409, 410, 500):
        assert _retry_after(_error(code, "1")) is None


def test_a_watch_waits_out_a_429_before_streaming(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.peers import kube

    answers: list[object] = [_error(429, "0.1"), io.BytesIO(b'{"type": "ADDED", "object": {}}\n\n')]
    opened: list[str] = []

    def urlopen(req: object, timeout: float, context: object) -> object:
        opened.append(str(req))
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(kube, "_request", lambda *a: "GET /api/v1/pods?watch=1")
    monkeypatch.setattr(kube, "_ssl_context", lambda peer: None)
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    assert list(kube.kube_watch(None, "/api/v1/pods?watch=1")) == [{"type": "ADDED", "object": {}}]  # type: ignore[arg-type]
    assert len(opened) == 2
