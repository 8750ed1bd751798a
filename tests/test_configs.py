"""Every config composes, every key is typed: the trainer, inferencer, tune and dataloader nodes
by their dataclass schemas (checked by Hydra while composing), every `_target_` node by the
signature of the class it names (checked here, for every option of every group)."""

import inspect
import subprocess
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from hydra.errors import ConfigCompositionException
from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig, OmegaConf

from tests.conftest import REPO_ROOT, compose_config

CONFIGS = REPO_ROOT / "configs"
TOP_LEVEL = sorted(path.stem for path in CONFIGS.glob("*.yaml"))
CHECKPOINT = "inferencer.from_pretrained=x.pth"
REQUIRED = {"inference": [CHECKPOINT], "tune_lm": [CHECKPOINT]}  # the ??? values
OPTION_REQUIRED = {
    ("datasets", "custom_dir"): ["datasets.test.audio_dir=/audio"],
    ("datasets", "manifest"): [
        "datasets.train.manifest_path=t.jsonl",
        "datasets.val.manifest_path=v.jsonl",
    ],
}
GROUPS = {
    group.name: sorted(path.stem for path in group.glob("*.yaml"))
    for group in CONFIGS.iterdir()
    if group.is_dir()
}
HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}


def compose(name: str, *overrides: str) -> DictConfig:
    return compose_config(name, *REQUIRED.get(name, []), *overrides)


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_every_top_level_config_composes_and_resolves(name):
    cfg = compose(name)
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("trainer.n_epochs=abc", "trainer.n_epochs"),
        ("trainer.seed=1.5", "trainer.seed"),
        ("trainer.eval_partitions=val", "trainer.eval_partitions"),
        ("dataloader.batch_size=big", "dataloader.batch_size"),
        ("trainer.n_epoch=1", "trainer.n_epoch"),
    ],
)
def test_a_wrong_type_or_key_is_rejected_while_composing(override, key):
    with pytest.raises(ConfigCompositionException) as error:
        compose("deepspeech2_cpu", override)
    messages = []
    cause: BaseException | None = error.value
    while cause is not None:
        messages.append(str(cause))
        cause = cause.__cause__
    assert key in "\n".join(messages)


def test_train_py_names_the_bad_key_before_building_anything(tmp_path):
    result = subprocess.run(
        [sys.executable, "train.py", "trainer.n_epochs=abc", f"trainer.save_dir={tmp_path}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "trainer.n_epochs" in result.stderr and "Integer" in result.stderr
    assert not any(tmp_path.iterdir())  # no run folder: nothing was built


def matches(value: Any, annotation: Any) -> bool:
    """Whether a config value fits a parameter annotation (primitives, unions, sequences,
    mappings, paths; anything else is taken as fitting)."""
    if annotation in (inspect.Parameter.empty, Any):
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, option) for option in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation in (str, bool):
        return isinstance(value, annotation)
    if annotation is Path or (isinstance(annotation, type) and issubclass(annotation, Path)):
        return isinstance(value, str)
    container = origin or annotation
    if isinstance(container, type) and issubclass(container, Mapping):
        return isinstance(value, Mapping)
    if isinstance(container, type) and issubclass(container, Sequence) and container is not str:
        args = typing.get_args(annotation)
        if not isinstance(value, list | tuple):
            return False
        return not args or all(matches(item, args[0]) for item in value)
    return True


def parameters(cls: Any) -> tuple[dict[str, Any], bool]:
    """{name: annotation} a callable takes, following `**kwargs` up the class hierarchy; and
    whether it still takes arbitrary keywords at the top."""
    found: dict[str, Any] = {}
    for owner in inspect.getmro(cls) if inspect.isclass(cls) else [cls]:
        init = owner.__init__ if inspect.isclass(cls) else owner
        if inspect.isclass(cls) and "__init__" not in vars(owner):
            continue
        signature = inspect.signature(init)
        try:
            hints = typing.get_type_hints(init)
        except Exception:  # third-party annotations that do not resolve
            hints = {}
        for name, parameter in signature.parameters.items():
            if (
                parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
                or name == "self"
            ):
                continue
            found.setdefault(name, hints.get(name, parameter.annotation))
        if not any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values()):
            return found, False
        if owner is object:
            break
    return found, True


def target_nodes(node: Any, where: str):
    if isinstance(node, DictConfig):
        if "_target_" in node:
            yield where, node
        for key, value in node.items():
            yield from target_nodes(value, f"{where}.{key}")
    elif isinstance(node, ListConfig):
        for index, value in enumerate(node):
            yield from target_nodes(value, f"{where}[{index}]")


GROUP_OPTIONS = [(group, option) for group, options in GROUPS.items() for option in options]
SPECIAL = {"schema"}  # typed by their dataclasses, not `_target_` nodes


@pytest.mark.parametrize(
    ("group", "option"),
    [pair for pair in GROUP_OPTIONS if pair[0] not in SPECIAL],
    ids=lambda value: str(value),
)
def test_every_target_node_matches_its_class(group, option):
    base = "inference" if group == "dataloader" and option == "inference" else "deepspeech2"
    cfg = compose(base, f"{group}={option}", *OPTION_REQUIRED.get((group, option), []))
    resolved = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False))
    problems = []
    for where, node in target_nodes(resolved, ""):
        accepted, open_ended = parameters(get_object(node._target_))
        for key, value in node.items():
            if key in HYDRA_KEYS or (isinstance(value, DictConfig) and "_target_" in value):
                continue
            if key not in accepted:
                if not open_ended:
                    problems.append(f"{where}.{key}: {node._target_} takes no such argument")
                continue
            plain = (
                OmegaConf.to_container(value)
                if isinstance(value, DictConfig | ListConfig)
                else value
            )
            if not matches(plain, accepted[key]):
                problems.append(f"{where}.{key}={plain!r} does not fit {accepted[key]}")
    assert not problems, "\n".join(problems)
