"""The trainer-overhead benchmark's code paths at tiny sizes (both presets, a log step every
step): it runs and prints a row per preset."""

import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_the_smoke_run_prints_a_row_per_preset():
    result = subprocess.run(
        [sys.executable, "-m", "bench.trainer_overhead", "--smoke", "--log-step", "1"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line.split() for line in result.stdout.splitlines() if "N=2:" in line]
    assert [row[0] for row in rows] == ["deepspeech2_cpu", "deepspeech2"]
    assert all(float(row[-1].rstrip("%")) > 0 for row in rows)
