"""An SMTP sink on aiosmtpd that records every message it receives, for email alert tests."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.peers.base import free_port

VERSION = "aiosmtpd"


@dataclass
class Received:
    """One delivered message: the envelope and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes


@dataclass
class SmtpSink:
    """Where the sink listens and what it has received."""

    host: str
    port: int
    messages: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def smarthost(self) -> str:
        return f"{self.host}:{self.port}"

    def wait_for(self, predicate: Callable[[Received], bool] = lambda m: True, timeout: float = 60.0) -> Received:
        """Block until a message matching predicate arrives."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for msg in self.messages:
                    if predicate(msg):
                        return msg
            time.sleep(0.2)
        with self._lock:
            seen = [(m.rcpt_tos, m.message["Subject"]) for m in self.messages]
        raise AssertionError(f"no matching mail after {timeout:.0f}s; received: {seen}")


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        with self.sink._lock:
            self.sink.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), msg, raw))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


def start() -> tuple[SmtpSink, Controller]:
    """Start a sink on a free 127.0.0.1 port."""
    sink = SmtpSink("127.0.0.1", free_port())
    controller = Controller(_Handler(sink), hostname=sink.host, port=sink.port, decode_data=False)
    controller.start()
    return sink, controller


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A fresh SMTP sink for one test."""
    sink, controller = start()
    try:
        yield sink
    finally:
        controller.stop()
