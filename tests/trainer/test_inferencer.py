"""The inferencer's outputs: one <id>.txt per utterance and predictions.jsonl for every decoder."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from hydra.utils import instantiate
from torch.utils.data import DataLoader

from src.datasets import CustomDirDataset, collate_fn
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
from tests.conftest import compose_config, write_tone
from tests.decoding.tiny_lm import write_arpa

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
    loader.dataset._index[0]["id"] = "../../escaped"
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
