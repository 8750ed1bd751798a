"""Audio file reading: soundfile for wav/flac/ogg/mp3, FFmpeg (when installed) for the rest."""

import math
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a")
FFMPEG_ONLY_EXTENSIONS = (".m4a",)


class AudioReadError(RuntimeError):
    """An audio file could not be decoded; the message names the file."""


def _ffmpeg_command(path: Path, sample_rate: int) -> list[str]:
    """FFmpeg decoding `path` to mono float32 at `sample_rate` on its stdout; an error naming
    the file when FFmpeg is not installed."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioReadError(
            f"{path}: {path.suffix} audio needs FFmpeg, which is not installed "
            "(install it, e.g. `apt-get install ffmpeg`, or convert the file to wav/flac)"
        )
    command = [ffmpeg, "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "1"]
    return [*command, "-ar", str(sample_rate), "-"]


def _read_with_ffmpeg(path: Path, sample_rate: int) -> tuple[np.ndarray, int]:
    command = _ffmpeg_command(path, sample_rate)
    result = subprocess.run(command, capture_output=True, check=False)
    if result.returncode != 0:
        raise AudioReadError(f"{path}: FFmpeg failed: {result.stderr.decode(errors='replace')}")
    return np.frombuffer(result.stdout, dtype=np.float32), sample_rate


def load_audio(path: str | Path, sample_rate: int = 16000) -> torch.Tensor:
    """Read a file as a mono float32 waveform (L,) at `sample_rate`. Unreadable files and
    samples that are not finite (NaN, inf: float wav) raise `AudioReadError` naming the file."""
    path = Path(path)
    if path.suffix.lower() in FFMPEG_ONLY_EXTENSIONS:
        samples, file_rate = _read_with_ffmpeg(path, sample_rate)
    else:
        try:
            samples, file_rate = sf.read(path, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, OSError) as error:
            raise AudioReadError(f"{path}: cannot read audio ({error})") from error
        samples = samples.mean(axis=1)
    if not np.isfinite(samples).all():
        raise AudioReadError(f"{path}: samples are not finite (NaN or inf)")
    audio = torch.from_numpy(np.ascontiguousarray(samples))
    if file_rate != sample_rate:
        audio = torchaudio.functional.resample(audio, file_rate, sample_rate)
    return audio


def _mono_blocks(path: Path, block_frames: int) -> tuple[Iterator[np.ndarray], int]:
    """The file's samples as mono float32 blocks, and its sample rate (soundfile formats)."""
    try:
        sound = sf.SoundFile(path)
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        raise AudioReadError(f"{path}: cannot read audio ({error})") from error

    def blocks() -> Iterator[np.ndarray]:
        with sound:
            while True:
                try:
                    block = sound.read(block_frames, dtype="float32", always_2d=True)
                except (sf.LibsndfileError, RuntimeError) as error:
                    raise AudioReadError(f"{path}: cannot read audio ({error})") from error
                if len(block) == 0:
                    return
                yield block.mean(axis=1)

    return blocks(), sound.samplerate


def _ffmpeg_blocks(path: Path, sample_rate: int, block_frames: int) -> Iterator[np.ndarray]:
    """FFmpeg's decoding of `path` at `sample_rate`, mono, read from its pipe in blocks."""
    command = _ffmpeg_command(path, sample_rate)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        while chunk := process.stdout.read(4 * block_frames):
            yield np.frombuffer(chunk[: len(chunk) // 4 * 4], dtype=np.float32)
        errors = process.stderr.read().decode(errors="replace")
    if process.returncode != 0:
        raise AudioReadError(f"{path}: FFmpeg failed: {errors}")


def _resample_margin(orig: int, new: int) -> int:
    """Input samples (a multiple of `orig`) beyond a block that torchaudio's sinc kernel
    (`lowpass_filter_width` 6, rolloff 0.99) can reach, with room to spare."""
    width = math.ceil(8 * orig / (min(orig, new) * 0.99))
    return orig * (width // orig + 2)


def _resampled(blocks: Iterator[np.ndarray], file_rate: int, sample_rate: int, step: int):
    """`torchaudio.functional.resample` of the concatenated blocks, computed block by block:
    each output block is resampled from its input span plus a margin on both sides (zeros only
    at the true start and end), so the samples equal those of resampling the whole signal."""
    gcd = math.gcd(file_rate, sample_rate)
    orig, new = file_rate // gcd, sample_rate // gcd
    margin = _resample_margin(orig, new)
    step = max(orig, step // orig * orig)  # input samples per output block, a multiple of orig
    buffer = np.zeros(0, dtype=np.float32)
    offset = 0  # global index of buffer[0]
    start = 0  # global input index of the next output block
    exhausted = False
    while not exhausted or start < offset + len(buffer):
        if not exhausted and offset + len(buffer) < start + step + margin:
            block = next(blocks, None)
            if block is None:
                exhausted = True
            else:
                buffer = np.concatenate([buffer, block])
            continue
        end = min(start + step, offset + len(buffer)) if exhausted else start + step
        left = max(start - margin, 0)
        span = torch.from_numpy(buffer[left - offset : end + margin - offset])
        resampled = torchaudio.functional.resample(span, file_rate, sample_rate)
        first = (start - left) // orig * new
        count = (end - start) // orig * new if end - start == step else None
        yield resampled[first : None if count is None else first + count]
        start = end
        keep = max(start - margin, 0)
        buffer, offset = buffer[keep - offset :], keep


def read_audio_blocks(
    path: str | Path, sample_rate: int = 16000, block_seconds: float = 10.0
) -> Iterator[torch.Tensor]:
    """The same mono float32 samples at `sample_rate` as `load_audio`, read in blocks of about
    `block_seconds`, so memory stays bounded by the block whatever the file's length."""
    path = Path(path)
    if path.suffix.lower() in FFMPEG_ONLY_EXTENSIONS:
        for block in _ffmpeg_blocks(path, sample_rate, round(block_seconds * sample_rate)):
            yield torch.from_numpy(block.copy())
        return
    blocks, file_rate = _mono_blocks(path, round(block_seconds * sample_rate))
    if file_rate == sample_rate:
        for block in blocks:
            yield torch.from_numpy(np.ascontiguousarray(block))
        return
    yield from _resampled(blocks, file_rate, sample_rate, round(block_seconds * file_rate))
