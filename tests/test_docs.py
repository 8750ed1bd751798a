"""The README and docs/ stay true: every command they show still parses (Hydra commands compose
with their overrides, argparse commands accept their arguments, make targets exist) and every
relative link points at a file and heading that exist."""

import argparse
import importlib
import importlib.util
import re
import shlex
import sys
from pathlib import Path

import pytest

from src.transcription.cli import checkpoint_argv
from tests.conftest import REPO_ROOT, compose_config

PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
HYDRA_SCRIPTS = {
    "train.py": "deepspeech2",
    "inference.py": "inference",
    "src.tune_lm": "tune_lm",
    "transcribe.py": "transcribe",
    "src.export": "export",
    "src.serve": "serve",
}
CHECKPOINT_FIRST = {"transcribe.py", "src.export", "src.serve"}  # `model=CKPT` names a checkpoint
ARGPARSE_SCRIPTS = {"calc_metrics.py": "src.metrics.calc_metrics"}
SKIPPED = (
    "sudo",
    "pip",
    "DEMO_",
    ".venv/bin/jupyter",
    ".venv/bin/python -m pytest",
    "wandb",
    "curl",
)


def shell_commands(page: Path) -> list[str]:
    """The commands of a page's ```bash blocks: continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", page.read_text(encoding="utf-8"), re.S):
        for command in block.replace("\\\n", " ").splitlines():
            command = command.split(" #", 1)[0].strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


COMMANDS = [(page, command) for page in PAGES for command in shell_commands(page)]


def split(command: str) -> tuple[str, list[str]]:
    """(script or module, arguments) of a `python ...` command; optional `[...]` parts dropped."""
    words = shlex.split(re.sub(r"(?<!\S)\[[^\]]*\]", "", command))
    if words[0].endswith("python"):
        words = words[1:]
    if words[0] == "-m":
        return words[1], words[2:]
    return words[0], words[1:]


def check_hydra(script: str, arguments: list[str]) -> None:
    name = HYDRA_SCRIPTS[script]
    if script in CHECKPOINT_FIRST:
        arguments = checkpoint_argv(arguments)
    overrides = []
    for argument in arguments:
        if argument.startswith(("-cn=", "--config-name=")):
            name = argument.split("=", 1)[1]
        else:
            overrides.append(argument)
    if name in ("inference", "tune_lm") and not any("from_pretrained" in o for o in overrides):
        overrides.append("inferencer.from_pretrained=x.pth")
    compose_config(name, *overrides)


class Parsed(Exception):
    """Raised once argparse accepted the arguments, before the command does any work."""


def check_argparse(module_name: str, arguments: list[str], monkeypatch) -> None:
    original = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        original(self, args, namespace)
        raise Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    monkeypatch.setattr(sys, "argv", [module_name, *arguments])
    if module_name.endswith(".py"):  # a script outside the packages, e.g. scripts/...
        spec = importlib.util.spec_from_file_location("doc_script", REPO_ROOT / module_name)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(module_name)
    with pytest.raises(Parsed):
        module.main()


def make_targets() -> set[str]:
    makefile = (REPO_ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][\w-]*):", makefile, re.M))


@pytest.mark.parametrize(
    ("page", "command"),
    COMMANDS,
    ids=[f"{page.name}:{command[:60]}" for page, command in COMMANDS],
)
def test_every_command_shown_still_parses(page, command, monkeypatch):
    if command.startswith(SKIPPED) or not command.startswith(("python ", "make")):
        return  # other tools' commands (shell, pip, curl) are theirs to parse
    if command.startswith("make"):
        target = shlex.split(command)[1] if len(shlex.split(command)) > 1 else "all"
        assert target.split("=")[0] in make_targets() or "=" in target, command
        return
    script, arguments = split(command)
    if script in HYDRA_SCRIPTS:
        check_hydra(script, arguments)
    else:
        check_argparse(ARGPARSE_SCRIPTS.get(script, script), arguments, monkeypatch)


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


LINKS = [
    (page, target)
    for page in PAGES
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8"))
    if not target.startswith(("http://", "https://", "mailto:"))
]


@pytest.mark.parametrize(("page", "target"), LINKS, ids=[f"{p.name}->{t}" for p, t in LINKS])
def test_every_relative_link_resolves(page, target):
    path, _, anchor = target.partition("#")
    linked = (page.parent / path).resolve() if path else page
    assert linked.exists(), f"{page.name}: {target} points at a missing file"
    if anchor:
        assert anchor in anchors(linked), f"{page.name}: no heading #{anchor} in {linked.name}"
