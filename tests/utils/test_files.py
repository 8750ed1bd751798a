"""atomic_output: a reader sees the old file or the new one, never a part, even after a kill."""

import errno
import signal
import subprocess
import sys

import pytest

from src.utils.files import atomic_output, temporary_files
from tests.conftest import REPO_ROOT


def test_the_new_content_replaces_the_old_only_when_complete(tmp_path):
    target = tmp_path / "out" / "index.json"
    with atomic_output(target) as temporary:
        assert temporary.parent == target.parent and temporary != target
        temporary.write_text("new")
        assert not target.exists()
    assert target.read_text() == "new"
    assert temporary_files(target.parent) == []


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "model.pth"
    target.write_text("old")
    with pytest.raises(OSError, match="No space left"), atomic_output(target) as temporary:
        temporary.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert target.read_text() == "old"
    assert temporary_files(tmp_path) == []


WRITER = """
import sys, time
from src.utils.files import atomic_output
with atomic_output(sys.argv[1]) as temporary:
    temporary.write_text("half")
    print("writing", flush=True)
    time.sleep(60)
"""


def test_a_killed_writer_leaves_the_old_file_and_a_temporary_to_clean(tmp_path):
    target = tmp_path / "last.pth"
    target.write_text("old")
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout.readline().strip() == "writing"
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    assert target.read_text() == "old"
    (leftover,) = temporary_files(tmp_path, "last.pth")
    assert leftover.read_text() == "half"
    assert temporary_files(tmp_path, "other.pth") == []
