"""The data-parallel benchmark runs end to end at tiny sizes (one round: a torchrun run of 2
processes and a single-process run) and prints both rates and their ratio."""

import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow


def test_a_tiny_round_prints_both_rates_and_the_ratio():
    arguments = ["--model", "tiny", "--rounds", "1", "--epoch-len", "2", "--batch", "2"]
    result = subprocess.run(
        [sys.executable, "-m", "bench.distributed", *arguments, "--seconds", "0.5"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    rates = [float(line.split()[-1]) for line in lines if "utterances/s" in line]
    assert len(rates) == 2 and all(rate > 0 for rate in rates)
    assert lines[-1].startswith("2 processes / 1 process: ")
