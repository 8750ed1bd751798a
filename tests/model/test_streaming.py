"""A unidirectional DeepSpeech2 streamed chunk by chunk reproduces the whole-utterance pass."""

import pytest
import torch
from torch import nn

from src.model import DeepSpeech2
from src.model.streaming import StreamingDeepSpeech2


def unidirectional(rnn_type: str = "lstm", strides=((2, 3), (2, 1)), context: int = 4):
    torch.manual_seed(0)
    model = DeepSpeech2(
        n_feats=32,
        n_tokens=29,
        conv_channels=[4, 4],
        conv_kernels=[[11, 11], [11, 5]],
        conv_strides=strides,
        rnn_type=rnn_type,
        rnn_layers=2,
        rnn_hidden=16,
        bidirectional=False,
        lookahead_context=context,
    )
    for module in model.modules():  # batch norm with non-trivial statistics
        if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def streamed(model: DeepSpeech2, spectrogram: torch.Tensor, chunk: int) -> torch.Tensor:
    stream = StreamingDeepSpeech2(model)
    outputs = [stream.push(piece) for piece in spectrogram.split(chunk, dim=-1)]
    return torch.cat([*outputs, stream.finish()])


@pytest.mark.parametrize("chunk", [1, 2, 7, 50, 1000])
@pytest.mark.parametrize(
    ("rnn_type", "strides"), [("lstm", ((2, 3), (2, 1))), ("gru", ((2, 2), (1, 2)))]
)
def test_streaming_equals_the_whole_utterance(chunk, rnn_type, strides):
    model = unidirectional(rnn_type, strides)
    spectrogram = torch.randn(32, 301)
    with torch.no_grad():
        whole = model(spectrogram[None], torch.tensor([301]))["log_probs"][0]
    torch.testing.assert_close(streamed(model, spectrogram, chunk), whole, atol=1e-5, rtol=0)


def test_each_frame_leaves_as_soon_as_its_lookahead_has_arrived():
    model = unidirectional()
    stream = StreamingDeepSpeech2(model)
    lookahead = stream.lookahead_frames()
    assert lookahead == (5 - 1 - 2) * 3 + (11 - 1 - 5) + 4 * 3  # conv2, conv1, row conv
    emitted = 0
    for index, frame in enumerate(torch.randn(32, 200).split(1, dim=-1)):
        emitted += len(stream.push(frame))
        # output j is centred on input 3j and needs inputs up to 3j + lookahead
        assert emitted == max(0, (index - lookahead) // 3 + 1)


def test_bidirectional_or_training_models_cannot_stream():
    bidirectional = DeepSpeech2(n_feats=32, n_tokens=29, rnn_layers=1, rnn_hidden=8)
    with pytest.raises(ValueError, match="unidirectional"):
        StreamingDeepSpeech2(bidirectional.eval())
    with pytest.raises(ValueError, match="eval mode"):
        StreamingDeepSpeech2(unidirectional().train())
