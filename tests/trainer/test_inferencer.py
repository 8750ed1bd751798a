"""The inferencer's outputs: one <id>.txt per utterance and predictions.jsonl for every decoder."""

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hydra.utils import instantiate
from torch.utils.data import DataLoader

from src.datasets import CustomDirDataset, collate_fn
from src.datasets.compact_index import CompactIndex
from src.decoding import ArgmaxDecoder, BeamSearchDecoder, LMBeamSearchDecoder
from src.metrics import CERMetric, WERMetric, char_edits, error_rate, word_edits
from src.metrics.calc_metrics import compute_metrics
from src.model import build_model
from src.trainer.config import InferencerConfig
from src.trainer.inferencer import Inferencer
from src.trainer.pipeline import BatchPipeline
from src.trainer.setup import inference_partitions, typed
from src.transforms.features import build_features
from src.utils.audio import AudioReadError
from tests.conftest import REPO_ROOT, compose_config, write_tone
from tests.decoding.tiny_lm import write_arpa
from tests.tiny_model import save_tiny_checkpoint

REFERENCES = {"one": "red car", "two": "a red car", "three": "car"}


@pytest.fixture
def pipeline(tmp_path):
    cfg = compose_config(
        "deepspeech2_cpu",
        *["model.rnn_layers=1", "model.rnn_hidden=16", "model.conv_channels=[4,4]"],
    )
    text_encoder = instantiate(cfg.text_encoder)
    features = build_features(cfg.transforms.features)
    torch.manual_seed(0)
    model = build_model(cfg.model, features.n_feats, len(text_encoder))
    decoders = {
        "Argmax": ArgmaxDecoder(text_encoder),
        "BeamSearch": BeamSearchDecoder(text_encoder, beam_width=8),
        "LM": LMBeamSearchDecoder(
            text_encoder, lm_path=write_arpa(tmp_path / "lm.arpa"), beam_width=8
        ),
    }
    return BatchPipeline(model, features, torch.device("cpu"), decoders=decoders)


def folder_loader(pipeline, tmp_path, with_transcriptions: bool) -> DataLoader:
    audio_dir, text_dir = tmp_path / "audio", tmp_path / "text"
    audio_dir.mkdir()
    text_dir.mkdir()
    for index, (utterance_id, text) in enumerate(REFERENCES.items()):
        write_tone(audio_dir / f"{utterance_id}.wav", 0.4 + 0.1 * index, frequency=300 + 90 * index)
        (text_dir / f"{utterance_id}.txt").write_text(text.upper())
    dataset = CustomDirDataset(
        audio_dir,
        text_dir if with_transcriptions else None,
        text_encoder=pipeline.decoders["Argmax"].text_encoder,
    )
    return DataLoader(dataset, batch_size=2, collate_fn=collate_fn)


def read_records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_writes_text_files_and_a_scored_record_per_utterance(pipeline, tmp_path):
    loader = folder_loader(pipeline, tmp_path, with_transcriptions=True)
    metrics = [WERMetric(name) for name in pipeline.decoders] + [CERMetric("LM")]
    inferencer = Inferencer(pipeline, {"test": loader}, metrics, tmp_path / "out", "BeamSearch")
    results = inferencer.run()["test"]

    out = tmp_path / "out" / "test"
    records = read_records(out / "predictions.jsonl")
    assert sorted(record["id"] for record in records) == sorted(REFERENCES)
    total_edits = total_words = 0
    for record in records:
        assert record["reference"] == REFERENCES[record["id"]]
        assert set(record["decoders"]) == {"Argmax", "BeamSearch", "LM"}
        best = record["decoders"]["BeamSearch"]
        assert (out / f"{record['id']}.txt").read_text() == best["text"] + "\n"
        assert set(best) == {"text", "logit_score", "score", "wer", "cer"}
        assert set(record["decoders"]["LM"]) == {
            "text",
            "logit_score",
            "lm_score",
            "score",
            "wer",
            "cer",
        }
        for entry in record["decoders"].values():
            reference = record["reference"]
            assert entry["wer"] == error_rate(word_edits(reference, entry["text"]))
            assert entry["cer"] == error_rate(char_edits(reference, entry["text"]))
        argmax_text = record["decoders"]["Argmax"]["text"]
        edits, words = word_edits(record["reference"], argmax_text)
        total_edits, total_words = total_edits + edits, total_words + words
    assert results["WER_(Argmax)"] == pytest.approx(total_edits / total_words)
    assert {"WER_(BeamSearch)", "WER_(LM)", "CER_(LM)"} <= set(results)


def test_without_transcriptions_records_carry_no_reference_or_error_rates(pipeline, tmp_path):
    loader = folder_loader(pipeline, tmp_path, with_transcriptions=False)
    inferencer = Inferencer(pipeline, {"test": loader}, [WERMetric()], tmp_path / "out")
    assert inferencer.run() == {"test": {}}
    records = read_records(tmp_path / "out" / "test" / "predictions.jsonl")
    assert len(records) == len(REFERENCES)
    for record in records:
        assert "reference" not in record
        assert all("wer" not in entry for entry in record["decoders"].values())
        argmax_text = (tmp_path / "out" / "test" / f"{record['id']}.txt").read_text()
        assert argmax_text == record["decoders"]["Argmax"]["text"] + "\n"


def test_unknown_output_decoder_is_an_error(pipeline, tmp_path):
    with pytest.raises(KeyError, match="Greedy"):
        Inferencer(pipeline, {}, [], tmp_path, output_decoder="Greedy")


def test_an_empty_reference_scores_the_same_here_and_in_calc_metrics(pipeline, tmp_path):
    """One definition (src.metrics.error_rate): words against an empty reference are 100%."""
    audio_dir = tmp_path / "audio"
    audio_dir.mkdir()
    write_tone(audio_dir / "silent.wav", 0.6)
    (audio_dir / "silent.txt").write_text("\n")
    encoder = pipeline.decoders["Argmax"].text_encoder
    dataset = CustomDirDataset(audio_dir, audio_dir, text_encoder=encoder)
    loader = DataLoader(dataset, batch_size=1, collate_fn=collate_fn)
    inferencer = Inferencer(
        pipeline, {"test": loader}, [WERMetric(), CERMetric()], tmp_path / "out"
    )
    results = inferencer.run()["test"]
    report = compute_metrics(tmp_path / "out" / "test", audio_dir)
    hypothesis = (tmp_path / "out" / "test" / "silent.txt").read_text().strip()
    assert hypothesis  # the untrained model says something
    assert results["WER_(Argmax)"] == report.wer == 1.0
    assert results["CER_(Argmax)"] == report.cer == 1.0


def test_a_partition_pointed_at_a_folder_is_decoded_without_downloading_the_rest(tmp_path):
    local = tmp_path / "LibriSpeech" / "test-other"
    local.mkdir(parents=True)
    cfg = compose_config(
        "inference",
        "inferencer.from_pretrained=x.pth",
        "datasets=librispeech_eval",
        f"datasets.test.data_dir={tmp_path}",
        "datasets.test.part=test-other",
        f"datasets.val.data_dir={tmp_path / 'empty'}",
    )
    settings = typed(InferencerConfig, cfg.inferencer)
    with pytest.raises(FileNotFoundError, match=r"inferencer.partitions=\[test\]"):
        inference_partitions(settings, cfg.datasets)
    settings.partitions = ["test"]
    assert inference_partitions(settings, cfg.datasets) == ["test"]
    settings.partitions, settings.exclude_partitions = None, ["val", "val_other", "test_other"]
    assert inference_partitions(settings, cfg.datasets) == ["test"]


def test_an_id_that_would_write_outside_the_partition_folder_is_refused(pipeline, tmp_path):
    """Defence in depth: a dataset that skipped BaseDataset's id check still cannot escape."""
    loader = folder_loader(pipeline, tmp_path, with_transcriptions=True)
    first, *rest = loader.dataset._index
    loader.dataset._index = CompactIndex([{**first, "id": "../../escaped"}, *rest])
    inferencer = Inferencer(pipeline, {"test": loader}, [], tmp_path / "out")
    with pytest.raises(ValueError, match=r"'\.\./\.\./escaped' would write outside .*out/test"):
        inferencer.run()
    assert not list(tmp_path.rglob("escaped*"))


def test_non_finite_scores_are_an_error_naming_the_utterance_not_invalid_json(pipeline, tmp_path):
    loader = folder_loader(pipeline, tmp_path, with_transcriptions=True)
    argmax = BatchPipeline(
        pipeline.model,
        pipeline.features,
        torch.device("cpu"),
        decoders={"Argmax": pipeline.decoders["Argmax"]},
    )
    with torch.no_grad():
        for parameter in argmax.model.parameters():
            parameter.fill_(float("nan"))
    inferencer = Inferencer(argmax, {"test": loader}, [], tmp_path / "out")
    with pytest.raises(ValueError, match=r"utterance \w+: a score is not finite"):
        inferencer.run()
    assert "NaN" not in (tmp_path / "out" / "test" / "predictions.jsonl").read_text()


def test_nan_audio_is_an_error_naming_the_file(pipeline, tmp_path):
    loader = folder_loader(pipeline, tmp_path, with_transcriptions=True)
    samples = np.zeros(8000, dtype=np.float32)
    samples[10] = np.nan
    sf.write(tmp_path / "audio" / "two.wav", samples, 16000, subtype="FLOAT")
    inferencer = Inferencer(pipeline, {"test": loader}, [], tmp_path / "out")
    with pytest.raises(AudioReadError, match=r"two\.wav: samples are not finite"):
        inferencer.run()


def test_n_best_lists_each_decoders_best_hypotheses(pipeline, tmp_path):
    loader = folder_loader(pipeline, tmp_path, with_transcriptions=True)
    Inferencer(pipeline, {"test": loader}, [], tmp_path / "out", n_best=3).run()
    records = read_records(tmp_path / "out" / "test" / "predictions.jsonl")
    for record in records:
        argmax = record["decoders"]["Argmax"]
        assert argmax["n_best"] == [{key: argmax[key] for key in ("text", "logit_score", "score")}]
        for name in ("BeamSearch", "LM"):
            entry = record["decoders"][name]
            n_best = entry["n_best"]
            assert 1 <= len(n_best) <= 3 and len({h["text"] for h in n_best}) == len(n_best)
            assert n_best[0] == {key: entry[key] for key in n_best[0]}  # the best comes first
            scores = [h["score"] for h in n_best]
            assert scores == sorted(scores, reverse=True)
    assert max(len(record["decoders"]["LM"]["n_best"]) for record in records) == 3


def test_the_decoders_pool_lives_for_the_run_and_stops_at_its_end(pipeline, tmp_path):
    decoder = pipeline.decoders["LM"]
    decoder.num_processes = 2
    loader = folder_loader(pipeline, tmp_path, with_transcriptions=False)
    workers_seen = []
    decode_n_best = decoder.decode_n_best

    def decode_and_look(log_probs, n_best=1):
        hypotheses = decode_n_best(log_probs, n_best)
        workers_seen.append(frozenset(p.pid for p in multiprocessing.active_children()))
        return hypotheses

    decoder.decode_n_best = decode_and_look
    Inferencer(pipeline, {"test": loader, "again": loader}, [], tmp_path / "out").run()
    assert len(workers_seen) == 4  # 2 partitions x 2 batches, all served by the same 2 workers
    assert len(set(workers_seen)) == 1 and len(workers_seen[0]) == 2
    assert not multiprocessing.active_children()


def process_group(pgid: int) -> set[int]:
    """The pids of the live (not zombie) processes of a process group, read from /proc."""
    members = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.add(int(stat.parent.name))
    return members


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_ctrl_c_during_pooled_lm_decoding_ends_promptly_and_leaves_no_process(tmp_path):
    """inference.py with a pool of 2 decoding slowly (an untrained model, a wide unpruned beam):
    once its workers run, a terminal's Ctrl-C (SIGINT to the whole process group) must end the
    run within seconds, and no process of the group may be left."""
    audio = tmp_path / "audio"
    audio.mkdir()
    for index in range(4):
        write_tone(audio / f"u{index}.wav", 3.0, frequency=200 + 40 * index)
    checkpoint = save_tiny_checkpoint(tmp_path / "run" / "model.pth")
    command = [
        sys.executable,
        "inference.py",
        f"inferencer.from_pretrained={checkpoint}",
        "datasets=custom_dir",
        f"datasets.test.audio_dir={audio}",
        f"inferencer.save_path={tmp_path / 'out'}",
        "inferencer.num_threads=1",
        "decoders=lm",
        "~decoders.BeamSearch",
        "decoders.LM.beam_width=256",
        "decoders.LM.token_min_logp=-1000",
        "decoders.LM.beam_prune_logp=-1000",
        "decoders.LM.num_processes=2",
    ]
    run = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        deadline = time.monotonic() + 120
        while len(process_group(run.pid)) < 3:  # the main process and its 2 workers
            assert run.poll() is None, run.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the pool never started"
            time.sleep(0.1)
        time.sleep(0.5)  # well inside the decoding of the first batch (about 18 s here)
        interrupted = time.monotonic()
        os.killpg(run.pid, signal.SIGINT)
        _, stderr = run.communicate(timeout=30)
        assert time.monotonic() - interrupted < 10
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode != 0 and "KeyboardInterrupt" in stderr
    assert not process_group(run.pid)
    assert not list((tmp_path / "out" / "test").glob("*.txt"))  # it stopped in the first batch
