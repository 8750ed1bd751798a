"""The GPU check's code paths, at tiny sizes on whatever device there is (CI has no GPU): every
row of the table is produced."""

import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_the_smoke_run_prints_every_row():
    result = subprocess.run(
        [sys.executable, "-m", "bench.gpu_check", "--smoke"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    sections = [row.split(" | ")[0].strip("| ") for row in rows[1:]]
    assert sections.count("train step") == len([r for r in rows if "steps/s" in r]) >= 4
    for section in ("device", "peak memory", "data loader", "overfit", "decoder"):
        assert section in sections, section
    decoders = [row for row in rows if row.startswith("| decoder")]
    assert len(decoders) == 4 and all("WER" in row or "skipped" in row for row in decoders)
