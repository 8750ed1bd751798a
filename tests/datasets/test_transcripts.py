"""The training partition's transcripts, for text encoders that learn their units."""

import json

from omegaconf import OmegaConf

from src.datasets.transcripts import training_transcripts


def test_the_partition_s_kept_utterances_give_their_normalised_texts(tmp_path):
    lines = [
        {"path": "a.wav", "duration": 1.0, "text": "The CAT\u2019s hat!"},
        {"path": "b.wav", "duration": 30.0, "text": "far too long"},
        {"path": "c.wav", "duration": 2.0, "text": "Naïve - dog"},
    ]
    manifest = tmp_path / "train.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    config = OmegaConf.create(
        {
            "_target_": "src.datasets.ManifestDataset",
            "manifest_path": str(manifest),
            "max_duration": 20,
        }
    )
    assert training_transcripts(config) == ["the cat's hat", "naive dog"]
