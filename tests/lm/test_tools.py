"""Finding, building and running KenLM's lmplz and build_binary."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from src.lm import tools
from src.lm.tools import (
    KENLM_VERSION,
    ToolError,
    binarize,
    ensure_tools,
    estimate_arpa,
    find_tool,
    install_packages,
    missing_packages,
    require_tool,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def make_executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def bin_dirs(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """An empty 'venv' bin folder and a PATH made of one other empty folder."""
    venv_bin, on_path = tmp_path / "venv-bin", tmp_path / "on-path"
    venv_bin.mkdir()
    on_path.mkdir()
    monkeypatch.setenv("PATH", str(on_path))
    return venv_bin, on_path


def test_a_tool_in_the_bin_dir_comes_before_one_on_the_path(bin_dirs):
    venv_bin, on_path = bin_dirs
    assert find_tool("lmplz", venv_bin) is None
    make_executable(on_path / "lmplz")
    assert find_tool("lmplz", venv_bin) == on_path / "lmplz"
    make_executable(venv_bin / "lmplz")
    assert find_tool("lmplz", venv_bin) == venv_bin / "lmplz"


def test_a_file_that_is_not_executable_is_not_a_tool(bin_dirs):
    venv_bin, _ = bin_dirs
    (venv_bin / "build_binary").write_text("not a program")
    assert find_tool("build_binary", venv_bin) is None
    with pytest.raises(ToolError, match=r"build_binary is not in .* `make kenlm`"):
        require_tool("build_binary", venv_bin)


def test_tools_already_there_are_not_built_again(bin_dirs, monkeypatch):
    venv_bin, _ = bin_dirs
    expected = {name: make_executable(venv_bin / name) for name in tools.TOOLS}

    def no_build(*args):
        raise AssertionError("ensure_tools fetched the source although both tools exist")

    monkeypatch.setattr(tools, "download_source", no_build)
    assert ensure_tools(venv_bin) == expected


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="not a Debian machine")
def test_missing_packages_asks_dpkg():
    assert missing_packages(["dpkg", "ctc-asr-no-such-package"]) == ["ctc-asr-no-such-package"]


def test_without_root_the_exact_apt_command_is_printed(monkeypatch):
    monkeypatch.setattr(tools.os, "geteuid", lambda: 1000)
    expected = "sudo apt-get install -y --no-install-recommends libboost-test-dev zlib1g-dev"
    with pytest.raises(ToolError, match=re.escape(expected)):
        install_packages(["libboost-test-dev", "zlib1g-dev"])


def test_the_source_version_is_the_pinned_kenlm_module():
    pins = (REPO_ROOT / "requirements.txt").read_text().splitlines()
    assert f"kenlm=={KENLM_VERSION}" in pins


def test_the_installed_tools_run(kenlm_tools):
    for name, expected in (("lmplz", "Kneser-Ney"), ("build_binary", "Usage:")):
        help_run = subprocess.run([kenlm_tools[name], "--help"], capture_output=True, text=True)
        assert expected in help_run.stdout + help_run.stderr  # both exit 1 after their help


def test_failing_tools_report_their_own_message_and_leave_no_file(kenlm_tools, tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("just some words\n")
    with pytest.raises(ToolError, match=r"build_binary failed \(exit 1\):\n(.|\n)*not \\data\\"):
        binarize(words, tmp_path / "out.bin")
    with pytest.raises(ToolError, match=r"lmplz failed \(exit \d+\):\n"):
        estimate_arpa(words, tmp_path / "out.arpa", order=3, memory="lots")
    assert list(tmp_path.iterdir()) == [words]  # no output, no partial file


@pytest.mark.parametrize(
    ("order", "prune", "problem"),
    [
        (7, (), "order must be between 1 and 6"),
        (3, (0, 2, 1), "non-decreasing"),
        (3, (1,), "from 0"),
        (2, (0, 0, 1), "at most 2"),
    ],
)
def test_bad_orders_and_pruning_are_refused_before_lmplz_runs(tmp_path, order, prune, problem):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a b c\n")
    with pytest.raises(ValueError, match=problem):
        estimate_arpa(corpus, tmp_path / "lm.arpa", order, prune)
