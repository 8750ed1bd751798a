"""Generate the synthetic English speech corpus: grammar sentences spoken by eSpeak NG voices.

Layout under `root` (LibriSpeech style, one chapter per speaker and split):

    LibriSpeech/<split>/<speaker>/<chapter>/<speaker>-<chapter>-<utt:04d>.flac
    LibriSpeech/<split>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt  ("ID TEXT" lines)
    LibriSpeech/SPEAKERS.TXT                  speaker -> split and eSpeak voice
    <split>.jsonl                             {"duration", "id", "path", "speaker", "text",
                                               "word_starts" (s per word, null: no own event)}
    .complete.json                            generation parameters, written last

Splits are `train`, `val` and `test`. Train is spread over 80 voices, one per eSpeak variant
(`TRAIN_VARIANTS`). Val and test voices use variants that train never hears (val: m6, f5; test:
m7, f4), so both measure generalisation to unseen speakers; all sentences are distinct across
the corpus. Every utterance is rendered by a fresh eSpeak engine
with its own seed, so the files depend on the parameters only, not on `num_workers`.

CLI: `python -m src.datasets.synthesis --root data/synthetic [--seed 0 --n-train 3000]`.
"""

import argparse
import functools
import json
import logging
import multiprocessing
import os
import random
import re
import shutil
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional
from filelock import FileLock
from tqdm import tqdm

from src.datasets.synthesis.espeak import ESpeakError, ESpeakSynthesizer
from src.datasets.synthesis.sentences import transcript, unique_sentences

logger = logging.getLogger(__name__)

# 2: 80 training voices instead of 12; 3: the manifests record each word's start (eSpeak NG's
# word events), the audio is unchanged
CORPUS_VERSION = 3
SAMPLE_RATE = 16_000
MARGIN_SECONDS = 0.1  # silence kept before and after the speech
SILENCE_THRESHOLD = 0.005  # relative to the peak
PEAK_LEVEL = 0.7
SPLITS = ("train", "val", "test")
CHAPTERS = {"train": 1, "val": 2, "test": 3}
MARKER = ".complete.json"


@dataclass(frozen=True)
class Voice:
    """An eSpeak voice ("language+variant") at a given rate (wpm), pitch and range (0..99)."""

    speaker: int
    name: str
    rate: int
    pitch: int
    pitch_range: int = 50

    @property
    def variant(self) -> str:
        return self.name.partition("+")[2]


# eSpeak NG voice variants that training may use: every human-sounding variant shipped with the
# engine except the held-out ones below (robotic, echo-laden and whispering variants are left
# out). Many voices matter: with 12 training voices the model learnt them and generalised
# badly to new ones.
# fmt: off
TRAIN_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m8", "f1", "f2", "f3", "klatt", "klatt2", "klatt3", "klatt4",
    "klatt5", "klatt6", "croak", "Alex", "Alicia", "Andrea", "Andy", "Annie", "AnxiousAndy",
    "Denis", "Diogo", "Gene", "Gene2", "Henrique", "Hugo", "Jacky", "Lee", "Marco", "Mario",
    "Michael", "Mike", "Nguyen", "Storm", "Tweaky", "adam", "anika", "antonio", "aunty",
    "belinda", "benjamin", "boris", "caleb", "david", "ed", "edward", "edward2", "grandma",
    "grandpa", "gustave", "ian", "iven", "iven2", "iven3", "iven4", "john", "kaukovalta", "linda",
    "marcelo", "max", "michel", "miguel", "mike2", "norbert", "pablo", "paul", "pedro", "quincy",
    "Reed", "rob", "robert", "sandro", "shelby", "steph", "steph2", "steph3", "travis", "victor",
)
# fmt: on
HELD_OUT_VARIANTS = frozenset({"m6", "f5", "m7", "f4"})  # val and test voices only
# English accents and how often training voices use them.
ACCENTS = {
    "en-us": 4,
    "en": 3,
    "en-gb-x-rp": 1,
    "en-gb-scotland": 1,
    "en-029": 1,
    "en-us-nyc": 1,
    "en-gb-x-gbclan": 1,
    "en-gb-x-gbcwmd": 1,
}


def _train_voices() -> tuple[Voice, ...]:
    """One training voice per variant, each with its own accent, rate, pitch and range,
    drawn from a fixed generator: the table is a constant of the corpus version."""
    rng = random.Random(2026)
    accents = list(ACCENTS)
    return tuple(
        Voice(
            101 + index,
            f"{rng.choices(accents, weights=list(ACCENTS.values()))[0]}+{variant}",
            rate=rng.randint(140, 195),
            pitch=rng.randint(30, 70),
            pitch_range=rng.randint(30, 80),
        )
        for index, variant in enumerate(TRAIN_VARIANTS)
    )


VOICES: dict[str, tuple[Voice, ...]] = {
    "train": _train_voices(),
    "val": (
        Voice(201, "en-us+f5", 170, 50),
        Voice(202, "en+m6", 160, 50),
    ),
    "test": (
        Voice(301, "en-us+m7", 175, 45),
        Voice(302, "en+f4", 165, 55),
        Voice(303, "en-us+f4", 150, 60, 60),
        Voice(304, "en+m7", 190, 40),
    ),
}


@dataclass(frozen=True)
class Utterance:
    id: str
    split: str
    voice: Voice
    sentence: str
    seed: int

    @property
    def folder(self) -> str:
        return f"LibriSpeech/{self.split}/{self.voice.speaker}/{CHAPTERS[self.split]}"

    @property
    def path(self) -> str:
        return f"{self.folder}/{self.id}.flac"

    @property
    def text(self) -> str:
        return transcript(self.sentence)


def plan_corpus(seed: int, n_train: int, n_val: int, n_test: int) -> list[Utterance]:
    """Distinct sentences, dealt round-robin to each split's voices.

    Test takes the first sentences, then val, then train: the held-out sets do not change with
    `n_train`.
    """
    rng = random.Random(seed)
    counts = {"test": n_test, "val": n_val, "train": n_train}
    sentences = iter(unique_sentences(rng, sum(counts.values())))
    utterances = []
    for split, count in counts.items():
        voices = VOICES[split]
        for index in range(count):
            voice = voices[index % len(voices)]
            utterance_id = f"{voice.speaker}-{CHAPTERS[split]}-{index // len(voices):04d}"
            utterances.append(
                Utterance(utterance_id, split, voice, next(sentences), rng.getrandbits(31))
            )
    return utterances


def trim_silence(audio: np.ndarray, margin: int) -> tuple[np.ndarray, int]:
    """Cut the silence around the speech down to `margin` samples (padding with zeros); also
    returns where the result starts in `audio` (negative when padded)."""
    loud = np.flatnonzero(np.abs(audio) > SILENCE_THRESHOLD * np.abs(audio).max())
    if loud.size == 0:
        raise ESpeakError("eSpeak produced silence")
    start, end = loud[0] - margin, loud[-1] + 1 + margin
    padding = (max(-start, 0), max(end - len(audio), 0))
    return np.pad(audio[max(start, 0) : end], padding), int(start)


def postprocess(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, float]:
    """Resample to 16 kHz, keep `MARGIN_SECONDS` of silence around the speech, set the peak;
    also returns the seconds cut from the start (negative when silence was added)."""
    audio = torchaudio.functional.resample(torch.from_numpy(audio), sample_rate, SAMPLE_RATE)
    audio, start = trim_silence(audio.numpy(), round(MARGIN_SECONDS * SAMPLE_RATE))
    return (audio * (PEAK_LEVEL / np.abs(audio).max())).astype(np.float32), start / SAMPLE_RATE


@dataclass(frozen=True)
class Rendered:
    """What `render` reports: the file's duration and each transcript word's start (s), None
    for a word eSpeak spoke together with the one before it (no word event of its own)."""

    duration: float
    word_starts: list[float | None]


def word_starts(
    sentence: str, events: list[tuple[int, int]], sample_rate: int, cut: float, duration: float
) -> list[float | None]:
    """Per transcript word of `sentence`, the time (s, in the final file) of the word event
    that points at it: at its first character, or at the space or punctuation before it. No
    time is before the speech onset (`MARGIN_SECONDS`): eSpeak reports the first word at the
    start of its output, before its leading silence."""
    spans = [match.span() for match in re.finditer(r"[^\s,.?!]+", sentence)]
    starts: list[float | None] = [None] * len(spans)
    for position, sample in events:
        word = next((i for i, (_, end) in enumerate(spans) if position < end), None)
        if word is not None and starts[word] is None:
            seconds = sample / sample_rate - cut
            starts[word] = round(min(max(seconds, MARGIN_SECONDS), duration), 4)
    return starts


def render(utterance: Utterance, folder: Path) -> Rendered:
    """Synthesise one utterance into `folder` as 16-bit FLAC, with its words' start times."""
    voice = utterance.voice
    with ESpeakSynthesizer() as engine:
        engine.set_voice(voice.name, voice.rate, voice.pitch, voice.pitch_range)
        speech = engine.synthesize(utterance.sentence, utterance.seed)
        audio, cut = postprocess(speech, engine.sample_rate)
        events, rate = engine.word_events, engine.sample_rate
    path = folder / utterance.path
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    duration = len(audio) / SAMPLE_RATE
    return Rendered(duration, word_starts(utterance.sentence, events, rate, cut, duration))


def _init_worker() -> None:
    torch.set_num_threads(1)
    # oneDNN caches a convolution primitive per input length: ~1 MB per utterance otherwise.
    torch.backends.mkldnn.enabled = False


def _render_all(utterances: list[Utterance], folder: Path, num_workers: int) -> list[Rendered]:
    """Render in `num_workers` processes; results come back in `utterances` order."""
    if num_workers < 1:
        raise ValueError(f"num_workers must be >= 1, got {num_workers}")
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    task = functools.partial(render, folder=folder)
    with multiprocessing.get_context(method).Pool(num_workers, _init_worker) as pool:
        results = pool.imap(task, utterances, chunksize=8)
        return list(tqdm(results, total=len(utterances), desc="synthesising", unit="utt"))


def _write_index(folder: Path, utterances: list[Utterance], rendered: list[Rendered]) -> None:
    """The JSONL manifests, the LibriSpeech transcripts and SPEAKERS.TXT."""
    manifests: dict[str, list[str]] = {split: [] for split in SPLITS}
    transcripts: dict[str, list[str]] = defaultdict(list)
    for utterance, result in zip(utterances, rendered, strict=True):
        record = {
            "id": utterance.id,
            "path": utterance.path,
            "duration": round(result.duration, 4),
            "text": utterance.text,
            "speaker": utterance.voice.speaker,
            "word_starts": result.word_starts,
        }
        manifests[utterance.split].append(json.dumps(record, sort_keys=True) + "\n")
        transcripts[utterance.folder].append(f"{utterance.id} {utterance.text.upper()}\n")
    for split, lines in manifests.items():
        (folder / f"{split}.jsonl").write_text("".join(lines), encoding="utf-8")
    for chapter_folder, lines in transcripts.items():
        speaker, chapter = chapter_folder.split("/")[-2:]
        path = folder / chapter_folder / f"{speaker}-{chapter}.trans.txt"
        path.write_text("".join(sorted(lines)), encoding="utf-8")
    speakers = [
        f"{voice.speaker} | {split} | {voice.name} | rate {voice.rate} | pitch {voice.pitch}"
        f" | range {voice.pitch_range}\n"
        for split in SPLITS
        for voice in VOICES[split]
    ]
    (folder / "LibriSpeech").mkdir(exist_ok=True)
    (folder / "LibriSpeech" / "SPEAKERS.TXT").write_text("".join(speakers), encoding="utf-8")


def _parameters(seed: int, n_train: int, n_val: int, n_test: int) -> dict[str, int]:
    if min(n_train, n_val, n_test) < 0:
        raise ValueError("utterance counts must be >= 0")
    counts = {"n_train": n_train, "n_val": n_val, "n_test": n_test}
    return {"version": CORPUS_VERSION, "seed": seed, **counts}


def _is_complete(root: Path, parameters: dict[str, int]) -> bool:
    try:
        return json.loads((root / MARKER).read_text()) == parameters
    except (OSError, ValueError):
        return False


def _replace(root: Path, staging: Path) -> None:
    """Move the finished `staging` folder to `root`, retiring a previous corpus there."""
    if not root.exists():
        staging.rename(root)
        return
    retired = root.with_name(f".{root.name}.old-{os.getpid()}")
    root.rename(retired)
    staging.rename(root)
    shutil.rmtree(retired)


def _build(root: Path, parameters: dict[str, int], num_workers: int) -> None:
    """Generate into a temporary sibling of `root`, then rename it into place."""
    if root.exists() and any(root.iterdir()) and not (root / MARKER).is_file():
        raise FileExistsError(f"{root} is not empty and holds no synthetic corpus; not replacing")
    for kind in ("tmp", "old"):  # left by a killed run; nobody else works here (we hold the lock)
        for leftover in root.parent.glob(f".{root.name}.{kind}-*"):
            shutil.rmtree(leftover)
    logger.info("generating the synthetic corpus in %s (%s)", root, parameters)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        counts = {key: value for key, value in parameters.items() if key != "version"}
        utterances = plan_corpus(**counts)
        rendered = _render_all(utterances, staging, num_workers)
        _write_index(staging, utterances, rendered)
        (staging / MARKER).write_text(json.dumps(parameters, sort_keys=True) + "\n")
        _replace(root, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def ensure_corpus(
    root: str | Path,
    seed: int = 0,
    n_train: int = 3000,
    n_val: int = 200,
    n_test: int = 200,
    num_workers: int = 2,
    force: bool = False,
) -> bool:
    """Generate the corpus unless `root` already holds one with these parameters (or `force`),
    replacing a previous synthetic corpus there. Returns whether it generated.
    """
    root = Path(root)
    parameters = _parameters(seed, n_train, n_val, n_test)
    if not force and _is_complete(root, parameters):
        return False
    with FileLock(root.parent / f".{root.name}.lock"):  # one generator per root
        if not force and _is_complete(root, parameters):  # another process finished meanwhile
            return False
        _build(root, parameters, num_workers)
    return True


def summarize(root: Path) -> dict[str, dict[str, float]]:
    """Per split: utterances, hours, mean duration (s) and speakers, from the manifests."""
    summary = {}
    for split in SPLITS:
        lines = (Path(root) / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines]
        durations = [record["duration"] for record in records]
        summary[split] = {
            "utterances": len(records),
            "hours": sum(durations) / 3600,
            "mean_seconds": sum(durations) / max(len(durations), 1),
            "speakers": len({record["speaker"] for record in records}),
        }
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path("data/synthetic"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-train", type=int, default=3000)
    parser.add_argument("--n-val", type=int, default=200)
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--force", action="store_true", help="regenerate even if complete")
    args = parser.parse_args(argv)
    options = {
        "seed": args.seed,
        "n_train": args.n_train,
        "n_val": args.n_val,
        "n_test": args.n_test,
        "num_workers": args.num_workers,
    }
    start = time.perf_counter()
    if not ensure_corpus(args.root, **options, force=args.force):
        print(f"{args.root} is already complete (use --force to regenerate)")
    print(f"done in {time.perf_counter() - start:.1f} s")
    for split, stats in summarize(args.root).items():
        print(
            f"{split:>5}: {stats['utterances']} utterances, {stats['hours']:.2f} h,"
            f" mean {stats['mean_seconds']:.2f} s, {stats['speakers']} speakers"
        )
