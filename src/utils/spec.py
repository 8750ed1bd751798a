"""Objects rebuilt from untrusted plain-data specs: `{"_target_": NAME, key: value, ...}`.

A checkpoint stores the configs of its model and features. Loading one must never call
anything the file names, so a spec is checked before any call: its `_target_` must be one of
the classes the caller allows, and everything else must be plain data (numbers, strings,
booleans, None, lists and string-keyed mappings of those) with no key that Hydra would act on
(`_target_`, `_args_`, `_partial_`, ... at any depth). The class is then called directly with
the remaining keys as keyword arguments; Hydra's `instantiate` is never involved.
"""

from collections.abc import Mapping
from typing import Any

PLAIN_SCALARS = (str, int, float, bool, type(None))


class UnsafeSpecError(ValueError):
    """A spec names something that is not allowed, or holds more than plain data."""


def _check_plain(value: Any, where: str) -> None:
    if isinstance(value, PLAIN_SCALARS):
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_plain(item, f"{where}[{index}]")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise UnsafeSpecError(f"{where}: key {key!r} is not a string")
            if key.startswith("_"):
                raise UnsafeSpecError(f"{where}.{key}={item!r}: special keys are not allowed")
            _check_plain(item, f"{where}.{key}")
        return
    raise UnsafeSpecError(f"{where}={value!r}: {type(value).__name__} is not plain data")


def check_spec(spec: Any, allowed: Mapping[str, type], where: str) -> tuple[type, dict]:
    """The allowed class a spec names and its keyword arguments; `UnsafeSpecError` naming the
    key and the value for anything else. `where` names the spec in messages (e.g.
    'model.pth: config.model')."""
    if not isinstance(spec, Mapping):
        raise UnsafeSpecError(f"{where}: expected a mapping with _target_, got {spec!r}")
    target = spec.get("_target_")
    if target not in allowed:
        raise UnsafeSpecError(
            f"{where}._target_={target!r} is not allowed; expected one of {sorted(allowed)}"
        )
    kwargs = {key: value for key, value in spec.items() if key != "_target_"}
    _check_plain(kwargs, where)
    return allowed[target], kwargs


def build_from_spec(spec: Any, allowed: Mapping[str, type], where: str, **extra: Any) -> Any:
    """`check_spec`, then the class called with the spec's keys and `extra`."""
    cls, kwargs = check_spec(spec, allowed, where)
    return cls(**kwargs, **extra)


def class_targets(classes: list[type], package: str) -> dict[str, type]:
    """Every name a config may use for these classes: `package.Name` (the package's export) and
    the defining module's `module.Name`."""
    targets = {}
    for cls in classes:
        targets[f"{package}.{cls.__name__}"] = cls
        targets[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return targets
