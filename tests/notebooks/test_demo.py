"""notebooks/demo.ipynb executed headless (nbclient) on a local folder and on a served zip."""

import html
import json
import re
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from src.metrics.calc_metrics import compute_metrics
from tests.conftest import REPO_ROOT, write_tone
from tests.http_server import serve
from tests.tiny_model import save_tiny_checkpoint

NOTEBOOK = REPO_ROOT / "notebooks" / "demo.ipynb"
LIBRISPEECH_IDS = ["1089-134686-0000", "2830-3980-0043", "8455-210777-0068"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("trained") / "model_best.pth")


def execute(monkeypatch, **parameters: object) -> dict[str, list]:
    """Run every cell as Jupyter would (from notebooks/); the outputs of each tagged cell."""
    for name, value in parameters.items():
        monkeypatch.setenv(f"DEMO_{name}", str(value))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
    return {tag: cell.outputs for cell in notebook.cells for tag in cell.metadata.get("tags", [])}


def text_of(outputs: list) -> str:
    return "".join(output.get("text", "") for output in outputs if output.output_type == "stream")


def table_rows(outputs: list) -> list[list[str]]:
    """The cells of each body row of the HTML table the notebook displayed."""
    [table] = [
        output.data["text/html"] for output in outputs if "text/html" in output.get("data", {})
    ]
    body = table.split("<tbody>")[1]
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in body.split("</tr>")[:-1]]
    return [[html.unescape(cell) for cell in row] for row in rows]


def check_outputs(outputs: dict[str, list], ids: list[str], predictions: Path, references: Path):
    rows = table_rows(outputs["predictions-table"])
    assert [row[0] for row in rows] == ids
    for row in rows:
        assert row[1] == (predictions / f"{row[0]}.txt").read_text().strip()
        assert re.fullmatch(r"\d+\.\d%", row[3]) and re.fullmatch(r"\d+\.\d%", row[4]), row
    report = compute_metrics(predictions, references)
    printed = text_of(outputs["metrics"])
    assert f"WER {100 * report.wer:.2f}%  CER {100 * report.cer:.2f}%" in printed
    assert f"over {len(ids)} utterances" in printed
    assert any("image/png" in output.get("data", {}) for output in outputs["spectrogram"])


def test_the_committed_notebook_has_no_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


@pytest.mark.slow
def test_a_local_folder_of_real_speech(shared_data, checkpoint, tmp_path, monkeypatch):
    records = {
        record["id"]: record
        for record in map(json.loads, (shared_data / "LibriSpeech" / "manifest.jsonl").open())
    }
    data = tmp_path / "my data"  # a space, as in many users' folders
    (data / "audio").mkdir(parents=True)
    (data / "transcriptions").mkdir()
    for utterance_id in LIBRISPEECH_IDS:
        record = records[utterance_id]
        shutil.copy(shared_data / "LibriSpeech" / record["path"], data / "audio")
        (data / "transcriptions" / f"{utterance_id}.txt").write_text(record["text"])
    work = tmp_path / "work"

    outputs = execute(monkeypatch, SOURCE=data, CHECKPOINT=checkpoint, WORK_DIR=work)

    predictions = work / "predictions" / "test"
    check_outputs(outputs, LIBRISPEECH_IDS, predictions, data / "transcriptions")
    rows = table_rows(outputs["predictions-table"])
    assert [row[2] for row in rows] == [records[i]["text"].lower() for i in LIBRISPEECH_IDS]
    assert text_of(outputs["spectrogram"]).startswith(f"{LIBRISPEECH_IDS[0]}: ")


@pytest.mark.slow
def test_a_zip_behind_a_link_with_references_beside_the_audio(checkpoint, tmp_path, monkeypatch):
    words = {"tone_a": "yes", "tone_b": "no", "tone_c": "up"}
    archive = tmp_path / "www" / "tones.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zipped:
        for index, (utterance_id, word) in enumerate(words.items()):
            path = write_tone(tmp_path / f"{utterance_id}.wav", 0.4 + 0.2 * index)
            zipped.write(path, f"tones/{path.name}")
            zipped.writestr(f"tones/{utterance_id}.txt", word)
    work = tmp_path / "work"

    with serve(archive.parent) as (base_url, state):
        outputs = execute(
            monkeypatch,
            SOURCE=f"{base_url}/tones.zip",
            CHECKPOINT=checkpoint,
            WORK_DIR=work,
            PLOT_ID="tone_b",
        )

    assert state.requests == [("/tones.zip", None)]
    assert (work / "downloads" / "tones.zip").read_bytes() == archive.read_bytes()
    unpacked = work / "data" / "tones" / "tones"
    check_outputs(outputs, list(words), work / "predictions" / "test", unpacked)
    assert [row[2] for row in table_rows(outputs["predictions-table"])] == list(words.values())
    assert text_of(outputs["spectrogram"]).startswith("tone_b: 0.60 s")
