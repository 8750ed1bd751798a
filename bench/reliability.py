"""Attacks and faults against the project's defences, all in one run, as a table.

    python -m bench.reliability [--only TEXT] [--list]     # or: make reliability

Hostile archives (the CVE-2025-4517 symlink chain, hard links, absolute and `..` names,
devices, a sparse member declaring 20 GiB, 1 MB bombs expanding to 1 GiB, zips with `../`
names, a tar holding a zip, an AN4 archive served over HTTP), download faults from a local
HTTP server (bodies cut short without a length, wrong Content-Range, a 416 for a stale
partial file, dropped connections, garbage status lines, bad lengths, malformed checksums),
utterance ids that would write outside the output folder, NaN/inf audio and transcripts
that are not UTF-8, checkpoints that try to run code, and real training runs: SIGKILLed at
random moments of training and of saving (20 times, one run restarted each time), stopped by
SIGINT and SIGTERM and resumed (bit-identical to an uninterrupted run), fed non-finite losses,
CUDA out-of-memory errors and a full disk. Each row says whether the defence *held* (did
what `expected` says) and whether *nothing was lost* (no file outside the target changed, no
corrupt file kept, no checkpoint lost).

A case is one function registered with `@case(name, expected)`: it gets a fresh, empty
sandbox folder and returns an `Outcome`. The exit status is 1 when a case did not hold or
lost something. The whole set takes about 5 minutes on 2 cores, most of it starting training
processes (about 40 of them).
"""

import argparse
import atexit
import functools
import hashlib
import logging
import math
import random
import re
import shutil
import sys
import tarfile
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from src.datasets import AN4Dataset, BaseDataset, ManifestDataset
from src.text_encoder import CTCCharTextEncoder
from src.trainer.base_trainer import CheckpointSaveError
from src.trainer.inferencer import json_line, output_path
from src.trainer.restore import load_trained_model
from src.trainer.setup import build_trainer
from src.trainer.trainer import TooManyBadSteps
from src.utils.archive import UnsafeArchiveError, extract_archive
from src.utils.audio import AudioReadError, load_audio
from src.utils.checkpoint import load_checkpoint
from src.utils.download import DownloadError, UnconfirmedSizeError, download
from src.utils.files import temporary_files
from src.utils.spec import UnsafeSpecError
from tests import faults, hostile, interrupts
from tests.http_server import ServerState, serve
from tests.tiny_model import save_tiny_checkpoint, tiny_run_config

ENCODER = CTCCharTextEncoder()
PAYLOAD = bytes(range(256)) * 4000  # ~1 MB served by the download cases


@dataclass(frozen=True)
class Outcome:
    held: bool
    detail: str
    nothing_lost: bool = True


@dataclass(frozen=True)
class Case:
    name: str
    expected: str
    run: Callable[[Path], Outcome]


CASES: list[Case] = []


def case(name: str, expected: str) -> Callable[[Callable[[Path], Outcome]], Callable]:
    """Register `function(sandbox) -> Outcome` as a case of the table."""

    def register(function: Callable[[Path], Outcome]) -> Callable[[Path], Outcome]:
        CASES.append(Case(name, expected, function))
        return function

    return register


def raises(action: Callable[[], object], error: type[BaseException], text: str = "") -> Outcome:
    """Held when `action` raises `error` with `text` in its message."""
    try:
        action()
    except error as raised:
        message = str(raised)
        return Outcome(text in message, message)
    return Outcome(False, f"no {error.__name__} raised")


# --- hostile archives ---------------------------------------------------------------------


def refused_archive(sandbox: Path, archive: Path, text: str, **caps) -> Outcome:
    """Extract `archive` into `sandbox/target`: held when refused with `text` in the message;
    nothing lost when the sandbox (victim file included) is unchanged and no target or staging
    folder is left."""
    (sandbox / "victim.txt").write_text("original")
    before = hostile.snapshot(sandbox)
    outcome = raises(
        lambda: extract_archive(archive, sandbox / "target", **caps), DownloadError, text
    )
    unchanged = hostile.snapshot(sandbox) == before
    return Outcome(outcome.held, outcome.detail, unchanged)


def tar_case(name: str, members: list[hostile.Member], text: str, compression: str = "gz"):
    @case(f"tar: {name}", f"refused ({text})")
    def run(sandbox: Path) -> Outcome:
        archive = hostile.write_tar(sandbox / "hostile.tar", members, compression)
        return refused_archive(sandbox, archive, text)


tar_case(
    "PATH_MAX symlink chain, file written through it (CVE-2025-4517)",
    hostile.symlink_chain_write(1, "escaped.txt", b"written outside"),
    "symlink",
)
tar_case(
    "symlink chain + hard link overwriting a file outside",
    hostile.hardlink_overwrite(1, "victim.txt", b"overwritten"),
    "symlink",
)
tar_case(
    "hard link to a member",
    [hostile.member("a"), hostile.member("h", type=tarfile.LNKTYPE, linkname="a")],
    "hard link",
)
tar_case("symlink, then a file through it", hostile.symlink_then_file(), "symlink")
tar_case("absolute name /abs/x.txt", [hostile.member("/abs/x.txt", b"x")], "absolute path")
tar_case("name ../escape.txt", [hostile.member("../escape.txt", b"x")], "'..'")
tar_case("name a/../../escape.txt", [hostile.member("a/../../escape.txt", b"x")], "'..'")
tar_case("name ..\\escape.txt", [hostile.member("..\\escape.txt", b"x")], "backslash")
tar_case("name C:/escape.txt", [hostile.member("C:/escape.txt", b"x")], "drive letter")
tar_case("name with a newline", [hostile.member("a\nb.txt", b"x")], "control character")
for (_info, _data), _kind in zip(
    hostile.device_members(), ["character device", "block device", "fifo"], strict=True
):
    tar_case(f"{_kind} member {_info.name}", [(_info, _data)], _kind, compression="")
tar_case("same name twice", [hostile.member("a", b"1"), hostile.member("a", b"2")], "twice")


@case("tar: sparse member declaring 20 GiB", "refused (sparse)")
def sparse_member(sandbox: Path) -> Outcome:
    archive = hostile.sparse_tar(sandbox / "sparse.tar.gz", real_size=20 << 30)
    outcome = refused_archive(sandbox, archive, "sparse")
    return Outcome(
        outcome.held, f"{archive.stat().st_size} bytes: {outcome.detail}", outcome.nothing_lost
    )


@case("tar.gz: 1 MB bomb expanding to 1 GiB (default caps)", "refused (cap)")
def gzip_bomb(sandbox: Path) -> Outcome:
    return refused_archive(sandbox, hostile.gzip_bomb(sandbox / "bomb.tar.gz", 1 << 30), "cap")


@case("zip: 1 MB bomb expanding to 1 GiB (default caps)", "refused (cap)")
def zip_bomb(sandbox: Path) -> Outcome:
    return refused_archive(sandbox, hostile.zip_bomb(sandbox / "bomb.zip", 1 << 30), "cap")


@case("zip: names ../escape.txt", "refused ('..')")
def zip_dotdot(sandbox: Path) -> Outcome:
    archive = hostile.zip_with(sandbox / "evil.zip", ["ok.txt", "../escape.txt"])
    return refused_archive(sandbox, archive, "'..'")


@case("zip: absolute name", "refused (absolute path)")
def zip_absolute(sandbox: Path) -> Outcome:
    archive = hostile.zip_with(sandbox / "evil.zip", ["/abs.txt"])
    return refused_archive(sandbox, archive, "absolute path")


@case("zip: unix symlink member", "refused (symlink)")
def zip_symlink(sandbox: Path) -> Outcome:
    archive = hostile.zip_with(sandbox / "evil.zip", ["ok.txt"], symlink="passwd")
    return refused_archive(sandbox, archive, "symlink")


@case("tar holding a zip (is_zipfile says zip)", "extracted as the tar")
def tar_holding_a_zip(sandbox: Path) -> Outcome:
    target = extract_archive(hostile.tar_holding_a_zip(sandbox / "corpus.tar"), sandbox / "target")
    found = sorted(str(path.relative_to(target)) for path in target.rglob("*"))
    held = (target / "corpus" / "real.txt").is_file() and not (target / "planted.txt").exists()
    return Outcome(held, f"extracted {found}")


@case("truncated tar.gz", "refused (cannot extract)")
def truncated(sandbox: Path) -> Outcome:
    archive = hostile.write_tar(
        sandbox / "cut.tar.gz", [hostile.member("a.bin", np.random.default_rng(0).bytes(300_000))]
    )
    archive.write_bytes(archive.read_bytes()[:-2000])
    return refused_archive(sandbox, archive, "cannot extract")


def an4_tree(root: Path) -> Path:
    """A tiny `an4/` tree as CMU ships it: a tone per utterance as 16-bit big-endian raw PCM."""
    tree = root / "an4"
    (tree / "etc").mkdir(parents=True)
    for part, folder in (("train", "an4_clstk"), ("test", "an4test_clstk")):
        fileid = f"{folder}/fash/an251-fash-{part[:2]}"
        raw = tree / "wav" / f"{fileid}.raw"
        raw.parent.mkdir(parents=True)
        tone = (3000 * np.sin(np.arange(8000) / 5)).astype(">i2")
        raw.write_bytes(tone.tobytes())
        (tree / "etc" / f"an4_{part}.fileids").write_text(fileid + "\n")
        (tree / "etc" / f"an4_{part}.transcription").write_text(
            f"<s> YES </s> (an251-fash-{part[:2]})\n"
        )
    return tree


@case("AN4 over HTTP: right layout + symlink chain + hard link", "refused, nothing outside")
def an4_end_to_end(sandbox: Path) -> Outcome:
    www = sandbox / "www"
    www.mkdir()
    tree = an4_tree(sandbox / "source")
    with tarfile.open(www / "an4_raw.bigendian.tar.gz", "w:gz") as tar:
        tar.add(tree, arcname="an4")  # passes the layout check made after extraction
        hostile.add_members(tar, hostile.escape_members(2))  # aims at the sandbox
        hostile.add_members(tar, hostile.write_through("escaped.txt", b"outside"))
        hostile.add_members(tar, hostile.overwrite_through("victim.txt", b"overwritten"))
    (sandbox / "victim.txt").write_text("original")
    data_dir = sandbox / "an4"
    before = hostile.snapshot(sandbox, skip=data_dir)
    with serve(www) as (url, _):
        outcome = raises(
            lambda: AN4Dataset("train", data_dir=data_dir, base_url=url, text_encoder=ENCODER),
            UnsafeArchiveError,
            "symlink",
        )
    left = sorted(path.name for path in data_dir.iterdir())
    lost = hostile.snapshot(sandbox, skip=data_dir) != before or left != [".lock"]
    return Outcome(outcome.held, outcome.detail, not lost)


# --- download faults ----------------------------------------------------------------------


def fetched(
    sandbox: Path,
    faults: list[str | None],
    expect_error: type[BaseException] | None = None,
    cut: int | None = None,
    part: bytes | None = None,
    checksum: str | None = None,
) -> Outcome:
    """Download PAYLOAD through `faults` (one per request). Held when the result is the exact
    payload (or `expect_error` was raised); nothing lost when no other file is kept."""
    www = sandbox / "www"
    www.mkdir()
    (www / "file.bin").write_bytes(PAYLOAD)
    target = sandbox / "out" / "file.bin"
    if part is not None:
        target.parent.mkdir()
        target.with_name("file.bin.part").write_bytes(part)
    with serve(www) as (url, state):
        state.faults["/file.bin"] = list(faults)
        if cut is not None:
            state.cut_after["/file.bin"] = cut
        try:
            download(f"{url}/file.bin", target, checksum, show_progress=False)
        except (DownloadError, ValueError) as error:
            held = expect_error is not None and isinstance(error, expect_error)
            detail = f"{type(error).__name__}: {error}"
        else:
            held = expect_error is None and target.read_bytes() == PAYLOAD
            detail = f"exact file after {len(state.requests)} request(s)"
            if not held:
                detail = f"kept a {target.stat().st_size}-byte file"
    kept = [path for path in (sandbox / "out").glob("*")] if (sandbox / "out").exists() else []
    corrupt = any(path.name != "file.bin" or path.read_bytes() != PAYLOAD for path in kept)
    return Outcome(held, f"{detail} [{describe(state)}]", not corrupt)


def describe(state: ServerState) -> str:
    return ", ".join(f"{'Range ' + header if header else 'GET'}" for _, header in state.requests)


def download_case(name: str, expected: str, **kwargs) -> None:
    @case(f"download: {name}", expected)
    def run(sandbox: Path) -> Outcome:
        return fetched(sandbox, **kwargs)


download_case(
    "body cut, no Content-Length, no checksum",
    "refused, nothing kept",
    faults=["no_length"],
    cut=300_000,
    expect_error=UnconfirmedSizeError,
)
download_case(
    "chunked body, no checksum",
    "refused, nothing kept",
    faults=["chunked"],
    expect_error=UnconfirmedSizeError,
)
download_case(
    "chunked body cut short (IncompleteRead)",
    "retried, resumed",
    faults=["chunked", "chunked"],
    cut=200_000,
    checksum="md5:" + hashlib.md5(PAYLOAD).hexdigest(),
)
download_case(
    "206 whose Content-Range starts at 0",
    "partial discarded, exact file",
    faults=[None, "range_from_zero"],
    cut=300_000,
)
download_case(
    "206 whose Content-Range total is wrong",
    "partial discarded, exact file",
    faults=[None, "range_bad_total"],
    cut=300_000,
)
download_case(
    "416 for a stale oversized .part",
    "partial discarded, exact file",
    faults=[],
    part=PAYLOAD + b"stale tail",
)
download_case("connection dropped before a response", "retried", faults=["disconnect"])
download_case("garbage status line (BadStatusLine)", "retried", faults=["garbage_status"])
download_case("Content-Length not a number", "retried", faults=["bad_length"])
download_case(
    "garbage status line on every attempt",
    "DownloadError, nothing kept",
    faults=["garbage_status"] * 3,
    expect_error=DownloadError,
)
download_case(
    "malformed checksum md5:abc",
    "ValueError before any request",
    faults=[],
    checksum="md5:abc",
    expect_error=ValueError,
)


# --- utterance ids and output paths -------------------------------------------------------


def id_case(name: str, utterance_id: object) -> None:
    @case(f"id: {name}", "refused naming m.jsonl:2")
    def run(sandbox: Path) -> Outcome:
        manifest = hostile.write_manifest(sandbox, ["fine", utterance_id])
        return raises(
            lambda: ManifestDataset(manifest, text_encoder=ENCODER), ValueError, "m.jsonl:2"
        )


for _id in hostile.BAD_IDS:
    id_case(repr(_id), _id)


@case("id: duplicate in one manifest", "refused naming both lines")
def duplicate_id(sandbox: Path) -> Outcome:
    manifest = hostile.write_manifest(sandbox, ["one", "two", "one"])
    outcome = raises(
        lambda: ManifestDataset(manifest, text_encoder=ENCODER), ValueError, "m.jsonl:1 and"
    )
    return Outcome(outcome.held and "m.jsonl:3" in outcome.detail, outcome.detail)


@case("inferencer: <id>.txt outside the partition folder", "refused, nothing written")
def inferencer_escape(sandbox: Path) -> Outcome:
    folder = sandbox / "out" / "test"
    folder.mkdir(parents=True)
    outcome = raises(lambda: output_path(folder, "../../escaped"), ValueError, "outside")
    return Outcome(outcome.held, outcome.detail, not list(sandbox.rglob("escaped*")))


@case("inferencer: NaN score in predictions.jsonl", "refused (strict JSON)")
def nan_record(sandbox: Path) -> Outcome:
    record = {"id": "u1", "decoders": {"Argmax": {"text": "", "score": math.nan}}}
    return raises(lambda: json_line(record), ValueError, "not finite")


# --- audio and transcripts ----------------------------------------------------------------


def audio_case(name: str, value: float) -> None:
    @case(f"audio: {name} sample in a float wav", "AudioReadError naming the file")
    def run(sandbox: Path) -> Outcome:
        samples = np.zeros(1600, dtype=np.float32)
        samples[7] = value
        sf.write(sandbox / "bad.wav", samples, 16000, subtype="FLOAT")
        return raises(lambda: load_audio(sandbox / "bad.wav"), AudioReadError, "bad.wav")


for _name, _value in (("NaN", math.nan), ("+inf", math.inf), ("-inf", -math.inf)):
    audio_case(_name, _value)


@case("audio: NaN wav while training", "skipped and counted")
def nan_training(sandbox: Path) -> Outcome:
    samples = np.full(1600, np.nan, dtype=np.float32)
    sf.write(sandbox / "bad.wav", samples, 16000, subtype="FLOAT")
    index = [{"id": "bad", "path": str(sandbox / "bad.wav"), "text": "a", "duration": 0.1}]
    item = BaseDataset(index, ENCODER, skip_bad_audio=True)[0]
    return Outcome("not finite" in item.get("skipped", ""), f"skipped: {item.get('skipped')}")


def transcript_case(corpus: str) -> None:
    @case(f"transcript not UTF-8: {corpus}", "error naming file:line")
    def run(sandbox: Path) -> Outcome:
        load, location = hostile.NON_UTF8_TRANSCRIPTS[corpus](sandbox, ENCODER)
        outcome = raises(load, ValueError, "not UTF-8")
        return Outcome(
            outcome.held and re.search(location, outcome.detail) is not None, outcome.detail
        )


for _corpus in hostile.NON_UTF8_TRANSCRIPTS:
    transcript_case(_corpus)


# --- checkpoints --------------------------------------------------------------------------


def refused_checkpoint(sandbox: Path, key: str, spec: dict, error: str) -> Outcome:
    """A real checkpoint whose stored `config[key]` is `spec`, loaded for inference: held when
    refused naming `error`; nothing lost when no marker file was written."""
    checkpoint = save_tiny_checkpoint(sandbox / "model.pth")
    path = hostile.with_stored_config(checkpoint, sandbox / "hostile.pth", key, spec)
    outcome = raises(lambda: load_trained_model(path), UnsafeSpecError, error)
    return Outcome(outcome.held, outcome.detail, not (sandbox / "pwned.txt").exists())


@case("checkpoint: config runs Path.write_text (nested _target_/_args_)", "refused, no file")
def config_writes_a_file(sandbox: Path) -> Outcome:
    spec = hostile.writes_a_file(sandbox / "pwned.txt")
    return refused_checkpoint(sandbox, "transforms.features", spec, "write_text' is not allowed")


@case("checkpoint: config calls torch.load(weights_only=False)", "refused")
def config_loads_pickles(sandbox: Path) -> Outcome:
    nested = {"_target_": "torch.load", "f": "x.pt", "weights_only": False}
    spec = {"_target_": "src.model.DeepSpeech2", "rnn_type": nested}
    return refused_checkpoint(sandbox, "model", spec, "_target_='torch.load'")


@case("checkpoint: pickled code (os.system)", "refused by weights_only, nothing run")
def pickled_code(sandbox: Path) -> Outcome:
    path = hostile.pickled_code(sandbox / "evil.pth", f"touch {sandbox / 'pwned.txt'}")
    outcome = raises(lambda: load_checkpoint(path), RuntimeError, "not a readable checkpoint")
    return Outcome(outcome.held, outcome.detail, not (sandbox / "pwned.txt").exists())


# --- training faults (a tiny run in this process) -----------------------------------------


def tiny_trainer(sandbox: Path, *overrides: str):
    return build_trainer(
        tiny_run_config(interrupts.tone_corpus(sandbox / "tones"), sandbox, *overrides)
    )


@case("training: NaN loss in a step", "skipped: weights, optimizer, schedule untouched")
def nan_loss(sandbox: Path) -> Outcome:
    trainer = tiny_trainer(sandbox)
    trainer.train_step([next(trainer.train_batches)])
    before = faults.training_state(trainer)
    faults.poison_loss(trainer, calls={1})
    skipped = trainer.train_step([next(trainer.train_batches)]) is None
    untouched = faults.same_state(faults.training_state(trainer), before)
    trainer.writer.finish()
    counted = trainer.skipped_steps["nonfinite"] == 1
    return Outcome(skipped and untouched and counted, f"counted {trainer.skipped_steps}")


@case("training: inf loss at every step (max_bad_steps=5)", "stopped with a clear error")
def diverged(sandbox: Path) -> Outcome:
    trainer = tiny_trainer(sandbox, "trainer.max_bad_steps=5")
    faults.poison_loss(trainer, calls=set(range(1, 100)), factor=math.inf)
    outcome = raises(trainer.train, TooManyBadSteps, "5 training steps in a row were skipped")
    trainer.writer.finish()
    return Outcome(
        outcome.held and trainer.step == 0, outcome.detail, not list(sandbox.rglob("*.pth"))
    )


@case("training: fp16, an inf gradient", "step and LR schedule skipped, scale halved")
def fp16_overflow(sandbox: Path) -> Outcome:
    trainer = tiny_trainer(sandbox, "trainer.amp=fp16")
    while trainer.train_step([next(trainer.train_batches)]) is None:
        pass  # GradScaler calibrates its scale on the first steps
    schedule, scale = trainer.lr_scheduler.last_epoch, trainer.scaler.get_scale()
    hook = next(trainer.model.parameters()).register_hook(lambda g: torch.full_like(g, math.inf))
    skipped = trainer.train_step([next(trainer.train_batches)]) is None
    hook.remove()
    trainer.writer.finish()
    kept = trainer.lr_scheduler.last_epoch == schedule
    halved = trainer.scaler.get_scale() == scale / 2
    detail = f"LR step {trainer.lr_scheduler.last_epoch} (was {schedule}), scale {scale:g} -> "
    return Outcome(skipped and kept and halved, detail + f"{trainer.scaler.get_scale():g}")


@case("training: CUDA out of memory in a step (injected)", "batch skipped, counted, run goes on")
def out_of_memory(sandbox: Path) -> Outcome:
    trainer = tiny_trainer(sandbox)
    faults.run_out_of_memory(trainer, calls={2})
    logs = trainer.train()
    trainer.writer.finish()
    held = trainer.step == 6 and logs["train_oom_skipped"] == 1
    return Outcome(held, f"{trainer.step} steps, train_oom_skipped {logs['train_oom_skipped']}")


@case("training: disk full while saving last.pth", "stopped, previous last.pth whole")
def disk_full(sandbox: Path) -> Outcome:
    trainer = tiny_trainer(sandbox, "trainer.monitor=off")
    with faults.full_disk(after_step=3):
        outcome = raises(trainer.train, CheckpointSaveError, "previous last.pth is intact")
    trainer.writer.finish()
    kept = load_checkpoint(sandbox / "run" / "last.pth")["step"] == 3
    return Outcome(outcome.held, outcome.detail, kept and not temporary_files(sandbox / "run"))


@case("training: trainer.monitor names a metric never logged", "refused before any work")
def monitor_typo(sandbox: Path) -> Outcome:
    outcome = raises(lambda: tiny_trainer(sandbox, "trainer.monitor=min val_WR"), ValueError, "")
    held = outcome.held and "val_WR" in outcome.detail
    return Outcome(held, outcome.detail, not (sandbox / "run").exists())


@case("training: a new run into another run's folder", "refused, its last.pth untouched")
def run_name_clash(sandbox: Path) -> Outcome:
    last = save_tiny_checkpoint(sandbox / "run" / "last.pth")
    before = last.read_bytes()
    outcome = raises(lambda: tiny_trainer(sandbox), FileExistsError, "trainer.resume_from=")
    return Outcome(outcome.held, outcome.detail, last.read_bytes() == before)


# --- real runs: stop signals, resumed exactly ---------------------------------------------

SCRATCH = Path(tempfile.mkdtemp(prefix="reliability-runs-"))
atexit.register(shutil.rmtree, SCRATCH, ignore_errors=True)
CHOICE = random.Random()  # which step a signal strikes at: the detail names it


@functools.cache
def reference() -> dict[str, torch.Tensor]:
    """Every tensor of the final last.pth of the uninterrupted `interrupts.run_overrides` run."""
    corpus = interrupts.tone_corpus(SCRATCH / "tones")
    result = interrupts.train(interrupts.run_overrides(corpus, SCRATCH / "reference"))
    if result.returncode != 0:
        raise RuntimeError(f"the uninterrupted run failed: {result.stderr[-2000:]}")
    return interrupts.final_tensors(SCRATCH / "reference")


def resumed_case(
    name: str, expected: str, fault: Callable[[], list[str]], checkpoint: str, exit_code: int
):
    @case(f"resume: {name}", expected)
    def run(sandbox: Path) -> Outcome:
        corpus = interrupts.tone_corpus(sandbox / "tones")
        faults_ = fault()
        run_ = interrupts.interrupted_and_resumed(corpus, sandbox / "run", faults_, checkpoint)
        differing = interrupts.differing(reference(), run_.final)
        detail = (
            f"{' '.join(faults_[1:])}: exit {run_.exit_code}, resumed at step "
            f"{run_.saved['step']}; {len(run_.final) - len(differing)}/{len(run_.final)} tensors "
            "of last.pth bit-identical"
        )
        return Outcome(not differing and run_.exit_code == exit_code, detail, not differing)


resumed_case(
    "SIGKILL after a last.pth (every augmentation, 1 worker)",
    "last.pth resumed bit-identically",
    lambda: ["--signal", "KILL", "--at-step", str(CHOICE.randint(5, 9))],
    "last.pth",
    -9,
)
resumed_case(
    "SIGINT at a random step",
    "exit 130, interrupted.pth, bit-identical",
    lambda: ["--signal", "INT", "--at-step", str(CHOICE.randint(1, 12))],
    "interrupted.pth",
    130,
)
resumed_case(
    "SIGTERM at a random step (pre-emption)",
    "exit 143, interrupted.pth, bit-identical",
    lambda: ["--signal", "TERM", "--at-step", str(CHOICE.randint(1, 12))],
    "interrupted.pth",
    143,
)
resumed_case(
    "SIGINT during validation",
    "exit 130, validation re-run, bit-identical",
    lambda: ["--signal", "INT", "--at-validation", f"{CHOICE.randint(1, 3)}:2"],
    "interrupted.pth",
    130,
)


# --- real runs: one run SIGKILLed 20 times ------------------------------------------------

KILLS = 20


@functools.cache
def chain() -> interrupts.KillChain:
    return interrupts.KillChain(SCRATCH / "chain", epochs=50, seed=2026)  # 100 steps


def kill_case(number: int, moment: str) -> None:
    @case(
        f"SIGKILL {number}/{KILLS} at a random moment of {moment}",
        "restarts from a whole last.pth, temporaries removed",
    )
    def run(sandbox: Path) -> Outcome:
        kill = chain().kill(moment)
        saving = kill.in_save[0][1:].rsplit(".", 2)[0] if kill.in_save else ""  # .<name>.x.tmp
        where = f"in a save ({saving})" if saving else "outside a save"
        detail = f"killed {where if kill.killed else 'NOT (the run had ended)'}: last.pth step "
        detail += f"{kill.step}, {len(kill.readable)} checkpoints whole"
        if kill.unreadable:
            detail += f", NOT {kill.unreadable}"
        if kill.previous_left:
            detail += "; stale .tmp removed" if kill.previous_removed else "; stale .tmp KEPT"
        held = kill.killed and kill.previous_removed and "last.pth" in kill.readable
        kept = not kill.unreadable and kill.step >= max(chain().steps)  # never went back
        return Outcome(held, detail, kept)


for _number in range(1, KILLS + 1):
    kill_case(_number, "saving" if _number % 2 else "training")


@case(f"SIGKILL x{KILLS}: the run finished after its restarts", "bit-identical to uninterrupted")
def after_the_kills(sandbox: Path) -> Outcome:
    final = chain().finish()
    differing = interrupts.differing(chain().uninterrupted(), final)
    detail = f"{len(final) - len(differing)}/{len(final)} tensors of last.pth bit-identical"
    return Outcome(not differing, detail, not differing)


# --- the run ------------------------------------------------------------------------------


def run_case(entry: Case) -> Outcome:
    """Run one case in a fresh sandbox folder, removed afterwards; paths in its detail are
    shown relative to the sandbox."""
    sandbox = Path(tempfile.mkdtemp(prefix="reliability-"))
    try:
        outcome = entry.run(sandbox)
    except Exception as error:  # an unexpected failure is a case that did not hold
        where = traceback.extract_tb(error.__traceback__)[-1]
        outcome = Outcome(False, f"unexpected {type(error).__name__}: {error} ({where.name})")
    finally:
        shutil.rmtree(sandbox, ignore_errors=True)
    detail = outcome.detail.replace(f"{sandbox}/", "")
    return Outcome(outcome.held, detail, outcome.nothing_lost)


def cell(text: str, width: int) -> str:
    """`text` on one line, at most `width` characters, safe inside a Markdown table."""
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= width else text[: width - 3] + "..."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="run only the cases whose name holds this")
    parser.add_argument("--list", action="store_true", help="list the cases and stop")
    parser.add_argument("--width", type=int, default=100, help="characters of detail shown")
    args = parser.parse_args(argv)
    chosen = [entry for entry in CASES if args.only.lower() in entry.name.lower()]
    if args.list:
        print("\n".join(entry.name for entry in chosen))
        return 0
    start = time.perf_counter()
    print("| case | expected | held | nothing lost | detail |\n|---|---|---|---|---|")
    held = intact = 0
    for entry in chosen:
        outcome = run_case(entry)
        held += outcome.held
        intact += outcome.nothing_lost
        print(
            f"| {cell(entry.name, 80)} | {cell(entry.expected, 40)} | "
            f"{'yes' if outcome.held else '**NO**'} | "
            f"{'yes' if outcome.nothing_lost else '**NO**'} | {cell(outcome.detail, args.width)} |",
            flush=True,
        )
    seconds = time.perf_counter() - start
    print(f"\ncases tried: {len(chosen)} / held: {held} / nothing lost: {intact} ({seconds:.0f} s)")
    return 0 if held == intact == len(chosen) else 1


if __name__ == "__main__":
    logging.disable(logging.WARNING)  # the retries' warnings: the table says what happened
    sys.exit(main())
