"""Export a checkpoint's model to ONNX or TorchScript: `python -m src.export model=CKPT`.

The exported graph maps `spectrogram` (batch, n_feats, time) and `spectrogram_length`
(batch,) to `log_probs` (batch, frames, tokens) and `log_probs_length` (batch,), with dynamic
batch and time axes. The features (log-mel + normalisation) stay in PyTorch: compute them with
the checkpoint's `features` (`load_trained_model(path).features`). ONNX goes through PyTorch's
TorchScript-based exporter (`dynamo=False`), whose LSTM/GRU export runs in onnxruntime at any
batch size and length; TorchScript is a trace of the same forward pass.
"""

import logging
import sys
import warnings
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig
from torch import nn

from src.model import CTCModel
from src.trainer.restore import load_trained_model
from src.transcription.cli import checkpoint_argv

logger = logging.getLogger("export")

INPUTS = ("spectrogram", "spectrogram_length")
OUTPUTS = ("log_probs", "log_probs_length")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".ts.pt"}


class LogProbsGraph(nn.Module):
    """The model as a function of tensors only: (spectrogram, lengths) -> (log_probs, lengths)."""

    def __init__(self, model: CTCModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, spectrogram: torch.Tensor, spectrogram_length: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        output = self.model(spectrogram, spectrogram_length)
        return output["log_probs"], output["log_probs_length"]


def example_inputs(n_feats: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A padded batch of two (different lengths), so no shape is traced as a constant."""
    generator = torch.Generator().manual_seed(0)
    return torch.randn(2, n_feats, 300, generator=generator), torch.tensor([300, 211])


def export(checkpoint: str | Path, fmt: str, output: str | Path, opset: int = 17) -> Path:
    """Write the checkpoint's model as `fmt` (onnx | torchscript) to `output`."""
    if fmt not in SUFFIXES:
        raise ValueError(f"format must be one of {sorted(SUFFIXES)}, got {fmt!r}")
    trained = load_trained_model(checkpoint)
    graph = LogProbsGraph(trained.model).eval()
    inputs = example_inputs(trained.features.n_feats)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's deprecation and LSTM batch notes
        if fmt == "onnx":
            axes = {"spectrogram": {0: "batch", 2: "time"}, "spectrogram_length": {0: "batch"}}
            axes |= {"log_probs": {0: "batch", 1: "frames"}, "log_probs_length": {0: "batch"}}
            torch.onnx.export(
                graph,
                inputs,
                str(output),
                input_names=list(INPUTS),
                output_names=list(OUTPUTS),
                dynamic_axes=axes,
                opset_version=opset,
                dynamo=False,
            )
        else:
            torch.jit.trace(graph, inputs).save(str(output))
    return output


def run_exported(path: str | Path, fmt: str, spectrogram: torch.Tensor, lengths: torch.Tensor):
    """(log_probs, log_probs_length) as numpy arrays from an exported file."""
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feed = {"spectrogram": spectrogram.numpy(), "spectrogram_length": lengths.numpy()}
        return tuple(session.run(list(OUTPUTS), feed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, still works
        module = torch.jit.load(str(path))
    with torch.no_grad():
        return tuple(tensor.numpy() for tensor in module(spectrogram, lengths))


def max_difference(checkpoint: str | Path, path: Path, fmt: str) -> float:
    """Max abs difference of the log-probs on a fresh batch of other sizes than the export's."""
    trained = load_trained_model(checkpoint)
    spectrogram = torch.randn(3, trained.features.n_feats, 457)
    lengths = torch.tensor([457, 390, 123])
    log_probs, _ = run_exported(path, fmt, spectrogram, lengths)
    with torch.no_grad():
        expected = trained.model(spectrogram, lengths)
    valid = expected["log_probs_length"]
    return max(
        float(np.abs(log_probs[i, :n] - expected["log_probs"][i, :n].numpy()).max())
        for i, n in enumerate(valid.tolist())
    )


@hydra.main(version_base="1.3", config_path="../configs", config_name="export")
def main(cfg: DictConfig) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    output = cfg.output or Path(cfg.checkpoint).with_suffix(SUFFIXES.get(cfg.format, ""))
    path = export(cfg.checkpoint, cfg.format, output, cfg.opset)
    print(f"wrote {path} ({cfg.format}; inputs {', '.join(INPUTS)}; outputs {', '.join(OUTPUTS)})")
    if cfg.check:
        difference = max_difference(cfg.checkpoint, path, cfg.format)
        print(f"max abs difference of the log-probs from PyTorch: {difference:.2e}")


if __name__ == "__main__":
    sys.argv = [sys.argv[0], *checkpoint_argv(sys.argv[1:])]
    main()
