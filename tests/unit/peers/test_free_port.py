"""free_port() never hands out the same port twice, even when the kernel offers it again."""
from __future__ import annotations

import socket
from typing import Any

import pytest

from tests.peers import base


class _Socket:
    """A socket whose bind(0) gets the ports of a script, as a kernel reusing a just-closed port would."""

    script: list[int] = []

    def __init__(self, *_: Any) -> None:
        self.port = 0

    def __enter__(self) -> _Socket:
        return self

    def __exit__(self, *_: Any) -> None:
        return None

    def bind(self, _: tuple[str, int]) -> None:
        self.port = self.script.pop(0)

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)


def test_a_port_offered_twice_is_not_handed_out_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "_HANDED_OUT", base.deque(maxlen=16))
    monkeypatch.setattr(socket, "socket", _Socket)
    _Socket.script = [43555, 43555, 43555, 47467]
    assert [base.free_port(), base.free_port()] == [43555, 47467]


def test_real_ports_are_distinct() -> None:
    ports = [base.free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
