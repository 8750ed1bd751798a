"""Audio file reading: soundfile for wav/flac/ogg/mp3, FFmpeg (when installed) for the rest."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a")
FFMPEG_ONLY_EXTENSIONS = (".m4a",)


class AudioReadError(RuntimeError):
    """An audio file could not be decoded; the message names the file."""


def _read_with_ffmpeg(path: Path, sample_rate: int) -> tuple[np.ndarray, int]:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioReadError(
            f"{path}: {path.suffix} audio needs FFmpeg, which is not installed "
            "(install it, e.g. `apt-get install ffmpeg`, or convert the file to wav/flac)"
        )
    command = [ffmpeg, "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "1"]
    command += ["-ar", str(sample_rate), "-"]
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
