"""onnxruntime vs PyTorch on the CPU: the same exported model, the same spectrograms, one run.

    python -m bench.export --checkpoint saved/synthetic/model_best.pth [--threads 2]

Exports the checkpoint to ONNX (as `python -m src.export` does), then times the forward pass
(spectrogram -> log-probs) of both on batches of random spectrograms, after a warm-up; prints
milliseconds per batch, the speed ratio and the largest log-prob difference.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch

from src.export import export
from src.trainer.restore import load_trained_model

SHAPES = ((1, 1000), (8, 1000))  # (batch, feature frames): 10 s utterances


def best_of(function, repeats: int) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    trained = load_trained_model(args.checkpoint)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    with tempfile.TemporaryDirectory() as folder:
        path = export(args.checkpoint, "onnx", Path(folder) / "model.onnx")
        session = onnxruntime.InferenceSession(str(path), options, ["CPUExecutionProvider"])
    header = f"{'batch x frames':>15} {'PyTorch ms':>11} {'onnxruntime ms':>15}"
    print(f"{header} {'speed-up':>9} {'max diff':>9}")
    for batch, frames in SHAPES:
        spectrogram = torch.randn(batch, trained.features.n_feats, frames)
        lengths = torch.full((batch,), frames)
        feed = {"spectrogram": spectrogram.numpy(), "spectrogram_length": lengths.numpy()}

        def pytorch(spectrogram=spectrogram, lengths=lengths) -> torch.Tensor:
            with torch.no_grad():
                return trained.model(spectrogram, lengths)["log_probs"]

        def ort(feed=feed) -> np.ndarray:
            return session.run(["log_probs"], feed)[0]

        difference = float(np.abs(ort() - pytorch().numpy()).max())
        torch_ms, ort_ms = best_of(pytorch, args.repeats), best_of(ort, args.repeats)
        print(
            f"{f'{batch} x {frames}':>15} {torch_ms:11.1f} {ort_ms:15.1f} "
            f"{torch_ms / ort_ms:8.2f}x {difference:9.1e}"
        )
    print(f"{args.threads} threads each; best of {args.repeats} runs after a warm-up")


if __name__ == "__main__":
    main()
