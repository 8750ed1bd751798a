"""Audio reading: samples that are not finite are unreadable audio, named like any other."""

import numpy as np
import pytest
import soundfile as sf

from src.utils.audio import AudioReadError, load_audio


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
