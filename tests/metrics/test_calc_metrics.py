"""calc_metrics: pairing prediction/reference folders, the report, the CLI and its errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from src.metrics.calc_metrics import MetricsReport, compute_metrics, main

REPO_ROOT = Path(__file__).resolve().parents[2]
REPORT_KEYS = {
    "wer",
    "cer",
    "mean_utterance_wer",
    "mean_utterance_cer",
    "n_utterances",
    "missing_predictions",
    "extra_predictions",
}

# Per utterance after normalisation (words, characters):
#   u1 "hello world" vs "hello world"  0/2   0/11
#   u2 "the cat sat" vs "the cat sit"  1/3   1/11
#   u3 "good morning" vs (missing)     2/2  12/12
# corpus WER 3/7, CER 13/34; mean utterance WER (0 + 1/3 + 1)/3 = 4/9, CER (0 + 1/11 + 1)/3 = 4/11
REFERENCES = {"u1": "Hello, World!", "u2": "The cat sat.", "u3": "Good morning"}
PREDICTIONS = {"u1": "hello world", "u2": "the cat sit", "z9": "an extra one"}


def write_texts(folder: Path, texts: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for utterance_id, text in texts.items():
        (folder / f"{utterance_id}.txt").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    predictions = write_texts(tmp_path / "predictions", PREDICTIONS)
    references = write_texts(tmp_path / "transcriptions", REFERENCES)
    return predictions, references


def test_report_figures(folders):
    report = compute_metrics(*folders)
    assert isinstance(report, MetricsReport)
    assert report.wer == pytest.approx(3 / 7)
    assert report.cer == pytest.approx(13 / 34)
    assert report.mean_utterance_wer == pytest.approx(4 / 9)
    assert report.mean_utterance_cer == pytest.approx(4 / 11)
    assert report.n_utterances == 3
    assert report.missing_predictions == ["u3"]
    assert report.extra_predictions == ["z9"]
    assert (report.total_word_edits, report.total_words) == (3, 7)
    assert (report.total_char_edits, report.total_chars) == (13, 34)


def test_to_dict_has_exactly_the_report_keys(folders):
    result = compute_metrics(*folders).to_dict()
    assert set(result) == REPORT_KEYS
    assert result["missing_predictions"] == ["u3"]
    assert result["extra_predictions"] == ["z9"]
    assert json.loads(json.dumps(result)) == result


def test_normalisation_makes_punctuation_and_case_free(tmp_path):
    texts = {"a": "Hello, World!", "b": "It\u2019s a WELL-KNOWN caf\u00e9 (42)."}
    predictions = write_texts(tmp_path / "p", {"a": "hello world", "b": "it's a well known cafe"})
    report = compute_metrics(predictions, write_texts(tmp_path / "t", texts))
    assert (report.wer, report.cer) == (0.0, 0.0)
    assert (report.mean_utterance_wer, report.mean_utterance_cer) == (0.0, 0.0)
    assert report.missing_predictions == report.extra_predictions == []


def test_empty_reference_and_empty_prediction_texts(tmp_path):
    # "a": empty reference matched by an empty prediction (rate 0), "b": 1 word inserted (rate 1),
    # "c": "one two" vs "" (2/2 words, 7/7 chars). Corpus: WER 3/2, CER (0 + 3 + 7)/7.
    predictions = write_texts(tmp_path / "p", {"a": "", "b": "hey", "c": " "})
    references = write_texts(tmp_path / "t", {"a": "...", "b": "", "c": "one two"})
    report = compute_metrics(predictions, references)
    assert report.wer == pytest.approx(3 / 2)
    assert report.cer == pytest.approx(10 / 7)
    assert report.mean_utterance_wer == pytest.approx((0 + 1 + 1) / 3)
    assert report.mean_utterance_cer == pytest.approx((0 + 1 + 1) / 3)


def test_only_txt_files_directly_in_the_folder_are_paired(folders):
    predictions, references = folders
    (predictions / "u3.wav").write_bytes(b"RIFF")
    (predictions / "notes.md").write_text("not a prediction")
    (predictions / "nested").mkdir()
    write_texts(predictions / "nested", {"u3": "good morning"})
    (references / "dir.txt").mkdir()
    write_texts(references, {"spk1.utt1": "multi dot id"})
    write_texts(predictions, {"spk1.utt1": "multi dot id"})
    report = compute_metrics(predictions, references)
    assert report.n_utterances == 4
    assert report.missing_predictions == ["u3"]
    assert report.extra_predictions == ["z9"]
    assert report.wer == pytest.approx(3 / 10)


def test_main_prints_a_human_table(folders, capsys):
    predictions, references = folders
    code = main(["--predictions_dir", str(predictions), "--transcriptions_dir", str(references)])
    out, err = capsys.readouterr()
    assert code == 0
    assert err == ""
    assert "42.86%" in out  # WER 3/7
    assert "38.24%" in out  # CER 13/34
    assert "44.44%" in out  # mean utterance WER 4/9
    assert "36.36%" in out  # mean utterance CER 4/11
    assert "u3" in out and "z9" in out


def test_main_truncates_long_id_lists(tmp_path, capsys):
    references = write_texts(tmp_path / "t", {f"utt{i:02d}": "word" for i in range(25)})
    predictions = write_texts(tmp_path / "p", {"utt00": "word"})
    assert (
        main(["--predictions_dir", str(predictions), "--transcriptions_dir", str(references)]) == 0
    )
    out = capsys.readouterr().out
    assert "utt01" in out and "utt10" in out
    assert "utt11" not in out and "utt24" not in out
    assert "24 (" in out and "+14 more" in out


def test_main_json_prints_one_object_with_exactly_the_keys(folders, capsys):
    predictions, references = folders
    argv = ["--predictions_dir", str(predictions), "--transcriptions_dir", str(references)]
    assert main([*argv, "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    result = json.loads(out)
    assert set(result) == REPORT_KEYS
    assert result["wer"] == pytest.approx(3 / 7)  # fractions, not percent
    assert result["cer"] == pytest.approx(13 / 34)
    assert result["mean_utterance_wer"] == pytest.approx(4 / 9)
    assert result["mean_utterance_cer"] == pytest.approx(4 / 11)
    assert result["n_utterances"] == 3
    assert result["missing_predictions"] == ["u3"]
    assert result["extra_predictions"] == ["z9"]


@pytest.mark.parametrize("broken", ["predictions", "transcriptions"])
@pytest.mark.parametrize("problem", ["missing", "empty", "no_txt"])
def test_main_rejects_a_missing_or_empty_folder(folders, tmp_path, capsys, broken, problem):
    predictions, references = folders
    bad = tmp_path / f"bad_{broken}"
    if problem != "missing":
        bad.mkdir()
    if problem == "no_txt":
        (bad / "u1.wav").write_bytes(b"RIFF")
    if broken == "predictions":
        predictions = bad
    else:
        references = bad
    argv = ["--predictions_dir", str(predictions), "--transcriptions_dir", str(references)]
    assert main([*argv, "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: ")
    assert broken in err and str(bad) in err


def test_main_rejects_a_file_path_given_as_folder(folders, capsys):
    _, references = folders
    file_path = references / "u1.txt"
    argv = ["--predictions_dir", str(file_path), "--transcriptions_dir", str(references)]
    assert main(argv) == 2
    assert str(file_path) in capsys.readouterr().err


@pytest.mark.parametrize("folder_index", [0, 1])
def test_main_rejects_a_non_utf8_file_naming_it(folders, capsys, folder_index):
    bad_file = folders[folder_index] / "u2.txt"
    bad_file.write_bytes("caf\u00e9".encode("latin-1"))
    predictions, references = folders
    argv = ["--predictions_dir", str(predictions), "--transcriptions_dir", str(references)]
    assert main([*argv, "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: ") and str(bad_file) in err and "UTF-8" in err


@pytest.mark.slow
def test_calc_metrics_script_end_to_end(folders):
    predictions, references = folders
    completed = subprocess.run(
        [
            sys.executable,
            "calc_metrics.py",
            "--predictions_dir",
            str(predictions),
            "--transcriptions_dir",
            str(references),
            "--json",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert set(result) == REPORT_KEYS
    assert result["wer"] == pytest.approx(3 / 7)
    assert result["cer"] == pytest.approx(13 / 34)
    assert result["n_utterances"] == 3
    assert result["missing_predictions"] == ["u3"]
    assert result["extra_predictions"] == ["z9"]
