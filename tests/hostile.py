"""Hand-built hostile inputs, shared by the tests and `bench/reliability.py`: archives, bad
utterance ids, transcripts that are not UTF-8, checkpoints that try to run code.

The tar builders return members as (TarInfo, data) pairs that `write_tar` packs; the other
archive builders write a finished archive to `path` and return it.
"""

import bz2
import gzip
import io
import json
import lzma
import os
import pickle
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

from src.datasets import (
    CommonVoiceDataset,
    CustomDirDataset,
    LibriSpeechDataset,
    LJSpeechDataset,
    ManifestDataset,
)
from src.datasets.an4 import read_transcription
from src.utils.checkpoint import load_checkpoint, save_checkpoint
from tests.conftest import write_tone

Member = tuple[tarfile.TarInfo, bytes]
Loader = tuple[Callable[[], object], str]  # (what reads the corpus, the `file:line` expected)

# The CVE-2025-4517 technique: 16 symlinks `a`..`p`, each to a 247-character folder inside the
# previous one, so `a/b/.../p` is short but resolves to a path of about 4,000 characters.
_STEPS = "abcdefghijklmnop"
_LONG_DIR = "d" * 247
_LONG_LINK = "l" * 254


def member(
    name: str, data: bytes = b"", type: bytes = tarfile.REGTYPE, linkname: str = ""
) -> Member:
    """A tar member; `data` is the content of a regular file."""
    info = tarfile.TarInfo(name)
    info.type, info.linkname = type, linkname
    info.mode = 0o755 if type == tarfile.DIRTYPE else 0o644
    info.size = len(data) if type in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
    return info, data


def add_members(tar: tarfile.TarFile, members: Iterable[Member]) -> None:
    for info, data in members:
        tar.addfile(info, io.BytesIO(data) if info.isreg() else None)


def write_tar(path: Path, members: Iterable[Member], compression: str = "gz") -> Path:
    """Pack `members` in order into `path` ("gz", "bz2", "xz" or "" for a plain tar)."""
    with tarfile.open(path, f"w:{compression}" if compression else "w") as tar:
        add_members(tar, members)
    return path


def escape_members(levels_up: int) -> list[Member]:
    """Members that make `escape` a symlink to the folder `levels_up` above the extraction
    target, which tarfile's `data` filter (Python 3.11 before 3.11.13) judges to stay inside.

    The filter follows links with `os.path.realpath`, which stops resolving once the resolved
    path passes PATH_MAX and then treats the rest literally; the kernel resolves each short
    link on its own. `a/.../p/lll...` (a link to 16 x `..`) is the target itself for the kernel
    but a folder 16 deep for the filter, so `escape` -> `a/.../p/lll.../..` looks inside.
    """
    members, path = [], ""
    for step in _STEPS:
        members.append(member(os.path.join(path, _LONG_DIR), type=tarfile.DIRTYPE))
        members.append(member(os.path.join(path, step), type=tarfile.SYMTYPE, linkname=_LONG_DIR))
        path = os.path.join(path, step)
    long_link = os.path.join(path, _LONG_LINK)
    members.append(member(long_link, type=tarfile.SYMTYPE, linkname="/".join([".."] * 16)))
    up = "/".join([long_link, *[".."] * levels_up])
    members.append(member("escape", type=tarfile.SYMTYPE, linkname=up))
    return members


def write_through(name: str, data: bytes) -> list[Member]:
    """After `escape_members`: a file `escape/<name>`, which lands outside."""
    return [member(f"escape/{name}", data)]


def overwrite_through(victim: str, data: bytes) -> list[Member]:
    """After `escape_members`: a hard link `hard` to `escape/<victim>`, then a file `hard`
    written through it, overwriting the existing file `victim` outside with `data`."""
    return [member("hard", type=tarfile.LNKTYPE, linkname=f"escape/{victim}"), member("hard", data)]


def symlink_chain_write(levels_up: int, name: str, data: bytes) -> list[Member]:
    """The PATH_MAX symlink chain, then a file `name` written `levels_up` above the target."""
    return [*escape_members(levels_up), *write_through(name, data)]


def hardlink_overwrite(levels_up: int, victim: str, data: bytes) -> list[Member]:
    """The chain, then the file `victim`, `levels_up` above the target, overwritten."""
    return [*escape_members(levels_up), *overwrite_through(victim, data)]


def symlink_then_file() -> list[Member]:
    """A symlink to a folder inside the tree, then a file written through the link."""
    return [
        member("real", type=tarfile.DIRTYPE),
        member("alias", type=tarfile.SYMTYPE, linkname="real"),
        member("alias/through_link.txt", b"via a link"),
    ]


def device_members() -> list[Member]:
    """A character device (/dev/null's numbers), a block device and a fifo."""
    members = [
        member("dev/null", type=tarfile.CHRTYPE),
        member("dev/sda", type=tarfile.BLKTYPE),
        member("dev/pipe", type=tarfile.FIFOTYPE),
    ]
    members[0][0].devmajor, members[0][0].devminor = 1, 3
    members[1][0].devmajor, members[1][0].devminor = 8, 0
    return members


def sparse_tar(path: Path, real_size: int = 20 << 30, compression: str = "gz") -> Path:
    """A GNU sparse member (`S`) holding 1 byte of data at the end of `real_size` bytes.

    tarfile cannot write sparse members, so the 512-byte GNU header is built by hand: the
    sparse map at offset 386 (offset, length) and the real size at 483 (base-256 when big).
    """
    header = bytearray(512)

    def put(offset: int, value: bytes) -> None:
        header[offset : offset + len(value)] = value

    put(0, b"huge.bin")
    put(100, b"0000644\0")
    put(108, b"0000000\0")
    put(116, b"0000000\0")
    put(124, b"%011o\0" % 1)  # one stored byte
    put(136, b"%011o\0" % 0)
    put(156, tarfile.GNUTYPE_SPARSE)
    put(257, tarfile.GNU_MAGIC)
    put(386, tarfile.itn(real_size - 1, 12, tarfile.GNU_FORMAT))
    put(398, b"%011o\0" % 1)
    put(483, tarfile.itn(real_size, 12, tarfile.GNU_FORMAT))
    put(148, b"        ")
    put(148, b"%06o\0 " % sum(header))
    body = bytes(header) + b"x".ljust(512, b"\0") + bytes(1024)
    compress = {"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress, "": bytes}
    path.write_bytes(compress[compression](body))
    return path


class _Zeros(io.RawIOBase):
    """`size` zero bytes, read in chunks (a bomb's payload is never held in memory)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self.left)
        buffer[:count] = bytes(count)
        self.left -= count
        return count


def gzip_bomb(path: Path, expanded: int) -> Path:
    """A tar.gz of one member of `expanded` zero bytes (about 1,000 times smaller)."""
    info = tarfile.TarInfo("zeros.bin")
    info.size = expanded
    with tarfile.open(path, "w:gz", compresslevel=9) as tar:
        tar.addfile(info, io.BufferedReader(_Zeros(expanded), 1 << 20))
    return path


def zip_bomb(path: Path, expanded: int) -> Path:
    """A zip of one deflated member of `expanded` zero bytes."""
    chunk = bytes(1 << 20)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zipped,
        zipped.open("zeros.bin", "w", force_zip64=True) as out,
    ):
        for start in range(0, expanded, len(chunk)):
            out.write(chunk[: expanded - start])
    return path


def tar_holding_a_zip(path: Path) -> Path:
    """A plain tar whose last member is a zip: `zipfile.is_zipfile` finds the zip's end record
    near the end of the tar and would extract `planted.txt` instead of the tar's content."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zipped:
        zipped.writestr("planted.txt", "from the zip")
    return write_tar(
        path,
        [member("corpus/real.txt", b"from the tar"), member("inner.zip", inner.getvalue())],
        compression="",
    )


def zip_with(path: Path, names: Iterable[str], symlink: str | None = None) -> Path:
    """A zip holding a small file under each of `names`, and a unix symlink member if given."""
    with zipfile.ZipFile(path, "w") as zipped:
        for name in names:
            zipped.writestr(name, f"content of {name}")
        if symlink is not None:
            info = zipfile.ZipInfo(symlink)
            info.create_system = 3  # unix: the mode in the high bits of external_attr counts
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zipped.writestr(info, "/etc/passwd")
    return path


def snapshot(folder: Path, skip: Path | None = None) -> dict[str, bytes | str]:
    """Relative path -> content (files) or link target, for everything under `folder` except
    `skip`: compare two snapshots to see that nothing outside a target changed."""
    found: dict[str, bytes | str] = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            if skip is not None and (path == skip or skip in path.parents):
                continue
            relative = str(path.relative_to(folder))
            if path.is_symlink():
                found[relative] = "-> " + os.readlink(path)
            elif path.is_file():
                found[relative] = path.read_bytes()
            else:
                found[relative] = "dir"
        dirs[:] = [name for name in dirs if not (Path(root) / name).is_symlink()]
    return found


# Utterance ids that cannot name an output file on their own (`<id>.txt`).
BAD_IDS = ["../../x", "a/b", "a\\b", ".hidden", "..", ".", "", "nul\x00byte", "new\nline", 7]


def write_manifest(folder: Path, ids: Iterable[object]) -> Path:
    """`folder/m.jsonl`: one short tone per id, in order (line N has `<N-1>.wav`)."""
    lines = []
    for index, utterance_id in enumerate(ids):
        write_tone(folder / f"{index}.wav", 0.1)
        lines.append({"path": f"{index}.wav", "duration": 0.1, "text": "a", "id": utterance_id})
    manifest = folder / "m.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return manifest


# A corpus of each kind whose transcript holds bytes that are not UTF-8: each builder lays it
# out in `folder` and returns what reads it and the `file:line` its error must name.
def _custom_dir(folder: Path, encoder) -> Loader:
    write_tone(folder / "a.wav", 0.1)
    (folder / "a.txt").write_bytes(b"caf\xe9\n")
    return lambda: CustomDirDataset(folder, folder, text_encoder=encoder), r"a\.txt:1"


def _librispeech(folder: Path, encoder) -> Loader:
    chapter = folder / "dev-clean" / "19" / "198"
    chapter.mkdir(parents=True)
    write_tone(chapter / "19-198-0000.flac", 0.1)
    write_tone(chapter / "19-198-0001.flac", 0.1)
    (chapter / "19-198.trans.txt").write_bytes(b"19-198-0000 YES\n19-198-0001 CAF\xc9\n")
    load = partial(LibriSpeechDataset, "dev-clean", folder, download=False, text_encoder=encoder)
    return load, r"19-198\.trans\.txt:2"


def _an4(folder: Path, encoder) -> Loader:
    path = folder / "an4_train.transcription"
    path.write_bytes(b"<s> YES </s> (an251-fash-b)\n<s> NO\xff </s> (an252-fash-b)\n")
    return lambda: read_transcription(path), r"an4_train\.transcription:2"


def _ljspeech(folder: Path, encoder) -> Loader:
    (folder / "wavs").mkdir()
    write_tone(folder / "wavs" / "LJ001-0001.wav", 0.1)
    (folder / "metadata.csv").write_bytes(b"LJ001-0001|Fine|fine\nLJ001-0002|Bad \x80|bad\n")
    return lambda: LJSpeechDataset(folder, part="all", text_encoder=encoder), r"metadata\.csv:2"


def _manifest(folder: Path, encoder) -> Loader:
    write_tone(folder / "x.wav", 0.1)
    good = json.dumps({"path": "x.wav", "duration": 0.1, "text": "a"}).encode()
    (folder / "m.jsonl").write_bytes(good + b'\n{"path": "x.wav", "text": "\xfe"}\n')
    return lambda: ManifestDataset(folder / "m.jsonl", text_encoder=encoder), r"m\.jsonl:2"


def _common_voice(folder: Path, encoder) -> Loader:
    (folder / "clips").mkdir()
    write_tone(folder / "clips" / "a.mp3", 0.1)
    rows = b"client_id\tpath\tsentence\nc0\ta.mp3\thello\nc1\tb.mp3\tna\xefve\n"
    (folder / "train.tsv").write_bytes(rows)
    return lambda: CommonVoiceDataset(folder, text_encoder=encoder), r"train\.tsv:3"


NON_UTF8_TRANSCRIPTS = {
    "custom_dir": _custom_dir,
    "librispeech": _librispeech,
    "an4": _an4,
    "ljspeech": _ljspeech,
    "manifest": _manifest,
    "common_voice": _common_voice,
}


# --- checkpoints --------------------------------------------------------------------------


def with_stored_config(checkpoint: Path, path: Path, key: str, spec: object) -> Path:
    """A copy of `checkpoint` at `path` whose `config[key]` (a dotted path) is `spec`."""
    state = load_checkpoint(checkpoint)
    node = state["config"]
    *parents, last = key.split(".")
    for parent in parents:
        node = node[parent]
    node[last] = spec
    return save_checkpoint(state, path)


def writes_a_file(marker: Path) -> dict:
    """A stored-config spec that Hydra's `instantiate` would turn into writing `marker`."""
    return {
        "_target_": "pathlib.Path.write_text",
        "self": {"_target_": "pathlib.Path", "_args_": [str(marker)]},
        "data": "pwned",
    }


class _Command:
    """Unpickling it runs a shell command: what `torch.load(weights_only=False)` would do."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def pickled_code(path: Path, command: str) -> Path:
    """A `.pth` whose model entry runs `command` when unpickled."""
    with path.open("wb") as file:
        pickle.dump({"model": _Command(command)}, file, protocol=2)
    return path
