"""Waveform augmentations, applied by the training dataset to each utterance (L,) in turn.

Every random draw comes from the `random.Random` passed with the waveform (noise tensors from a
`torch.Generator` seeded by it), never from global state: the training dataset builds one per
item from (seed, pass, index), so an augmented utterance is the same whichever loader worker
makes it and after a resume. All keep the length and float32 except `SpeedPerturbation`, which
changes the duration on purpose.
"""

import math
import random
from pathlib import Path

import torch
import torchaudio
from torch import nn

from src.utils.audio import AUDIO_EXTENSIONS, load_audio

# Noise colours: amplitude spectrum proportional to f ** -exponent (power to f ** -2 exponent).
NOISE_EXPONENTS = {"white": 0.0, "pink": 0.5, "brown": 1.0}


def seeded_generator(rng: random.Random) -> torch.Generator:
    """A torch generator seeded from `rng`, the one random source of an augmentation."""
    return torch.Generator().manual_seed(rng.getrandbits(63))


def check_range(name: str, low: float, high: float) -> None:
    if low > high:
        raise ValueError(f"{name}: min {low} is above max {high}")


def fit_length(audio: torch.Tensor, length: int) -> torch.Tensor:
    """Cut or zero-pad the last dimension to `length`."""
    return nn.functional.pad(audio, (0, length - audio.shape[-1]))


def match_rms(audio: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """`audio` scaled to the RMS level of `reference` (silence stays silence)."""
    rms = audio.square().mean().sqrt()
    if rms == 0:
        return audio
    return audio * (reference.square().mean().sqrt() / rms)


class WaveAugmentation(nn.Module):
    """Applies `augment` to a waveform with probability `p` and checks the result is finite;
    every draw (`p` included) comes from the `rng` passed in."""

    def __init__(self, p: float = 1.0) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {p}")
        self.p = p

    def augment(self, audio: torch.Tensor, rng: random.Random) -> torch.Tensor:
        raise NotImplementedError

    @property
    def min_length_ratio(self) -> float:
        """The shortest output length as a fraction of the input's (1.0: length kept)."""
        return 1.0

    def forward(self, audio: torch.Tensor, rng: random.Random) -> torch.Tensor:
        if rng.random() >= self.p:
            return audio
        output = self.augment(audio, rng)
        if not torch.isfinite(output).all():
            where = "input" if not torch.isfinite(audio).all() else "output"
            raise ValueError(f"{type(self).__name__}: non-finite samples in its {where}")
        return output


class SpeedPerturbation(WaveAugmentation):
    """Play an utterance faster or slower by a random factor: tempo, pitch and formants move
    together, like a different speaker. Changes the length (by 1 / factor)."""

    def __init__(
        self,
        sample_rate: int = 16000,
        min_factor: float = 0.9,
        max_factor: float = 1.1,
        p: float = 1.0,
    ) -> None:
        super().__init__(p)
        if not 0 < min_factor <= max_factor:
            raise ValueError(f"need 0 < min_factor <= max_factor, got {min_factor}, {max_factor}")
        self.sample_rate = sample_rate
        self.min_factor = min_factor
        self.max_factor = max_factor

    def augment(self, audio: torch.Tensor, rng: random.Random) -> torch.Tensor:
        factor = rng.uniform(self.min_factor, self.max_factor)
        # rates rounded to 100 Hz keep the resampling kernel small
        source_rate = round(self.sample_rate * factor / 100) * 100
        if source_rate == self.sample_rate:
            return audio
        return torchaudio.functional.resample(audio, source_rate, self.sample_rate)

    @property
    def min_length_ratio(self) -> float:
        return self.sample_rate / (round(self.sample_rate * self.max_factor / 100) * 100)


class Gain(WaveAugmentation):
    """Scale by a random gain in dB. No clipping: float audio has no ceiling. Note that
    per-utterance normalised log features are invariant to it; it matters with
    `normalize: false` features or before a level-dependent augmentation."""

    def __init__(self, min_gain_db: float = -6.0, max_gain_db: float = 6.0, p: float = 1.0):
        super().__init__(p)
        check_range("Gain", min_gain_db, max_gain_db)
        self.min_gain_db = min_gain_db
        self.max_gain_db = max_gain_db

    def augment(self, audio: torch.Tensor, rng: random.Random) -> torch.Tensor:
        gain_db = rng.uniform(self.min_gain_db, self.max_gain_db)
        return torchaudio.functional.gain(audio, gain_db)


def colored_noise(
    shape: int | tuple[int, ...],
    color: str,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Gaussian noise of `shape` (time last) shaped to a white, pink (1/f) or brown (1/f^2)
    power spectrum, drawn from `generator` (default: `device`'s global one)."""
    white = torch.randn(shape, generator=generator, device=device)
    exponent = NOISE_EXPONENTS[color]
    if exponent == 0.0:
        return white
    spectrum = torch.fft.rfft(white)
    bins = torch.arange(spectrum.shape[-1], dtype=torch.float32, device=device).clamp_min(1.0)
    spectrum = spectrum / bins**exponent
    spectrum[..., 0] = 0  # no DC offset
    return torch.fft.irfft(spectrum, n=white.shape[-1])


def list_audio_files(folder: str | Path) -> list[Path]:
    """Every audio file below `folder`, sorted; an error names a missing or empty folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"noise folder {folder} does not exist")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        raise ValueError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) in {folder}")
    return files


class AdditiveNoise(WaveAugmentation):
    """Add noise at a random SNR (dB) with `torchaudio.functional.add_noise`. The noise is
    generated (one of `colors`) or, when `noise_dir` is set, may also be a random excerpt of a
    file below it (looped when shorter than the utterance); each source is equally likely."""

    def __init__(
        self,
        sample_rate: int = 16000,
        min_snr_db: float = 5.0,
        max_snr_db: float = 30.0,
        colors: list[str] | tuple[str, ...] = ("white", "pink", "brown"),
        noise_dir: str | Path | None = None,
        p: float = 1.0,
    ) -> None:
        super().__init__(p)
        check_range("AdditiveNoise", min_snr_db, max_snr_db)
        unknown = sorted(set(colors) - set(NOISE_EXPONENTS))
        if unknown:
            raise ValueError(
                f"AdditiveNoise: unknown colors {unknown}, use {list(NOISE_EXPONENTS)}"
            )
        self.noise_files = list_audio_files(noise_dir) if noise_dir is not None else []
        self.sources = [*colors, *(["file"] if self.noise_files else [])]
        if not self.sources:
            raise ValueError("AdditiveNoise: no noise source (empty colors and no noise_dir)")
        self.sample_rate = sample_rate
        self.min_snr_db = min_snr_db
        self.max_snr_db = max_snr_db

    def augment(self, audio: torch.Tensor, rng: random.Random) -> torch.Tensor:
        snr_db = rng.uniform(self.min_snr_db, self.max_snr_db)
        source = rng.choice(self.sources)
        if source == "file":
            noise = self.file_noise(audio.shape[-1], rng)
        else:
            noise = colored_noise(audio.shape[-1], source, seeded_generator(rng))
        return torchaudio.functional.add_noise(audio, noise, torch.tensor(snr_db))

    def file_noise(self, length: int, rng: random.Random) -> torch.Tensor:
        path = rng.choice(self.noise_files)
        noise = load_audio(path, self.sample_rate)
        if not noise.abs().max() > 0:
            raise ValueError(f"{path}: the noise file is silent")
        noise = noise.repeat(math.ceil(length / noise.shape[0]))
        start = rng.randrange(noise.shape[0] - length + 1)
        return noise[start : start + length]


class PitchShift(WaveAugmentation):
    """Shift the pitch by a random number of semitones, duration kept: a phase-vocoder time
    stretch by the pitch ratio, then resampling back to the original length (the method of
    `torchaudio.functional.pitch_shift`, with the ratio rounded to `rate_step` Hz of source
    rate so that the resampling kernel stays small: torchaudio's own takes seconds). The phase
    vocoder loses level when it stretches (4.5 dB on a tone, torchaudio's pitch_shift too), so
    the RMS level is set back to the input's."""

    def __init__(
        self,
        sample_rate: int = 16000,
        min_semitones: float = -2.0,
        max_semitones: float = 2.0,
        n_fft: int = 512,
        hop_length: int = 128,
        rate_step: int = 100,
        p: float = 1.0,
    ) -> None:
        super().__init__(p)
        check_range("PitchShift", min_semitones, max_semitones)
        self.sample_rate = sample_rate
        self.min_semitones = min_semitones
        self.max_semitones = max_semitones
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.rate_step = rate_step
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        phase_advance = torch.linspace(0, math.pi * hop_length, n_fft // 2 + 1)[:, None]
        self.register_buffer("phase_advance", phase_advance, persistent=False)

    def augment(self, audio: torch.Tensor, rng: random.Random) -> torch.Tensor:
        semitones = rng.uniform(self.min_semitones, self.max_semitones)
        step = self.rate_step
        source_rate = round(self.sample_rate * 2 ** (semitones / 12) / step) * step
        if source_rate == self.sample_rate:
            return audio
        ratio = source_rate / self.sample_rate  # the pitch factor
        stft = {"n_fft": self.n_fft, "hop_length": self.hop_length, "window": self.window}
        spectrogram = torch.stft(audio, **stft, return_complex=True)
        stretched = torchaudio.functional.phase_vocoder(spectrogram, 1 / ratio, self.phase_advance)
        longer = torch.istft(stretched, **stft, length=round(audio.shape[-1] * ratio))
        shifted = torchaudio.functional.resample(longer, source_rate, self.sample_rate)
        return match_rms(fit_length(shifted, audio.shape[-1]), audio)


class BandPass(WaveAugmentation):
    """Limit the band like a cheap microphone or a phone line: a high-pass biquad at a random
    low cutoff and a low-pass biquad at a random high cutoff."""

    def __init__(
        self,
        sample_rate: int = 16000,
        min_low_hz: float = 50.0,
        max_low_hz: float = 400.0,
        min_high_hz: float = 3000.0,
        max_high_hz: float = 7000.0,
        p: float = 1.0,
    ) -> None:
        super().__init__(p)
        check_range("BandPass low cutoff", min_low_hz, max_low_hz)
        check_range("BandPass high cutoff", min_high_hz, max_high_hz)
        if not 0 < min_low_hz <= max_low_hz < min_high_hz <= max_high_hz < sample_rate / 2:
            raise ValueError(
                f"BandPass: need 0 < low cutoffs < high cutoffs < Nyquist ({sample_rate / 2} Hz), "
                f"got {min_low_hz}-{max_low_hz} and {min_high_hz}-{max_high_hz}"
            )
        self.sample_rate = sample_rate
        self.low_hz = (min_low_hz, max_low_hz)
        self.high_hz = (min_high_hz, max_high_hz)

    def augment(self, audio: torch.Tensor, rng: random.Random) -> torch.Tensor:
        low_hz = rng.uniform(*self.low_hz)
        high_hz = rng.uniform(*self.high_hz)
        # torchaudio's biquads clamp to [-1, 1]: filter at peak 0.5 (they are linear), rescale
        scale = audio.abs().max().clamp_min(1e-12) / 0.5
        filtered = torchaudio.functional.highpass_biquad(audio / scale, self.sample_rate, low_hz)
        filtered = torchaudio.functional.lowpass_biquad(filtered, self.sample_rate, high_hz)
        return filtered * scale


def synthetic_rir(
    sample_rate: int, rt60: float, drr_db: float, generator: torch.Generator
) -> torch.Tensor:
    """A room impulse response: a unit direct path, then Gaussian noise decaying by 60 dB over
    `rt60` seconds, scaled to the direct-to-reverberant energy ratio `drr_db`."""
    time = torch.arange(max(2, round(rt60 * sample_rate))) / sample_rate
    rir = torch.randn(time.shape[0], generator=generator) * torch.exp(
        -3 * math.log(10) * time / rt60
    )
    rir[0] = 0
    rir *= (10 ** (-drr_db / 10) / rir.square().sum()).sqrt()
    rir[0] = 1
    return rir


class Reverberation(WaveAugmentation):
    """Convolve with a synthetic room impulse response (random RT60 and direct-to-reverberant
    ratio) by `torchaudio.functional.fftconvolve`; the tail past the end is cut and the RMS level
    is kept."""

    def __init__(
        self,
        sample_rate: int = 16000,
        min_rt60: float = 0.2,
        max_rt60: float = 0.8,
        min_drr_db: float = -3.0,
        max_drr_db: float = 10.0,
        p: float = 1.0,
    ) -> None:
        super().__init__(p)
        check_range("Reverberation RT60", min_rt60, max_rt60)
        check_range("Reverberation DRR", min_drr_db, max_drr_db)
        if min_rt60 <= 0:
            raise ValueError(f"Reverberation: RT60 must be positive, got {min_rt60}")
        self.sample_rate = sample_rate
        self.rt60 = (min_rt60, max_rt60)
        self.drr_db = (min_drr_db, max_drr_db)

    def augment(self, audio: torch.Tensor, rng: random.Random) -> torch.Tensor:
        rt60 = rng.uniform(*self.rt60)
        drr_db = rng.uniform(*self.drr_db)
        rir = synthetic_rir(self.sample_rate, rt60, drr_db, seeded_generator(rng))
        wet = torchaudio.functional.fftconvolve(audio, rir)[..., : audio.shape[-1]]
        return match_rms(wet, audio)
