"""scripts/download_model.py against a real local HTTP server and local paths."""

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scripts.download_model import (
    DEFAULT_REGISTRY,
    RegistryError,
    inference_overrides,
    load_registry,
    main,
)
from src.utils.download import file_digest
from tests.conftest import REPO_ROOT, write_tone
from tests.decoding.tiny_lm import ARPA
from tests.http_server import serve
from tests.tiny_model import save_tiny_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("trained") / "model_best.pth")


@pytest.fixture
def served(tmp_path, checkpoint):
    """The checkpoint on a local HTTP server; an LM and unigrams as local files."""
    root = tmp_path / "www"
    (root / "an4").mkdir(parents=True)
    (root / "an4" / "model_best.pth").write_bytes(checkpoint.read_bytes())
    (tmp_path / "lm").mkdir()
    (tmp_path / "lm" / "3-gram.arpa").write_text(ARPA)
    (tmp_path / "lm" / "unigrams.txt").write_text("yes\n")
    with serve(root) as (base_url, state):
        yield base_url, state


def entry(base_url: str, tmp_path: Path) -> dict:
    files = {
        "checkpoint": {
            "source": f"{base_url}/an4/model_best.pth",
            "sha256": file_digest(tmp_path / "www" / "an4" / "model_best.pth"),
        },
        "lm": {  # relative to the registry file
            "source": "lm/3-gram.arpa",
            "sha256": file_digest(tmp_path / "lm" / "3-gram.arpa"),
        },
        "unigrams": {
            "source": str(tmp_path / "lm" / "unigrams.txt"),
            "sha256": file_digest(tmp_path / "lm" / "unigrams.txt"),
        },
    }
    return {"description": "tiny model", "files": files, "decoder": {"alpha": 0.7, "beta": 1.5}}


def write_registry(tmp_path: Path, models: dict) -> Path:
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump({"models": models}))
    return path


def run(registry: Path, output_dir: Path, *args: str) -> int:
    return main([*args, "--registry", str(registry), "--output_dir", str(output_dir)])


def test_default_registry_is_valid_and_lists_its_entries(capsys):
    registry = load_registry(DEFAULT_REGISTRY)
    assert main(["--list"]) == 0
    listed = capsys.readouterr().out
    if registry:
        assert all(name in listed for name in registry)
    else:
        assert "no models" in listed and "entry format" in listed


def test_fetches_verifies_and_prints_the_inference_command(tmp_path, served, capsys):
    base_url, state = served
    registry = write_registry(tmp_path, {"an4": entry(base_url, tmp_path)})
    out = tmp_path / "models"

    assert run(registry, out, "an4") == 0

    folder = out / "an4"
    assert sorted(p.name for p in folder.iterdir()) == [
        "3-gram.arpa",
        "model_best.pth",
        "unigrams.txt",
    ]
    assert file_digest(folder / "model_best.pth") == file_digest(
        tmp_path / "www" / "an4" / "model_best.pth"
    )
    assert (folder / "3-gram.arpa").read_text() == ARPA
    assert state.requests == [("/an4/model_best.pth", None)]
    printed = capsys.readouterr().out
    command = shlex.split(printed[printed.index("python inference.py") :].replace("\\\n", " "))
    assert command[:2] == ["python", "inference.py"]
    assert set(command[2:]) == {
        f"inferencer.from_pretrained={folder / 'model_best.pth'}",
        "decoders=lm",
        f"decoders.LM.lm_path={folder / '3-gram.arpa'}",
        f"decoders.LM.unigrams_path={folder / 'unigrams.txt'}",
        "decoders.LM.alpha=0.7",
        "decoders.LM.beta=1.5",
        "inferencer.output_decoder=LM",
        "datasets=custom_dir",
        "datasets.test.audio_dir=AUDIO_DIR",
        "inferencer.save_path=OUT_DIR",
    }


def test_rerun_is_a_no_op_and_a_damaged_file_is_fetched_again(tmp_path, served, capsys):
    base_url, state = served
    registry = write_registry(tmp_path, {"an4": entry(base_url, tmp_path)})
    out = tmp_path / "models"
    assert run(registry, out, "an4") == 0
    assert run(registry, out, "an4") == 0
    assert len(state.requests) == 1
    assert capsys.readouterr().out.count("already there") == 3

    (out / "an4" / "model_best.pth").write_bytes(b"damaged")
    (out / "an4" / "unigrams.txt").write_text("no\n")
    assert run(registry, out, "an4") == 0
    assert len(state.requests) == 2
    assert (out / "an4" / "unigrams.txt").read_text() == "yes\n"
    assert file_digest(out / "an4" / "model_best.pth") == file_digest(
        tmp_path / "www" / "an4" / "model_best.pth"
    )


def test_resumes_a_download_cut_short(tmp_path, served):
    base_url, state = served
    registry = write_registry(tmp_path, {"an4": entry(base_url, tmp_path)})
    state.cut_after["/an4/model_best.pth"] = 1000
    assert run(registry, tmp_path / "models", "an4") == 0
    assert state.requests[1] == ("/an4/model_best.pth", "bytes=1000-")


@pytest.mark.parametrize("role", ["checkpoint", "lm"])
def test_a_checksum_mismatch_is_an_error_and_leaves_no_file(tmp_path, served, capsys, role):
    base_url, _ = served
    raw = entry(base_url, tmp_path)
    raw["files"][role]["sha256"] = "0" * 64
    registry = write_registry(tmp_path, {"an4": raw})
    out = tmp_path / "models"
    (out / "an4").mkdir(parents=True)
    stale = out / "an4" / Path(raw["files"][role]["source"]).name
    stale.write_bytes(b"a stale copy")

    assert run(registry, out, "an4") == 1

    error = capsys.readouterr().err
    assert "0" * 64 in error and Path(raw["files"][role]["source"]).name in error
    assert not any(p.name.startswith(stale.name) for p in (out / "an4").iterdir())


def test_unknown_model_and_missing_source_are_named(tmp_path, served, capsys):
    base_url, _ = served
    raw = entry(base_url, tmp_path)
    raw["files"]["lm"]["source"] = "lm/missing.arpa"
    registry = write_registry(tmp_path, {"an4": raw})
    assert run(registry, tmp_path / "models", "librispeech") == 1
    assert "no model 'librispeech'" in capsys.readouterr().err
    assert run(registry, tmp_path / "models", "an4") == 1
    assert "missing.arpa" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda raw: raw.pop("description"), "missing description"),
        (lambda raw: raw["files"].pop("checkpoint"), "missing checkpoint"),
        (lambda raw: raw["files"]["checkpoint"].update(sha256="abc"), "64 hex digits"),
        (lambda raw: raw["files"].update(vocab=raw["files"]["lm"]), "unknown key(s) vocab"),
        (lambda raw: raw["files"].pop("lm"), "need an 'lm' file"),
        (lambda raw: raw["decoder"].update(alpha="high"), "expected a number"),
        (lambda raw: raw["files"]["unigrams"].update(source="lm/3-gram.arpa"), "distinct"),
        (lambda raw: raw["files"]["lm"].update(source="http://host/lm/.."), "got model_best"),
    ],
)
def test_malformed_entries_are_rejected_with_their_location(tmp_path, served, change, message):
    raw = entry(served[0], tmp_path)
    change(raw)
    with pytest.raises(RegistryError, match=r"models\.an4") as error:
        load_registry(write_registry(tmp_path, {"an4": raw}))
    assert message in str(error.value)


def test_a_model_name_cannot_leave_the_output_folder(tmp_path, served):
    with pytest.raises(RegistryError, match="letters, digits"):
        load_registry(write_registry(tmp_path, {"../an4": entry(served[0], tmp_path)}))


def test_overrides_without_an_lm_only_load_the_checkpoint(tmp_path, served):
    raw = entry(served[0], tmp_path)
    del raw["files"]["lm"], raw["files"]["unigrams"], raw["decoder"]
    model = load_registry(write_registry(tmp_path, {"an4": raw}))["an4"]
    checkpoint = tmp_path / "model_best.pth"
    assert inference_overrides(model, {"checkpoint": checkpoint}) == [
        f"inferencer.from_pretrained={checkpoint}"
    ]


@pytest.mark.slow
def test_the_printed_command_decodes_with_the_downloaded_model_and_lm(tmp_path, served):
    registry = write_registry(tmp_path, {"an4": entry(served[0], tmp_path)})
    out = tmp_path / "models"
    script = [sys.executable, "scripts/download_model.py", "an4", f"--registry={registry}"]
    fetched = subprocess.run(
        [*script, f"--output_dir={out}"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert fetched.returncode == 0, fetched.stderr
    audio = tmp_path / "audio"
    audio.mkdir()
    for index in range(2):
        write_tone(audio / f"utt{index}.wav", 0.5 + 0.5 * index)
    command = fetched.stdout[fetched.stdout.index("python inference.py") :].replace("\\\n", " ")
    command = command.replace("AUDIO_DIR", str(audio)).replace("OUT_DIR", str(tmp_path / "out"))
    assert "inferencer.output_decoder=LM" in command
    decoded = subprocess.run(
        [sys.executable, *shlex.split(command)[1:]], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert decoded.returncode == 0, decoded.stderr[-3000:]
    predictions = sorted((tmp_path / "out" / "test").glob("*.txt"))
    assert [path.name for path in predictions] == ["utt0.txt", "utt1.txt"]
