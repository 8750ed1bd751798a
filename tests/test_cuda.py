"""What only a CUDA GPU can show: the packed cuDNN RNN, fp16 with its GradScaler, pinned
transfers. Skipped, with the reason, where there is no GPU (CI has none); `bench/gpu_check.py`
measures the rest on a GPU machine."""

import json

import pytest
import torch

from src.datasets.loaders import build_dataloaders
from src.model import DeepSpeech2
from src.text_encoder import CTCCharTextEncoder
from src.trainer.pipeline import move_to_device
from src.trainer.setup import build_trainer
from tests.conftest import compose_config, write_tone
from tests.tiny_model import tiny_run_config

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU (none here)"
)
CUDA = torch.device("cuda")
SMALL = {"rnn_layers": 2, "rnn_hidden": 32, "conv_channels": [4, 4]}


@pytest.mark.parametrize("rnn_type", ["gru", "lstm"])
def test_the_packed_rnn_runs_on_cuda_and_matches_the_unpacked_pair(rnn_type):
    torch.manual_seed(0)
    packed = DeepSpeech2(40, 29, rnn_type=rnn_type, **SMALL).to(CUDA).eval()  # auto: packed
    unpacked = DeepSpeech2(40, 29, rnn_type=rnn_type, packed_rnn=False, **SMALL).to(CUDA).eval()
    unpacked.load_state_dict(packed.state_dict())
    spectrogram, lengths = (
        torch.randn(3, 40, 61, device=CUDA),
        torch.tensor([61, 44, 17], device=CUDA),
    )
    with torch.no_grad():
        a, b = packed(spectrogram, lengths), unpacked(spectrogram, lengths)
    for index, length in enumerate(a["log_probs_length"].tolist()):
        torch.testing.assert_close(
            a["log_probs"][index, :length], b["log_probs"][index, :length], atol=1e-4, rtol=1e-4
        )


@pytest.fixture
def manifest(tmp_path):
    lines = []
    for index, word in enumerate(["yes", "no", "up", "down"] * 2):
        write_tone(tmp_path / f"{index}.wav", 0.4 + 0.05 * index, frequency=200 + 60 * index)
        lines.append({"path": f"{index}.wav", "duration": 0.4 + 0.05 * index, "text": word})
    path = tmp_path / "all.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_fp16_trains_with_its_grad_scaler_on_cuda(manifest, tmp_path):
    cfg = tiny_run_config(manifest, tmp_path, "trainer.device=cuda", "trainer.amp=fp16")
    trainer = build_trainer(cfg)
    assert trainer.scaler.is_enabled()
    trainer.train()
    trainer.writer.finish()
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert trainer.scaler.get_scale() > 0


def test_batches_reach_the_gpu_from_pinned_memory(manifest):
    cfg = compose_config(
        "deepspeech2_cpu",
        "datasets=manifest",
        f"datasets.train.manifest_path={manifest}",
        f"datasets.val.manifest_path={manifest}",
        "dataloader.num_workers=0",
    )
    (loader,) = build_dataloaders(
        cfg.datasets, cfg.dataloader, CTCCharTextEncoder(), ["val"], device_type="cuda"
    ).values()
    batch = next(iter(loader))
    assert loader.pin_memory and batch["audio"].is_pinned()
    moved = move_to_device(batch, CUDA)
    assert moved["audio"].device.type == "cuda"
