"""End to end: the real entry scripts in subprocesses on a tiny synthetic corpus."""

import json
import re
import shutil
import subprocess
import sys

import pytest
import torch

from src.datasets.synthesis import ensure_corpus
from tests.conftest import FIXED_LENGTH, REPO_ROOT

pytestmark = pytest.mark.slow

TINY_CORPUS = {"n_train": 24, "n_val": 4, "n_test": 6}
TINY_RUN = [
    *FIXED_LENGTH,
    "model.rnn_layers=1",
    "model.rnn_hidden=32",
    "model.conv_channels=[8,8]",
    "dataloader.batch_size=4",
    "dataloader.num_workers=0",
    "writer=cometml",
    "trainer.n_epochs=2",
    "trainer.epoch_len=2",
    "trainer.log_step=1",
]


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )


def corpus_overrides(data_dir) -> list[str]:
    return [f"data_dir={data_dir}"] + [f"datasets.train.{k}={v}" for k, v in TINY_CORPUS.items()]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    ensure_corpus(root / "synthetic", seed=0, num_workers=2, **TINY_CORPUS)
    return root


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    save_dir = tmp_path_factory.mktemp("saved")
    result = run_script(
        "train.py",
        "-cn=deepspeech2_cpu",
        *corpus_overrides(data_dir),
        *TINY_RUN,
        f"trainer.save_dir={save_dir}",
        "trainer.run_name=e2e",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return save_dir / "e2e"


def test_train_writes_checkpoints_logs_and_offline_experiment(trained):
    run_dir = trained
    assert {"model_best.pth", "last.pth"} <= {p.name for p in run_dir.iterdir()}
    log = (run_dir / "train.log").read_text()
    assert re.search(r"DeepSpeech2: [\d,]+ parameters", log)
    assert "val_WER_(Argmax)" in log
    assert list((run_dir / "comet").glob("*.zip")), "the offline CometML experiment is missing"


def test_inference_on_a_custom_folder_writes_one_file_per_utterance(data_dir, trained, tmp_path):
    run_dir = trained
    audio_dir, text_dir = tmp_path / "audio", tmp_path / "text"
    audio_dir.mkdir()
    text_dir.mkdir()
    manifest = [json.loads(line) for line in (data_dir / "synthetic" / "test.jsonl").open()]
    for record in manifest:
        shutil.copy(data_dir / "synthetic" / record["path"], audio_dir / f"{record['id']}.flac")
        (text_dir / f"{record['id']}.txt").write_text(record["text"].upper())
    out = tmp_path / "out"
    result = run_script(
        "inference.py",
        f"inferencer.from_pretrained={run_dir / 'model_best.pth'}",
        "datasets=custom_dir",
        f"datasets.test.audio_dir={audio_dir}",
        f"datasets.test.transcription_dir={text_dir}",
        f"inferencer.save_path={out}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.stem for p in (out / "test").glob("*.txt")) == sorted(r["id"] for r in manifest)
    assert re.search(r"test\s+WER_\(Argmax\)\s+[\d.]+%", result.stdout)

    scored = run_script(
        "calc_metrics.py",
        "--predictions_dir",
        str(out / "test"),
        "--transcriptions_dir",
        str(text_dir),
        "--json",
    )
    assert scored.returncode == 0, scored.stderr
    report = json.loads(scored.stdout)
    assert report["n_utterances"] == len(manifest)
    assert report["missing_predictions"] == [] and report["extra_predictions"] == []
    printed_wer = float(re.search(r"WER_\(Argmax\)\s+([\d.]+)%", result.stdout).group(1))
    assert abs(100 * report["wer"] - printed_wer) < 0.01


def test_inference_without_transcriptions_only_writes_predictions(trained, tmp_path, data_dir):
    run_dir = trained
    audio_dir = tmp_path / "audio"
    audio_dir.mkdir()
    for flac in list((data_dir / "synthetic").rglob("*.flac"))[:2]:
        shutil.copy(flac, audio_dir / flac.name)
    result = run_script(
        "inference.py",
        f"inferencer.from_pretrained={run_dir / 'model_best.pth'}",
        "datasets=custom_dir",
        f"datasets.test.audio_dir={audio_dir}",
        f"inferencer.save_path={tmp_path / 'out'}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((tmp_path / "out" / "test").glob("*.txt"))) == 2
    assert "WER" not in result.stdout


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("datasets=no_such_corpus", "Could not find 'datasets/no_such_corpus'"),
        ("trainer.n_epoch=1", "n_epoch"),
    ],
)
def test_misspelled_override_fails_with_hydra_message(override, message):
    result = run_script("train.py", "-cn=deepspeech2_cpu", override)
    assert result.returncode != 0
    assert message in result.stderr


def test_onebatchtest_overfits_a_single_batch(data_dir, tmp_path):
    result = run_script(
        "train.py",
        "-cn=deepspeech2_cpu",
        "datasets=onebatchtest",
        "transforms=logmel",
        *corpus_overrides(data_dir),
        *TINY_RUN,
        "model.rnn_hidden=96",
        "trainer.n_epochs=3",
        "trainer.epoch_len=40",
        "optimizer.lr=3e-3",
        f"trainer.save_dir={tmp_path}",
        "trainer.run_name=overfit",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    log = (tmp_path / "overfit" / "train.log").read_text()
    losses = [float(v) for v in re.findall(r"train_loss: ([\d.]+)", log)]
    assert len(losses) == 3
    assert losses[-1] < 0.1 * losses[0], losses


def test_a_subword_run_needs_nothing_but_its_checkpoint_to_decode(data_dir, tmp_path):
    """`text_encoder=bpe` with a Conformer: the sentencepiece model is learnt from the training
    transcripts, cached, stored in the checkpoint; inference works with the cache gone."""
    result = run_script(
        "train.py",
        "-cn=conformer_ctc_cpu",
        *corpus_overrides(data_dir),
        *[arg for arg in TINY_RUN if not arg.startswith("model.")],
        "model.n_layers=1",
        "model.d_model=32",
        "model.ffn_dim=64",
        "text_encoder=bpe",
        "text_encoder.vocab_size=60",
        f"trainer.save_dir={tmp_path}",
        "trainer.run_name=bpe",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [cached] = (data_dir / "sentencepiece").glob("bpe60_*.model")
    checkpoint = torch.load(tmp_path / "bpe" / "model_best.pth", weights_only=True)
    assert checkpoint["text_encoder"]["model"].numpy().tobytes() == cached.read_bytes()
    assert len(checkpoint["vocab"]) == 60
    cached.unlink()
    out = tmp_path / "out"
    result = run_script(
        "inference.py",
        f"inferencer.from_pretrained={tmp_path / 'bpe' / 'model_best.pth'}",
        *corpus_overrides(data_dir),
        "decoders=beam_search",
        "decoders.BeamSearch.beam_width=4",
        "inferencer.partitions=[test]",
        f"inferencer.save_path={out}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((out / "test").glob("*.txt"))) == TINY_CORPUS["n_test"]
    assert re.search(r"test\s+WER_\(BeamSearch\)\s+[\d.]+%", result.stdout)
    assert not list((data_dir / "sentencepiece").glob("*.model"))
