"""The image cache keeps the two newest archives of each image, not one per code change for ever."""

from __future__ import annotations

import os
from pathlib import Path

from tests.peers.images import prune_archives


def test_only_the_two_newest_archives_of_the_image_stay(tmp_path: Path) -> None:
    for age, name in enumerate(["observe-aaa1", "observe-bbb2", "observe-ccc3", "observe-ddd4"]):
        path = tmp_path / f"{name}.tar"
        path.write_bytes(b"x")
        os.utime(path, (1000 - age * 10, 1000 - age * 10))  # aaa1 newest
    (tmp_path / "python-eee5.tar").write_bytes(b"x")
    (tmp_path / "observe-ffff.tmp").write_bytes(b"x")
    removed = prune_archives(tmp_path, "observe")
    assert sorted(p.name for p in removed) == ["observe-ccc3.tar", "observe-ddd4.tar"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["observe-aaa1.tar", "observe-bbb2.tar", "observe-ffff.tmp",
                                                           "python-eee5.tar"]
