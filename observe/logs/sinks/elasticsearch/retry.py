"""The retry policy: which answers are retried, and the jittered exponential backoff between attempts.

429, 5xx, 408, 401/403 (a Secret may be rotated), timeouts and connection errors are retried, forever; only
the failed items are sent again. Any other 4xx is final: the item goes to the dead-letter stream.
"""

from __future__ import annotations

from typing import Literal

from observe.logs.backoff import Backoff

__all__ = ["Backoff", "Verdict", "item_retry_reason", "item_verdict", "request_retry_reason"]

Verdict = Literal["ok", "duplicate", "retry", "reject"]


def request_retry_reason(status: int) -> str | None:
    """The retry reason when a whole request's status means "try all of it again", else None."""
    if status == 429:
        return "429"
    if status >= 500 or status in (401, 403, 408):
        return {401: "auth", 403: "auth", 408: "timeout"}.get(status, "5xx")
    return None


def item_verdict(status: int) -> Verdict:
    """What one item's status means: stored, already stored, to retry, or rejected for good."""
    if status < 300:
        return "ok"
    if status == 409:
        return "duplicate"
    if status == 429 or status >= 500:
        return "retry"
    return "reject"


def item_retry_reason(status: int) -> str:
    """The retry reason label of a retried item."""
    return "429" if status == 429 else "5xx"
