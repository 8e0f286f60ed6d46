"""Every shipper process a test started is killed when the test ends, passed or failed."""

from collections.abc import Iterator

import pytest

from tests.integration.logs import shipper_process


@pytest.fixture(autouse=True)
def _kill_leftover_shippers() -> Iterator[None]:
    yield
    while shipper_process.STARTED:
        shipper_process.STARTED.pop().kill()
