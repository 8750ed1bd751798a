"""Audio reading: non-finite samples are unreadable audio named like any other; reading in
blocks gives the samples `load_audio` gives, in bounded pieces."""

import numpy as np
import pytest
import soundfile as sf
import torch

from src.utils.audio import AudioReadError, load_audio, read_audio_blocks


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("rate", [16000, 8000])  # also when the file is resampled
def test_non_finite_samples_are_an_error_naming_the_file(tmp_path, bad, rate):
    samples = np.zeros(1600, dtype=np.float32)
    samples[100] = bad
    path = tmp_path / "float.wav"
    sf.write(path, samples, rate, subtype="FLOAT")
    with pytest.raises(AudioReadError, match=r"float\.wav: .*not finite"):
        load_audio(path)


def test_finite_float_audio_reads(tmp_path):
    samples = np.linspace(-1, 1, 1600, dtype=np.float32)
    sf.write(tmp_path / "ok.wav", samples, 16000, subtype="FLOAT")
    assert np.allclose(load_audio(tmp_path / "ok.wav").numpy(), samples)


@pytest.mark.parametrize(
    ("rate", "channels", "suffix"),
    [(16000, 1, "wav"), (8000, 1, "flac"), (22050, 2, "wav"), (44100, 2, "ogg"), (48000, 1, "mp3")],
)
@pytest.mark.parametrize("block_seconds", [0.37, 2.0, 30.0])
def test_blocks_equal_the_whole_file_resampled_and_mixed_down(
    tmp_path, rate, channels, suffix, block_seconds
):
    rng = np.random.default_rng(rate)
    samples = (0.3 * rng.standard_normal((int(rate * 5.3), channels))).astype(np.float32)
    path = tmp_path / f"noise.{suffix}"
    sf.write(path, samples, rate)
    blocks = list(read_audio_blocks(path, 16000, block_seconds))
    assert max(len(block) for block in blocks) <= 16000 * block_seconds + 1
    torch.testing.assert_close(torch.cat(blocks), load_audio(path), atol=1e-6, rtol=0)


def test_a_real_recording_reads_the_same(shared_data):
    path = sorted((shared_data / "fsdd").rglob("*.flac"))[0]  # 8 kHz
    torch.testing.assert_close(
        torch.cat(list(read_audio_blocks(path, 16000, 0.1))), load_audio(path), atol=1e-6, rtol=0
    )


def test_an_unreadable_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("not audio")
    with pytest.raises(AudioReadError, match="notes.wav"):
        list(read_audio_blocks(path))
