"""Live transcription with a unidirectional DeepSpeech2: audio in chunks, partial text out.

Features (`src.transforms.streaming`) and model (`src.model.streaming`) carry their state
between chunks, so the frames equal those of the whole utterance. The partial text is the
argmax decoding of the frames so far, extended frame by frame; `finish()` runs the chosen
decoder over the whole recording (cut at long blank runs) and aligns the words.
"""

import numpy as np
import torch

from src.decoding import CTCDecoder
from src.decoding.segments import BlankSegmenter
from src.model.streaming import StreamingDeepSpeech2
from src.trainer.restore import TrainedModel
from src.transcription.chunked import frame_stride
from src.transcription.transcriber import Transcript, clip_to, decode_segments
from src.transforms.streaming import StreamingFeatures


class StreamingTranscriber:
    """`push(samples)` -> the partial text so far; `finish()` -> the final `Transcript`."""

    def __init__(self, trained: TrainedModel, decoder: CTCDecoder) -> None:
        trained.model.cpu().eval()
        self.trained = trained
        self.decoder = decoder
        self.model = StreamingDeepSpeech2(trained.model)
        self.features = StreamingFeatures(trained.features.cpu())
        self.sample_rate = trained.features.sample_rate
        self.frame_seconds = frame_stride(trained.model, trained.features) / self.sample_rate
        self.frames: list[np.ndarray] = []
        self.samples = 0
        self._labels: list[int] = []
        self._previous = -1

    def latency_seconds(self) -> float:
        """How far past an output frame's position the audio must reach before it leaves:
        the features' half window plus the model's look-ahead (convs and row convolution)."""
        features = self.trained.features
        lookahead = self.model.lookahead_frames() * features.hop_length + features.n_fft // 2
        return lookahead / self.sample_rate

    def _add(self, log_probs: torch.Tensor) -> str:
        frames = log_probs.float().numpy()
        if len(frames):
            self.frames.append(frames)
            blank = self.trained.text_encoder.blank_index
            for label in frames.argmax(axis=-1).tolist():
                if label != self._previous and label != blank:
                    self._labels.append(label)
                self._previous = label
        return self.decoder.labels_to_text(self._labels)

    def push(self, samples: torch.Tensor) -> str:
        self.samples += len(samples)
        return self._add(self.model.push(self.features.push(samples)))

    def finish(self) -> Transcript:
        self._add(self.model.push(self.features.finish(), final=True))
        segmenter = BlankSegmenter(blank=self.trained.text_encoder.blank_index)
        segments = segmenter.split(self.frames)
        encoder = self.trained.text_encoder
        text, words = decode_segments(segments, self.decoder, encoder, self.frame_seconds)
        duration = self.samples / self.sample_rate
        return Transcript(text, clip_to(words, duration), duration)

    def log_probs(self) -> np.ndarray:
        """Every frame emitted so far, (T, C)."""
        return np.concatenate(self.frames) if self.frames else np.zeros((0, 0), np.float32)
