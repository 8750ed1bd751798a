"""KenLM's estimator and binariser (`lmplz`, `build_binary`): find them, build them, run them.

Debian has no package for them, so they are compiled from the kenlm source distribution on
PyPI (the same version as the `kenlm` Python module in requirements.txt) and installed next to
the interpreter, in `.venv/bin`, which `make clean` removes:

    python -m src.lm.tools      # `make kenlm`: nothing to do when both tools are there
"""

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path

from src.utils.archive import extract_archive
from src.utils.files import atomic_output

logger = logging.getLogger(__name__)

KENLM_VERSION = "0.3.0"
MAX_ORDER = 6  # KENLM_MAX_ORDER of the default build, as for the kenlm Python module
TOOLS = ("lmplz", "build_binary")
# What the CMake build needs on Debian: find_package(Boost ... program_options system thread
# unit_test_framework) is REQUIRED even when tests are off; zlib, bzip2 and xz let the tools
# read compressed text and ARPA files.
APT_PACKAGES = (
    "cmake",
    "make",
    "g++",
    "libboost-program-options-dev",
    "libboost-system-dev",
    "libboost-thread-dev",
    "libboost-test-dev",
    "zlib1g-dev",
    "libbz2-dev",
    "liblzma-dev",
)
BIN_DIR = Path(sys.prefix) / "bin"  # .venv/bin when run by the project's interpreter


class ToolError(RuntimeError):
    """A KenLM tool is missing, could not be built, or failed; the message says why."""


def find_tool(name: str, bin_dir: Path = BIN_DIR) -> Path | None:
    """`bin_dir/name` if it is an executable file, else `name` on the PATH, else None."""
    candidate = bin_dir / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which(name)
    return Path(found) if found else None


def require_tool(name: str, bin_dir: Path = BIN_DIR) -> Path:
    """Like `find_tool`, but a missing tool is an error that says how to build it."""
    path = find_tool(name, bin_dir)
    if path is None:
        raise ToolError(
            f"KenLM's {name} is not in {bin_dir} nor on the PATH: build it with `make kenlm` "
            "(python -m src.lm.tools)"
        )
    return path


def run_tool(name: str, arguments: Sequence[str], stdin: Path | None = None) -> None:
    """Run a KenLM tool quietly; a failure raises `ToolError` with the end of its messages."""
    command = [str(require_tool(name)), *arguments]
    with open(stdin or os.devnull, "rb") as source:
        result = subprocess.run(command, stdin=source, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-8:])
        raise ToolError(f"{name} failed (exit {result.returncode}):\n{tail}")


def check_estimate_options(order: int, prune: Sequence[int] = ()) -> None:
    """Refuse what lmplz, build_binary or the kenlm module would reject later."""
    if not 1 <= order <= MAX_ORDER:
        raise ValueError(f"order must be between 1 and {MAX_ORDER}, got {order}")
    if len(prune) > order or any(b < a for a, b in pairwise(prune)) or (prune and prune[0]):
        raise ValueError(f"prune needs at most {order} non-decreasing counts from 0, got {prune}")


def estimate_arpa(
    corpus: Path,
    arpa: Path,
    order: int,
    prune: Sequence[int] = (),
    discount_fallback: bool = True,
    memory: str = "1G",
) -> None:
    """lmplz: modified Kneser-Ney `order`-gram model of `corpus` (one sentence a line), as ARPA.

    `prune` holds one count threshold per order (the first must be 0: lmplz never prunes
    unigrams; e.g. 0 0 1 drops singleton trigrams). `discount_fallback` lets lmplz use fixed
    discounts where a small corpus makes the closed-form estimate fail (too few singletons or
    doubletons); elsewhere it changes nothing.
    """
    check_estimate_options(order, prune)
    with atomic_output(arpa) as partial, tempfile.TemporaryDirectory(prefix="lmplz-") as scratch:
        arguments = ["--order", str(order), "--memory", memory, "--temp_prefix", f"{scratch}/"]
        arguments += ["--arpa", str(partial)]
        if prune:
            arguments += ["--prune", *map(str, prune)]
        if discount_fallback:
            arguments.append("--discount_fallback")
        run_tool("lmplz", arguments, stdin=corpus)


def binarize(arpa: Path, binary: Path, data_structure: str = "probing") -> None:
    """build_binary: KenLM's binary format, fast to load (`probing`: fastest, `trie`: smallest)."""
    with atomic_output(binary) as partial:
        run_tool("build_binary", [data_structure, str(arpa), str(partial)])


def missing_packages(packages: Sequence[str] = APT_PACKAGES) -> list[str]:
    """The Debian packages of `packages` that dpkg does not list as installed.

    Without dpkg (not Debian) nothing is reported: CMake then names what it cannot find.
    """
    if shutil.which("dpkg-query") is None:
        logger.warning("no dpkg-query: make sure the equivalents of %s are installed", packages)
        return []
    missing = []
    for package in packages:
        status = subprocess.run(
            ["dpkg-query", "--show", "--showformat=${Status}", package],
            capture_output=True,
            text=True,
            check=False,
        )
        if status.returncode != 0 or not status.stdout.endswith(" installed"):
            missing.append(package)
    return missing


def install_packages(
    packages: Sequence[str], purpose: str = "building KenLM", target: str = "kenlm"
) -> None:
    """apt-get install `packages` as root; anyone else gets the exact command to run (a
    `ToolError` saying what `purpose` needs them and which make `target` to run again)."""
    if not packages:
        return
    command = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    if os.geteuid() != 0:
        raise ToolError(
            f"{purpose} needs these Debian packages; install them, then run `make {target}` "
            f"again:\n    sudo apt-get update && sudo {' '.join(command)}"
        )
    logger.info("installing %s", " ".join(packages))
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    quiet = {"check": True, "env": environment, "stdout": subprocess.DEVNULL}
    subprocess.run(["apt-get", "update", "-qq"], **quiet)
    subprocess.run([*command[:2], "-qq", *command[2:]], **quiet)


def download_source(directory: Path) -> Path:
    """The kenlm sdist from PyPI (through pip, so its index settings apply), unpacked."""
    command = [sys.executable, "-m", "pip", "download", f"kenlm=={KENLM_VERSION}"]
    command += ["--no-binary", "kenlm", "--no-deps", "--quiet", "--dest", str(directory)]
    subprocess.run(command, check=True)
    archive = directory / f"kenlm-{KENLM_VERSION}.tar.gz"
    if not archive.is_file():
        raise ToolError(f"pip did not leave {archive.name} in {directory}")
    source = extract_archive(archive, directory) / f"kenlm-{KENLM_VERSION}"
    for needed in ("CMakeLists.txt", "lm/builder/lmplz_main.cc", "lm/build_binary_main.cc"):
        if not (source / needed).is_file():
            raise ToolError(f"{archive.name} has no {needed}: not a KenLM source distribution")
    return source


def compile_tools(source: Path, build: Path, jobs: int = 2) -> dict[str, Path]:
    """Configure with CMake (Release) and build only `TOOLS`; returns their paths.

    Compiler warnings are silenced (`-w`): the sources trip many deprecation warnings that say
    nothing about this build; errors still print.
    """
    configure = ["cmake", "-S", str(source), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release"]
    subprocess.run(
        [*configure, "-DCMAKE_CXX_FLAGS=-w"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        ["cmake", "--build", str(build), "--parallel", str(jobs), "--target", *TOOLS],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return {name: build / "bin" / name for name in TOOLS}


def install_tools(built: dict[str, Path], bin_dir: Path = BIN_DIR) -> None:
    """Copy the binaries into `bin_dir`, each through a temporary name and an atomic rename."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, path in built.items():
        with atomic_output(bin_dir / name) as partial:
            shutil.copy2(path, partial)


def ensure_tools(bin_dir: Path = BIN_DIR, jobs: int = 2) -> dict[str, Path]:
    """The paths of `TOOLS`; builds and installs them into `bin_dir` first if any is missing."""
    found = {name: find_tool(name, bin_dir) for name in TOOLS}
    if all(found.values()):
        return found
    start = time.perf_counter()
    with _stage("Debian build dependencies"):
        install_packages(missing_packages())
    with tempfile.TemporaryDirectory(prefix="kenlm-") as scratch:
        with _stage(f"kenlm {KENLM_VERSION} source from PyPI"):
            source = download_source(Path(scratch))
        with _stage(f"compiling {' and '.join(TOOLS)} ({jobs} jobs)"):
            built = compile_tools(source, Path(scratch) / "build", jobs)
        install_tools(built, bin_dir)
    logger.info("KenLM tools installed in %s (%.0f s)", bin_dir, time.perf_counter() - start)
    return {name: bin_dir / name for name in TOOLS}


@contextmanager
def _stage(description: str) -> Iterator[None]:
    """Log how long a step of the build took."""
    start = time.perf_counter()
    yield
    logger.info("%s: %.1f s", description, time.perf_counter() - start)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", type=Path, default=BIN_DIR, help="where to install them")
    parser.add_argument("--jobs", type=int, default=2, help="parallel compile jobs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        tools = ensure_tools(args.bin_dir, args.jobs)
    except (ToolError, subprocess.CalledProcessError) as error:
        sys.exit(f"cannot build KenLM's tools: {error}")
    for name, path in tools.items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
