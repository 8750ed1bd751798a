"""Fetch a trained model named in the registry, verify it, and print how to decode with it.

    python scripts/download_model.py --list
    python scripts/download_model.py an4 [--registry models/registry.yaml] [--output_dir models]

Every file of the entry (checkpoint; optionally an LM and its unigram list) is downloaded from
its URL or copied from its local path into `<output_dir>/<name>/`, resuming a cut download and
checked against the registry's SHA-256; a file that already verifies is left alone. The entry
format is documented at the top of models/registry.yaml.
"""

import argparse
import logging
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as `python scripts/download_model.py`
    sys.path.insert(0, str(REPO_ROOT))

from src.utils.download import DownloadError, fetch, verify  # noqa: E402

DEFAULT_REGISTRY = REPO_ROOT / "models" / "registry.yaml"
DEFAULT_OUTPUT_DIR = REPO_ROOT / "models"
FILE_ROLES = ("checkpoint", "lm", "unigrams")
URL_SCHEMES = ("http://", "https://", "file://")
SHA256 = re.compile(r"[0-9a-f]{64}")
SAFE_NAME = re.compile(r"\w[\w.+-]*")  # a folder or file name that needs no quoting anywhere

logger = logging.getLogger("download_model")


class RegistryError(ValueError):
    """The registry file or one of its entries is malformed; the message names it."""


@dataclass(frozen=True)
class ModelFile:
    source: str  # a URL or an absolute local path
    sha256: str

    @property
    def filename(self) -> str:
        """The name the source ends with, e.g. 'model_best.pth'."""
        if self.source.startswith(URL_SCHEMES):
            return Path(unquote(urlparse(self.source).path)).name
        return Path(self.source).name


@dataclass(frozen=True)
class ModelEntry:
    name: str
    description: str
    files: dict[str, ModelFile]  # role ('checkpoint', 'lm', 'unigrams') -> file
    alpha: float | None = None
    beta: float | None = None


def _check_keys(where: str, mapping: Any, required: set[str], optional: set[str]) -> None:
    if not isinstance(mapping, dict):
        raise RegistryError(f"{where}: expected a mapping, got {type(mapping).__name__}")
    missing = sorted(required - set(mapping))
    unknown = sorted(set(mapping) - required - optional)
    if missing:
        raise RegistryError(f"{where}: missing {', '.join(missing)}")
    if unknown:
        raise RegistryError(
            f"{where}: unknown key(s) {', '.join(unknown)} "
            f"(allowed: {', '.join(sorted(required | optional))})"
        )


def _parse_file(where: str, raw: Any, base_dir: Path) -> ModelFile:
    _check_keys(where, raw, {"source", "sha256"}, set())
    source, digest = str(raw["source"]), str(raw["sha256"]).lower()
    if not SHA256.fullmatch(digest):
        raise RegistryError(f"{where}.sha256: expected 64 hex digits, got {raw['sha256']!r}")
    if not source.startswith(URL_SCHEMES):
        source = str(base_dir / Path(source).expanduser())  # relative to the registry file
    return ModelFile(source=source, sha256=digest)


def _parse_entry(where: str, name: str, raw: Any, base_dir: Path) -> ModelEntry:
    if not SAFE_NAME.fullmatch(name):
        raise RegistryError(f"{where}: a model name is letters, digits and ._+- only")
    _check_keys(where, raw, {"description", "files"}, {"decoder"})
    _check_keys(f"{where}.files", raw["files"], {"checkpoint"}, {"lm", "unigrams"})
    files = {
        role: _parse_file(f"{where}.files.{role}", raw["files"][role], base_dir)
        for role in FILE_ROLES
        if role in raw["files"]
    }
    if "lm" not in files and ("unigrams" in files or "decoder" in raw):
        raise RegistryError(f"{where}: 'unigrams' and 'decoder' need an 'lm' file")
    names = [file.filename for file in files.values()]
    if len(set(names)) != len(names) or not all(SAFE_NAME.fullmatch(name) for name in names):
        raise RegistryError(
            f"{where}.files: the sources must end with distinct file names made of letters, "
            f"digits and ._+- (got {', '.join(names)})"
        )
    alpha = beta = None
    if "decoder" in raw:
        decoder = raw["decoder"]
        _check_keys(f"{where}.decoder", decoder, set(), {"alpha", "beta"})
        for key, value in decoder.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise RegistryError(f"{where}.decoder.{key}: expected a number, got {value!r}")
        alpha, beta = decoder.get("alpha"), decoder.get("beta")
    return ModelEntry(name, str(raw["description"]), files, alpha, beta)


def load_registry(path: str | Path) -> dict[str, ModelEntry]:
    """Parse and validate every entry; local sources are resolved against the file's folder."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise RegistryError(f"cannot read registry {path}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise RegistryError(f"{path}: not valid YAML ({error})") from None
    _check_keys(str(path), raw, {"models"}, set())
    models = raw["models"] or {}
    if not isinstance(models, dict):
        raise RegistryError(f"{path}: 'models' must be a mapping of name -> entry")
    base_dir = path.resolve().parent
    return {
        str(name): _parse_entry(f"{path}: models.{name}", str(name), entry, base_dir)
        for name, entry in models.items()
    }


def install(entry: ModelEntry, output_dir: Path) -> dict[str, tuple[Path, bool]]:
    """Fetch and verify every file of `entry`; role -> (path, fetched now).

    A file already in place is kept when it verifies and replaced otherwise; a source that
    does not match its SHA-256 raises `ChecksumError` and leaves no file behind.
    """
    folder = output_dir / entry.name
    installed = {}
    for role, file in entry.files.items():
        destination = folder / file.filename
        checksum = f"sha256:{file.sha256}"
        already_there = destination.is_file() and verify(destination, checksum)
        fetch(file.source, destination, checksum)  # keeps a verified file, replaces any other
        installed[role] = (destination, not already_there)
    return installed


def inference_overrides(entry: ModelEntry, paths: dict[str, Path]) -> list[str]:
    """The `inference.py` overrides that load the checkpoint and, if any, the LM decoder."""
    overrides = [f"inferencer.from_pretrained={paths['checkpoint']}"]
    if "lm" in paths:
        overrides += ["decoders=lm", f"decoders.LM.lm_path={paths['lm']}"]
        if "unigrams" in paths:
            overrides.append(f"decoders.LM.unigrams_path={paths['unigrams']}")
        overrides += [
            f"decoders.LM.{key}={value}"
            for key, value in (("alpha", entry.alpha), ("beta", entry.beta))
            if value is not None
        ]
        overrides.append("inferencer.output_decoder=LM")
    return overrides


def _display(path: Path) -> Path:
    """`path` relative to the repository root (where inference.py runs) when it lies below it."""
    path = path.resolve()
    return path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path


def format_command(overrides: list[str]) -> str:
    """A shell command decoding a folder of audio; AUDIO_DIR and OUT_DIR are placeholders."""
    arguments = [
        *overrides,
        "datasets=custom_dir",
        "datasets.test.audio_dir=AUDIO_DIR",
        "inferencer.save_path=OUT_DIR",
    ]
    return " \\\n    ".join(["python inference.py", *(shlex.quote(arg) for arg in arguments)])


def list_models(registry: dict[str, ModelEntry], registry_path: Path) -> str:
    if not registry:
        return f"no models in {registry_path} yet (the comment at its top shows the entry format)"
    width = max(len(name) for name in registry)
    return "\n".join(
        f"{name:<{width}}  {entry.description}  [{', '.join(entry.files)}]"
        for name, entry in registry.items()
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Download a trained model (checkpoint, optional LM) listed in a registry, "
        "verify its SHA-256 and print the inference command that uses it."
    )
    parser.add_argument("name", nargs="?", help="the registry entry to fetch")
    parser.add_argument("--list", action="store_true", help="list the registry's entries")
    parser.add_argument("--registry", type=Path, default=DEFAULT_REGISTRY, help="registry YAML")
    parser.add_argument(
        "--output_dir", type=Path, default=DEFAULT_OUTPUT_DIR, help="files go to OUTPUT_DIR/NAME"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.list and not args.name:
        parser.error("give a model name, or --list")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        registry = load_registry(args.registry)
        if args.list:
            print(list_models(registry, args.registry))
            return 0
        if args.name not in registry:
            raise RegistryError(
                f"no model {args.name!r} in {args.registry} "
                f"(available: {', '.join(sorted(registry)) or 'none yet'})"
            )
        entry = registry[args.name]
        installed = install(entry, args.output_dir)
    except (RegistryError, DownloadError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{entry.name}: {entry.description}")
    for role, (path, fetched) in installed.items():
        print(f"  {role:<10}  {_display(path)}  ({'fetched' if fetched else 'already there'})")
    paths = {role: _display(path) for role, (path, _) in installed.items()}
    print(f"\nDecode a folder of audio with it, from {REPO_ROOT}:\n")
    print(format_command(inference_overrides(entry, paths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
