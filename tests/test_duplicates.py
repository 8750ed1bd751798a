"""No copy-paste twins: pylint's similarity checker (settings in pyproject.toml) finds no run of
8 or more repeated lines in the project's code."""

import subprocess
import sys

from tests.conftest import REPO_ROOT

LINTED = ["src", "scripts", "bench", "tests", "train.py", "inference.py", "calc_metrics.py"]


def test_the_code_has_no_copy_paste_twins():
    result = subprocess.run(
        [sys.executable, "-m", "pylint", *LINTED],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
