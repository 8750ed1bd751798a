import json

import pytest

from src.datasets.custom_dir import index_audio_dir
from src.datasets.export import main
from tests.conftest import write_tone


@pytest.fixture
def manifest(tmp_path):
    lines = []
    for index, (speaker, text) in enumerate([("ann", "YES"), ("bob", "GO"), ("ann", "ENTER SIX")]):
        write_tone(tmp_path / f"u{index}.flac", 0.2 + 0.1 * index)
        lines.append(
            {
                "path": f"u{index}.flac",
                "duration": 0.2,
                "text": text,
                "speaker": speaker,
                "id": f"id{index}",
            }
        )
    path = tmp_path / "manifest.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_exported_folder_reads_back_as_custom_dir(manifest, tmp_path, capsys):
    out = tmp_path / "dev"
    main(["--manifest", str(manifest), "--speakers", "ann", "--out", str(out)])
    assert "wrote 2 utterances" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["id0.flac", "id0.txt", "id2.flac", "id2.txt"]
    assert (out / "id2.flac").read_bytes() == (tmp_path / "u2.flac").read_bytes()
    index = index_audio_dir(out, out)  # transcriptions may sit next to the audio
    assert [(entry["id"], entry["text"]) for entry in index] == [
        ("id0", "YES"),
        ("id2", "ENTER SIX"),
    ]


def test_refuses_a_non_empty_output_folder(manifest, tmp_path):
    out = tmp_path / "dev"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        main(["--manifest", str(manifest), "--out", str(out)])
    assert (out / "keep.txt").read_text() == "mine"


def test_missing_audio_names_the_utterance(manifest, tmp_path):
    (tmp_path / "u1.flac").unlink()
    with pytest.raises(FileNotFoundError, match="id1"):
        main(["--manifest", str(manifest), "--out", str(tmp_path / "dev")])


def test_exports_the_speakers_a_dataset_config_holds_out(manifest, tmp_path):
    config = tmp_path / "split.yaml"
    config.write_text("train:\n  exclude_speakers: [bob]\n")
    main(
        [
            "--manifest",
            str(manifest),
            "--speakers-held-out-by",
            str(config),
            "--out",
            str(tmp_path / "dev"),
        ]
    )
    assert sorted(p.name for p in (tmp_path / "dev").glob("*.txt")) == ["id1.txt"]
