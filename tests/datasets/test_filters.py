"""Dataset filters: durations, transcript length, and labels CTC cannot align to the model."""

import logging

import pytest
import torch

from src.datasets import BaseDataset
from src.datasets.base_dataset import ctc_min_frames
from src.model import DeepSpeech2
from src.text_encoder import CTCCharTextEncoder, SentencePieceTextEncoder
from src.trainer.setup import model_output_length
from src.transforms import LogMelSpectrogram
from src.utils.audio import load_audio
from tests.conftest import write_tone

ENCODER = CTCCharTextEncoder()


def entry(name: str, duration: float, text: str = "a", path: str = "unused.wav") -> dict:
    return {"id": name, "path": path, "text": text, "duration": duration}


@pytest.mark.parametrize(
    ("label", "frames"), [("", 0), ("abc", 3), ("aab", 4), ("aaa", 5), ("hello", 6), ("a a", 3)]
)
def test_ctc_needs_a_frame_per_token_and_a_blank_between_repeats(label, frames):
    assert ctc_min_frames(label) == frames


def test_duration_and_text_filters_count_each_reason(caplog):
    index = [
        entry("short", 0.2),
        entry("ok", 1.0, "fine"),
        entry("long", 9.0),
        entry("wordy", 2.0, "Far, far too long!"),
        entry("ok2", 3.0, "also fine"),
    ]
    with caplog.at_level(logging.INFO):
        dataset = BaseDataset(index, ENCODER, min_duration=0.5, max_duration=5, max_text_length=10)
    assert [e["id"] for e in dataset._index] == ["ok", "ok2"]
    assert dataset.dropped == {
        "shorter than 0.5 s": 1,
        "longer than 5 s": 1,
        "with transcripts over 10 characters": 1,  # "far far too long" normalised: 16
    }
    assert "kept 2 utterances, dropped 1 shorter than 0.5 s, 1 longer than 5 s" in caplog.text
    assert BaseDataset(index, ENCODER).dropped == {}


def test_filters_on_an_unscored_dataset_are_an_error():
    with pytest.raises(ValueError, match="unscored dataset keeps every utterance.*max_duration"):
        BaseDataset([entry("x", 1.0)], ENCODER, has_transcriptions=False, max_duration=0.5)


def test_ctc_filter_drops_exactly_the_labels_whose_ctc_loss_is_infinite(tmp_path):
    """The filter's verdict, from durations alone, against the real model and real CTC."""
    features = LogMelSpectrogram(n_mels=32)
    model = DeepSpeech2(
        32,
        len(ENCODER),
        conv_channels=[4, 4],
        conv_strides=[[2, 3], [2, 1]],
        rnn_hidden=16,
        rnn_layers=1,
    ).eval()
    output_length = model_output_length(model, features)
    letters = "abc" * 40
    index = []
    for seconds in (0.2, 0.33, 0.5):
        path = str(write_tone(tmp_path / f"{seconds}.wav", seconds))
        frames = int(output_length(torch.tensor([round(seconds * 16000)]))[0])
        labels = {
            "fits": letters[:frames],  # needs `frames`
            "one_over": letters[: frames + 1],
            "repeat_over": "aa" + letters[1 : frames - 1],  # `frames` letters, one repeat
            "short_repeats": "aab",
        }
        index += [entry(f"{seconds}-{name}", seconds, text, path) for name, text in labels.items()]
    dataset = BaseDataset(index, ENCODER, output_length=output_length)
    kept = {e["id"] for e in dataset._index}
    assert dataset.dropped == {"with transcripts too long for the model's output frames (CTC)": 6}

    ctc = torch.nn.CTCLoss(reduction="none", zero_infinity=False)
    for item in index:
        audio = load_audio(item["path"])[None]
        spectrogram = features(audio, torch.tensor([audio.shape[1]]))
        with torch.no_grad():
            output = model(**spectrogram)
        target = ENCODER.encode(item["text"])[None]
        loss = ctc(
            output["log_probs"].transpose(0, 1),
            target,
            output["log_probs_length"],
            torch.tensor([target.shape[1]]),
        )
        assert bool(torch.isfinite(loss)) == (item["id"] in kept), item["id"]


def test_the_ctc_filter_counts_subword_tokens_not_characters(tmp_path):
    """`the cat` is 2 units of a BPE model, `yes` is 4 (`▁ y e s`): with 3 output frames the
    first fits and the second does not, whatever their lengths in characters."""
    encoder = SentencePieceTextEncoder.from_transcripts(
        ["the cat sat on the mat", "a bad cat had a hat", "the hat is on the cat"] * 4,
        40,
        "bpe",
        tmp_path,
    )
    assert (len(encoder.encode("the cat")), len(encoder.encode("yes"))) == (2, 4)
    index = [entry("words", 1.0, "the cat"), entry("letters", 1.0, "yes")]
    dataset = BaseDataset(index, encoder, output_length=lambda n: torch.full_like(n, 3))
    assert [e["id"] for e in dataset._index] == ["words"]
