"""`python -m src.tune_lm`: the log-probability cache and the command end to end."""

import json
import subprocess
import sys

import pytest
import torch

from src.decoding.fusion import load_lm_params
from src.decoding.log_prob_cache import LogProbCache, fingerprint
from src.trainer.log_probs import cached_log_probs
from src.tune_lm import partition_log_probs
from tests.conftest import REPO_ROOT, compose_config, write_tone
from tests.decoding.tiny_lm import ENCODER, write_arpa
from tests.tiny_model import save_tiny_checkpoint


@pytest.fixture
def tone_folder(tmp_path):
    audio_dir, text_dir = tmp_path / "audio", tmp_path / "text"
    audio_dir.mkdir()
    text_dir.mkdir()
    for index, text in enumerate(["red car", "car", "a red car"]):
        write_tone(audio_dir / f"u{index}.wav", 0.5 + 0.1 * index, frequency=250 + 80 * index)
        (text_dir / f"u{index}.txt").write_text(text)
    return audio_dir, text_dir


def tune_overrides(checkpoint, tone_folder, lm=None) -> list[str]:
    audio_dir, text_dir = tone_folder
    overrides = [
        f"inferencer.from_pretrained={checkpoint}",
        "datasets=custom_dir",
        f"datasets.test.audio_dir={audio_dir}",
        f"datasets.test.transcription_dir={text_dir}",
        "tune.partition=test",
        "decoders.LM.num_processes=2",
        "decoders.BeamSearch.beam_width=8",
        "inferencer.num_threads=1",
    ]
    return overrides + ([f"decoders.LM.lm_path={lm}"] if lm else [])


def test_cache_is_reused_until_the_checkpoint_changes(tmp_path, tone_folder):
    checkpoint = save_tiny_checkpoint(tmp_path / "run" / "model.pth")
    cfg = compose_config("tune_lm", *tune_overrides(checkpoint, tone_folder))
    inferencer, first = partition_log_probs(cfg)
    cache_path = tmp_path / "run" / "log_probs_test.pt"
    assert sorted(first.ids) == ["u0", "u1", "u2"] and "red car" in first.references
    assert all(lp.shape[1] == len(ENCODER) and lp.dtype == torch.float32 for lp in first.log_probs)
    written = cache_path.stat().st_mtime_ns
    pipeline, loader = inferencer.pipeline, inferencer.dataloaders["test"]

    same_key = fingerprint(checkpoint, "test", cfg.datasets)
    again = cached_log_probs(pipeline, loader, same_key, cache_path)
    assert cache_path.stat().st_mtime_ns == written  # read, not recomputed
    assert again.ids == first.ids and all(map(torch.equal, again.log_probs, first.log_probs))

    state = torch.load(checkpoint, weights_only=True)
    state["epoch"] += 1
    torch.save(state, checkpoint)  # another checkpoint at the same path
    assert fingerprint(checkpoint, "test", cfg.datasets, weights="ema") != same_key
    key = fingerprint(checkpoint, "test", cfg.datasets)
    assert key != first.fingerprint
    recomputed = cached_log_probs(pipeline, loader, key, cache_path)
    assert cache_path.stat().st_mtime_ns != written
    assert LogProbCache.load(cache_path).fingerprint == key == recomputed.fingerprint


@pytest.mark.slow
def test_tune_command_writes_params_that_inference_reads(tmp_path, tone_folder):
    checkpoint = save_tiny_checkpoint(tmp_path / "run" / "model.pth")
    lm = write_arpa(tmp_path / "lm.arpa")
    overrides = tune_overrides(checkpoint, tone_folder, lm)
    tune = [sys.executable, "-m", "src.tune_lm", *overrides, "tune.alphas=[0,0.5]"]
    tune += ["tune.betas=[0,1]", f"hydra.run.dir={tmp_path / 'tune'}"]
    result = subprocess.run(tune, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "<- best" in result.stdout and "Argmax (for comparison)" in result.stdout
    params = load_lm_params(tmp_path / "run" / "lm_params.yaml")
    assert {"alpha", "beta", "wer", "cer", "partition", "lm_path"} <= set(params)
    assert (params["alpha"], params["beta"]) in {(0, 0), (0, 1), (0.5, 0), (0.5, 1)}

    out = tmp_path / "predictions"
    inference = [
        sys.executable,
        "inference.py",
        *[o for o in overrides if not o.startswith("tune.")],
        "decoders=lm",
        f"decoders.LM.params_file={tmp_path / 'run' / 'lm_params.yaml'}",
        "inferencer.output_decoder=LM",
        f"inferencer.save_path={out}",
    ]
    result = subprocess.run(inference, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"alpha {params['alpha']}, beta {params['beta']} from" in result.stdout
    records = [json.loads(line) for line in (out / "test" / "predictions.jsonl").open()]
    assert sorted(record["id"] for record in records) == ["u0", "u1", "u2"]
    for record in records:
        assert {"Argmax", "BeamSearch", "LM"} == set(record["decoders"])
        assert {"lm_score", "logit_score", "wer"} <= set(record["decoders"]["LM"])
        text = (out / "test" / f"{record['id']}.txt").read_text()
        assert text == record["decoders"]["LM"]["text"] + "\n"
