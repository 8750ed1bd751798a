"""The batch pipeline: device, features, train-only spectrogram augmentation, model under
autocast, and decoding by name."""

import torch

from src.decoding import ArgmaxDecoder, BeamSearchDecoder
from src.model import DeepSpeech2
from src.text_encoder import CTCCharTextEncoder
from src.trainer.pipeline import BatchPipeline
from src.transforms import BatchSpeedPerturbation, LogMelSpectrogram, SpecAugment

ENCODER = CTCCharTextEncoder()


def make_pipeline(amp: str = "off", spec_augs=None, batch_augs=None) -> BatchPipeline:
    torch.manual_seed(0)
    model = DeepSpeech2(32, len(ENCODER), rnn_layers=1, rnn_hidden=16, conv_channels=[4, 4])
    decoders = {"Argmax": ArgmaxDecoder(ENCODER), "Beam": BeamSearchDecoder(ENCODER, beam_width=4)}
    return BatchPipeline(
        model.eval(),
        LogMelSpectrogram(n_mels=32),
        torch.device("cpu"),
        amp,
        decoders,
        spec_augs,
        batch_augs,
    )


def collated(seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {
        "audio": torch.randn(2, 8000, generator=generator),
        "audio_length": torch.tensor([8000, 5000]),
        "text": ["a", "b"],
        "id": ["x", "y"],
    }


def test_forward_adds_features_and_fp32_log_probs_under_bf16():
    batch = make_pipeline(amp="bf16").forward(collated())
    assert batch["spectrogram"].shape[:2] == (2, 32)
    assert batch["spectrogram"].dtype == batch["log_probs"].dtype == torch.float32
    expected = make_pipeline().model.output_lengths(batch["spectrogram_length"])
    assert torch.equal(batch["log_probs_length"], expected)
    assert batch["id"] == ["x", "y"]  # what it does not compute passes through


def test_spectrogram_augmentation_runs_in_training_only():
    augment = SpecAugment(freq_mask_param=8, time_mask_param=10, p=1.0)
    pipeline = make_pipeline(spec_augs=[augment])
    plain = pipeline.forward(collated())["spectrogram"]
    trained = pipeline.forward(collated(), train=True)["spectrogram"]
    assert torch.equal(pipeline.forward(collated())["spectrogram"], plain)
    assert not torch.equal(trained, plain) and (trained == 0).sum() > (plain == 0).sum()


def test_spectrogram_masks_are_a_function_of_the_seed_alone():
    pipeline = make_pipeline(spec_augs=[SpecAugment(freq_mask_param=8, time_mask_param=10)])

    def masked(seed: int, global_seed: int) -> torch.Tensor:
        torch.manual_seed(global_seed)  # the global generator plays no part
        return pipeline.forward(collated(), train=True, seed=seed)["spectrogram"]

    first = masked(1, global_seed=0)
    assert torch.equal(masked(1, global_seed=5), first) and not torch.equal(masked(2, 0), first)
    after = torch.rand(4)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(4))  # and is left where it was


def test_decode_runs_the_named_decoders_only():
    pipeline = make_pipeline()
    batch = pipeline.decode(pipeline.forward(collated()), ["Argmax"])
    assert set(batch["hypotheses"]) == set(batch["predictions"]) == {"Argmax"}
    assert batch["predictions"]["Argmax"] == [h.text for h in batch["hypotheses"]["Argmax"]]
    every = pipeline.decode(pipeline.forward(collated()))
    assert set(every["predictions"]) == {"Argmax", "Beam"}


def test_batch_wave_augmentation_runs_in_training_only_before_the_features():
    pipeline = make_pipeline(batch_augs=[BatchSpeedPerturbation(factors=[1.1])])
    plain = pipeline.forward(collated())
    trained = pipeline.forward(collated(), train=True, seed=1)
    assert plain["audio_length"].tolist() == [8000, 5000]
    assert trained["audio_length"].tolist() == [8000 * 16000 // 17600, 5000 * 16000 // 17600]
    assert trained["spectrogram"].shape[-1] < plain["spectrogram"].shape[-1]  # features after
    assert torch.equal(
        trained["spectrogram_length"], pipeline.features.frame_lengths(trained["audio_length"])
    )
