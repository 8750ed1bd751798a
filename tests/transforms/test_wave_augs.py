"""Waveform augmentations: length, dtype, the effect each one promises, p, seeding, configs."""

import math
import random

import pytest
import soundfile as sf
import torch

from src.trainer.setup import build_augmentations
from src.transforms import (
    AdditiveNoise,
    BandPass,
    Gain,
    LogMelSpectrogram,
    PitchShift,
    Reverberation,
    SpeedPerturbation,
)
from src.transforms.wave_augs import colored_noise
from src.utils.audio import load_audio
from tests.conftest import compose_config

SAMPLE_RATE = 16000
LENGTH_KEEPING = [
    Gain(),
    AdditiveNoise(),
    PitchShift(),
    BandPass(),
    Reverberation(),
]
ALL = [SpeedPerturbation(), *LENGTH_KEEPING]


def tone(frequency: float, seconds: float = 1.0, amplitude: float = 0.3) -> torch.Tensor:
    time = torch.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amplitude * torch.sin(2 * math.pi * frequency * time)).float()


def speech_like() -> torch.Tensor:
    """A harmonic 'voice' with a syllable envelope, 1 s."""
    generator = torch.Generator().manual_seed(0)
    time = torch.arange(SAMPLE_RATE) / SAMPLE_RATE
    voice = sum(torch.sin(2 * math.pi * 140 * k * time) / k for k in range(1, 20))
    envelope = 0.5 * (1 - torch.cos(2 * math.pi * 4 * time))
    return (0.1 * voice * envelope + 0.001 * torch.randn(SAMPLE_RATE, generator=generator)).float()


def energy_db(audio: torch.Tensor) -> float:
    return 10 * math.log10(audio.square().sum().item())


def dominant_frequency(audio: torch.Tensor) -> float:
    spectrum = torch.fft.rfft(audio * torch.hann_window(audio.shape[-1])).abs()
    return spectrum.argmax().item() * SAMPLE_RATE / audio.shape[-1]


@pytest.mark.parametrize("augmentation", LENGTH_KEEPING, ids=lambda a: type(a).__name__)
def test_length_dtype_finite_and_an_actual_change(augmentation):
    audio = speech_like()
    rng = random.Random(0)
    output = augmentation(audio, rng)
    assert output.shape == audio.shape and output.dtype == torch.float32
    assert torch.isfinite(output).all()
    assert not torch.allclose(output, audio, atol=1e-4)


def test_speed_perturbation_changes_the_length_by_the_factor():
    rng = random.Random(0)
    output = SpeedPerturbation(min_factor=1.1, max_factor=1.1)(tone(440.0), rng)
    assert output.shape[0] == math.ceil(SAMPLE_RATE / 1.1)
    assert dominant_frequency(output) == pytest.approx(440 * 1.1, rel=0.01)


@pytest.mark.parametrize("augmentation", ALL, ids=lambda a: type(a).__name__)
def test_same_seed_same_output_other_seed_other_output(augmentation):
    audio = speech_like()
    outputs = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed + 100)  # global generators play no part
        random.seed(seed + 200)
        outputs.append(augmentation(audio, random.Random(seed)))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)
    assert outputs[0].shape != outputs[2].shape or not torch.equal(outputs[0], outputs[2])


# ranges that exclude a no-op draw (a factor that rounds to the original rate)
NEVER_NO_OP = [
    (SpeedPerturbation, {"min_factor": 1.05}),
    (PitchShift, {"min_semitones": 1.0}),
    (Gain, {}),
    (AdditiveNoise, {}),
    (BandPass, {}),
    (Reverberation, {}),
]


@pytest.mark.parametrize(("cls", "kwargs"), NEVER_NO_OP, ids=lambda x: getattr(x, "__name__", ""))
def test_p_zero_is_identity_and_p_one_always_applies(cls, kwargs):
    audio = speech_like()
    never, always = cls(p=0.0, **kwargs), cls(p=1.0, **kwargs)
    rng = random.Random(0)
    for _ in range(10):
        assert never(audio, rng) is audio
        output = always(audio, rng)
        assert output.shape != audio.shape or not torch.equal(output, audio)
    with pytest.raises(ValueError, match="p must be in"):
        cls(p=1.5)


def test_p_is_a_probability():
    augmentation = Gain(min_gain_db=3, max_gain_db=3, p=0.3)
    audio = speech_like()
    rng = random.Random(0)
    applied = sum(augmentation(audio, rng) is not audio for _ in range(1000))
    assert 250 < applied < 350


def test_gain_changes_the_rms_by_the_drawn_db():
    audio = speech_like()
    fixed = Gain(min_gain_db=6.0, max_gain_db=6.0)(audio, random.Random(0))
    assert energy_db(fixed) - energy_db(audio) == pytest.approx(6.0, abs=1e-3)
    output = Gain(min_gain_db=-6.0, max_gain_db=6.0)(audio, random.Random(1))
    rng = random.Random(1)
    rng.random()  # forward draws p first, then the gain
    drawn = rng.uniform(-6.0, 6.0)
    assert energy_db(output) - energy_db(audio) == pytest.approx(drawn, abs=1e-3)


def test_gain_is_invisible_to_normalised_features():
    """Why the CPU recipe does not use it: per-utterance normalisation removes a constant."""
    audio = speech_like()
    features = LogMelSpectrogram()
    length = torch.tensor([audio.shape[0]])
    clean = features(audio=audio[None], audio_length=length)["spectrogram"]
    louder = features(audio=Gain(6, 6)(audio, random.Random(0))[None], audio_length=length)[
        "spectrogram"
    ]
    torch.testing.assert_close(louder, clean, atol=1e-3, rtol=0)


@pytest.mark.parametrize("color", ["white", "pink", "brown"])
def test_noise_is_added_at_the_requested_snr(color):
    audio = speech_like()
    rng = random.Random(0)
    augmentation = AdditiveNoise(min_snr_db=10.0, max_snr_db=10.0, colors=[color])
    noise = augmentation(audio, rng) - audio
    assert energy_db(audio) - energy_db(noise) == pytest.approx(10.0, abs=0.05)


def test_noise_colours_have_their_spectral_slopes():
    generator = torch.Generator().manual_seed(0)
    for color, slope_db_per_octave in [("white", 0.0), ("pink", -3.0), ("brown", -6.0)]:
        power = torch.fft.rfft(colored_noise(2**16, color, generator)).abs().square()
        low, high = power[1000:2000].mean(), power[2000:4000].mean()  # one octave apart
        assert 10 * math.log10(high / low) == pytest.approx(slope_db_per_octave, abs=0.5)


def test_snr_draws_stay_in_range():
    audio = speech_like()
    augmentation = AdditiveNoise(min_snr_db=5.0, max_snr_db=20.0)
    rng = random.Random(0)
    snrs = [energy_db(audio) - energy_db(augmentation(audio, rng) - audio) for _ in range(30)]
    assert min(snrs) >= 5.0 - 0.01 and max(snrs) <= 20.0 + 0.01
    assert max(snrs) - min(snrs) > 5


def test_noise_files_from_a_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    hum = tone(50.0, seconds=0.3)  # shorter than the utterance: looped
    sf.write(tmp_path / "sub" / "hum.wav", hum.numpy(), SAMPLE_RATE)
    augmentation = AdditiveNoise(min_snr_db=0.0, max_snr_db=0.0, colors=[], noise_dir=tmp_path)
    assert augmentation.sources == ["file"]
    audio = tone(1000.0)
    rng = random.Random(0)
    noise = augmentation(audio, rng) - audio
    assert energy_db(audio) - energy_db(noise) == pytest.approx(0.0, abs=0.05)
    assert dominant_frequency(noise) == pytest.approx(50.0, abs=2.0)


def test_noise_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        AdditiveNoise(noise_dir=tmp_path / "missing")
    with pytest.raises(ValueError, match="no audio files"):
        AdditiveNoise(noise_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown colors"):
        AdditiveNoise(colors=["purple"])
    with pytest.raises(ValueError, match="no noise source"):
        AdditiveNoise(colors=[])
    sf.write(tmp_path / "silence.wav", torch.zeros(1600).numpy(), SAMPLE_RATE)
    augmentation = AdditiveNoise(colors=[], noise_dir=tmp_path)
    with pytest.raises(ValueError, match=r"silence\.wav: the noise file is silent"):
        augmentation(speech_like(), random.Random(0))


def test_silent_audio_stays_silent_and_finite():
    silence = torch.zeros(SAMPLE_RATE)
    rng = random.Random(0)
    for augmentation in ALL:
        output = augmentation(silence, rng)
        assert torch.isfinite(output).all() and output.abs().max() == 0


def test_non_finite_input_is_a_clear_error():
    audio = speech_like()
    audio[100] = float("nan")
    with pytest.raises(ValueError, match="Reverberation: non-finite samples in its input"):
        Reverberation()(audio, random.Random(0))


def test_pitch_shift_moves_the_pitch_and_keeps_the_duration():
    rng = random.Random(0)
    output = PitchShift(min_semitones=2.0, max_semitones=2.0)(tone(440.0), rng)
    assert output.shape == (SAMPLE_RATE,)
    assert dominant_frequency(output) == pytest.approx(440 * 2 ** (2 / 12), rel=0.01)
    assert energy_db(output) == pytest.approx(energy_db(tone(440.0)), abs=0.01)


def test_band_pass_attenuates_out_of_band_tones_only():
    augmentation = BandPass(min_low_hz=300, max_low_hz=300, min_high_hz=3000, max_high_hz=3000)
    attenuation = {}
    for frequency in (75.0, 1000.0, 7000.0):
        audio = tone(frequency, amplitude=2.0)  # above 1: the biquads must not clip it
        attenuation[frequency] = energy_db(audio) - energy_db(augmentation(audio, random.Random(0)))
    assert attenuation[1000.0] == pytest.approx(0.0, abs=1.0)
    assert attenuation[75.0] > 20 and attenuation[7000.0] > 15


def test_band_pass_rejects_impossible_cutoffs():
    with pytest.raises(ValueError, match="Nyquist"):
        BandPass(min_high_hz=3000, max_high_hz=9000)


def test_reverberation_adds_a_decaying_tail_and_keeps_the_level():
    audio = torch.zeros(SAMPLE_RATE)
    audio[:1600] = tone(500.0, seconds=0.1)  # 100 ms burst, then silence
    rng = random.Random(0)
    output = Reverberation(min_rt60=0.6, max_rt60=0.6, min_drr_db=0.0, max_drr_db=0.0)(audio, rng)
    assert energy_db(output) == pytest.approx(energy_db(audio), abs=0.01)
    early, late = output[1600:4800], output[4800:8000]  # 0.1-0.3 s and 0.3-0.5 s
    assert energy_db(early) > energy_db(output) - 15  # a real tail
    # 60 dB per 0.6 s: about 20 dB lower 0.2 s later
    assert energy_db(early) - energy_db(late) == pytest.approx(20.0, abs=5.0)
    assert output[12000:].abs().max() > 0  # the tail runs on to 0.6 s and beyond


@pytest.mark.parametrize(
    "transforms",
    ["logmel_speed", "logmel_augmented", "logmel_augmented_vtlp", "logmel_augmented_full"],
)
def test_transform_configs_instantiate(transforms):
    cfg = compose_config("deepspeech2_cpu", f"transforms={transforms}")
    built = build_augmentations(cfg.transforms)
    wave, spec = built["wave"], built["spec"]
    assert set(wave) == set(spec) == {"train"}  # the other partitions get none
    names = [type(augmentation).__name__ for augmentation in wave["train"]]
    spec_names = [type(augmentation).__name__ for augmentation in spec["train"]]
    if transforms == "logmel_augmented_full":
        assert names == [
            "SpeedPerturbation",
            "PitchShift",
            "Reverberation",
            "AdditiveNoise",
            "BandPass",
            "Gain",
        ]
    else:  # the CPU recipes measured in the README: speed perturbation on every utterance
        assert names == ["SpeedPerturbation"] and wave["train"][0].p == 1.0
    # the synthetic recipe drops SpecAugment (it slowed learning in the ten-minute budget)
    expected_spec = {
        "logmel_speed": [],
        "logmel_augmented_vtlp": ["VocalTractLengthPerturbation", "SpecAugment"],
    }.get(transforms, ["SpecAugment"])
    assert spec_names == expected_spec
    if transforms == "logmel_augmented_vtlp":  # built for the features it warps
        assert spec["train"][0].n_mels == cfg.transforms.features.n_mels


def test_the_gpu_recipe_augments_batches_on_the_device_and_leaves_workers_decoding():
    cfg = compose_config("deepspeech2")
    built = build_augmentations(cfg.transforms)
    assert built["wave"]["train"] == []  # workers only decode audio
    assert [type(a).__name__ for a in built["batch"]["train"]] == [
        "BatchSpeedPerturbation",
        "BatchAdditiveNoise",
    ]
    assert [type(a).__name__ for a in built["spec"]["train"]] == ["SpecAugment"]


def test_probability_overrides_reach_the_augmentations():
    cfg = compose_config(
        "deepspeech2_cpu", "transforms=logmel_augmented_full", "transforms.probabilities.reverb=0.9"
    )
    wave = build_augmentations(cfg.transforms)["wave"]
    assert {type(a).__name__: a.p for a in wave["train"]}["Reverberation"] == 0.9


def test_full_chain_on_real_speech(shared_data):
    cfg = compose_config("augmentation_demo")
    chain = build_augmentations(cfg.transforms)["wave"]["train"]
    path = sorted((shared_data / "LibriSpeech").rglob("*.flac"))[0]
    audio = load_audio(path, SAMPLE_RATE)
    rng = random.Random(0)
    output = audio
    for augmentation in chain:
        output = augmentation(output, rng)
    assert output.dtype == torch.float32 and torch.isfinite(output).all()
    assert 0.85 < output.shape[0] / audio.shape[0] < 1.15  # only the speed changes it
