"""Streaming latency of a unidirectional DeepSpeech2: look-ahead plus compute per chunk.

    python -m bench.streaming [--checkpoint CKPT | --config deepspeech2_streaming] \
        [--audio FILE] [--chunks 0.1 0.2 0.5]

A frame's text can appear only once the audio reaches `latency_seconds()` past it (the
features' half window, the convs' right context and the row convolution's look-ahead), and
only after the chunk that completes it has been computed. Feeding a real recording chunk by
chunk (as fast as it computes) gives the compute time per chunk; the worst-case latency of a
word's appearing is then chunk length + look-ahead + compute per chunk. Without a checkpoint
an untrained model of `--config` is timed: speed does not depend on the weights.
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from src.decoding import ArgmaxDecoder
from src.model import build_model
from src.trainer.restore import TrainedModel, load_trained_model
from src.transcription.streaming import StreamingTranscriber
from src.transforms.features import build_features
from src.utils.audio import load_audio

REPO = Path(__file__).resolve().parents[1]


def untrained(config: str) -> TrainedModel:
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        cfg = compose(config)
    encoder = instantiate(cfg.text_encoder)
    features = build_features(cfg.transforms.features)
    model = build_model(cfg.model, features.n_feats, len(encoder)).eval()
    return TrainedModel(model, features, encoder, {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--config", default="deepspeech2_streaming")
    parser.add_argument(
        "--audio", type=Path, default=None, help="default: a shared LibriSpeech file"
    )
    parser.add_argument("--chunks", type=float, nargs="+", default=[0.1, 0.2, 0.5])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    trained = load_trained_model(args.checkpoint) if args.checkpoint else untrained(args.config)
    audio_path = (
        args.audio or sorted((REPO.parent / "shared" / "data" / "LibriSpeech").rglob("*.flac"))[0]
    )
    audio = load_audio(audio_path)
    decoder = ArgmaxDecoder(trained.text_encoder)
    lookahead = StreamingTranscriber(trained, decoder).latency_seconds()
    source = args.checkpoint or f"untrained {args.config}"
    seconds = len(audio) / 16000
    print(f"{source}; {audio_path.name} ({seconds:.1f} s); look-ahead {1000 * lookahead:.0f} ms")
    warm_up = True
    print(f"{'chunk ms':>9} {'compute ms (mean / p90)':>24} {'RTF':>6} {'latency ms':>11}")
    for chunk in [args.chunks[0], *args.chunks]:  # the first pass warms up, unreported
        stream = StreamingTranscriber(trained, decoder)
        times = []
        for piece in audio.split(round(chunk * 16000)):
            start = time.perf_counter()
            stream.push(piece)
            times.append(time.perf_counter() - start)
        stream.finish()
        if warm_up:
            warm_up = False
            continue
        mean, p90 = 1000 * np.mean(times), 1000 * np.percentile(times, 90)
        latency = 1000 * (chunk + lookahead) + p90
        rtf = sum(times) / seconds
        print(f"{1000 * chunk:9.0f} {mean:11.1f} / {p90:9.1f} {rtf:6.3f} {latency:11.0f}")


if __name__ == "__main__":
    main()
