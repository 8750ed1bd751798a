"""Writers in offline mode (no account, no network) and the shared base-class logic."""

from __future__ import annotations

import json
import struct
import sys
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from src.logger import BaseWriter
from src.logger.writer import MissingCredentialsError

LEAKY_ENV = [
    "WANDB_API_KEY",
    "WANDB_IDENTITY_TOKEN_FILE",
    "WANDB_MODE",
    "WANDB_DIR",
    "WANDB_PROJECT",
    "WANDB_ENTITY",
    "WANDB_RUN_ID",
    "WANDB_RESUME",
    "WANDB_BASE_URL",
    "WANDB_NAME",
    "COMET_API_KEY",
    "COMET_WORKSPACE",
    "COMET_PROJECT_NAME",
    "COMET_OFFLINE_DIRECTORY",
    "COMET_EXPERIMENT_KEY",
    "COMET_INI",
    "COMET_URL_OVERRIDE",
]


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No credentials or settings from the developer's machine; config files point to tmp."""
    for name in LEAKY_ENV:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("NETRC", str(home / ".netrc"))  # does not exist
    monkeypatch.setenv("COMET_CONFIG", str(home / ".comet.config"))  # does not exist
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(home / "wandb_config"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(home / "wandb_cache"))
    monkeypatch.setenv("WANDB_DATA_DIR", str(home / "wandb_data"))
    monkeypatch.chdir(tmp_path)  # comet also reads ./.env and ./.comet.config
    return tmp_path / "run"


CONFIG_DIR = Path(__file__).parents[2] / "configs" / "writer"
CONFIG = {"optimizer": {"lr": 3e-4}, "n_epochs": 2}
TABLE = [
    {"target": "hello world", "prediction": "hello word", "wer": 0.5},
    {"target": "yes", "prediction": "yes", "wer": 0.0},
]


def instantiate_writer(name: str, run_dir: Path, **overrides: Any) -> BaseWriter:
    """Build a writer from its config the way the trainer should.

    ``config`` cannot be passed as a keyword of ``hydra.utils.instantiate`` (it is the name of
    instantiate's own first parameter), hence ``_partial_=True`` and a second call.
    """
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(CONFIG_DIR / f"{name}.yaml")
    make_writer = instantiate(
        cfg, run_dir=str(run_dir), run_name="offline-test", _partial_=True, **overrides
    )
    return make_writer(config=CONFIG)


def log_a_bit(writer: BaseWriter) -> None:
    for step in (1, 2):
        writer.set_step(step, "train")
        writer.add_scalar("loss", 1.0 / step)
        writer.add_scalars({"grad_norm": torch.tensor(2.0), "lr": 3e-4})
        writer.add_spectrogram("spectrogram", torch.rand(40, 30))
        writer.add_audio("audio", 0.1 * torch.randn(1600), sample_rate=16000)
        writer.add_table("predictions", TABLE)
    writer.set_step(2, "val")
    writer.add_scalars({"loss": 0.7, "WER_(argmax)": 0.4})
    writer.finish()
    writer.finish()  # idempotent


# ----------------------------------------------------------------------------- base class
class RecordingWriter(BaseWriter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[str, int, Any]] = []

    def _log_scalars(self, values):
        self.calls.append(("scalars", self.step, values))

    def _log_image(self, name, image):
        self.calls.append(("image", self.step, (name, image)))

    def _log_audio(self, name, audio, sample_rate):
        self.calls.append(("audio", self.step, (name, audio, sample_rate)))

    def _log_table(self, name, columns, rows):
        self.calls.append(("table", self.step, (name, columns, rows)))

    def _finish(self):
        self.calls.append(("finish", self.step, None))


def make_recorder(tmp_path: Path) -> RecordingWriter:
    return RecordingWriter("proj", "run", tmp_path / "run", {"a": 1})


def test_set_step_logs_steps_per_sec(tmp_path, monkeypatch):
    import src.logger.writer as writer_module

    clock = iter([10.0, 12.0, 13.0, 20.0, 30.0, 30.5])
    monkeypatch.setattr(writer_module, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    writer = make_recorder(tmp_path)

    writer.set_step(0)  # t=10: starts the clock, nothing logged
    assert writer.calls == []
    writer.set_step(10)  # t=12: 10 steps in 2 s
    assert writer.calls == [("scalars", 10, {"train_steps_per_sec": 5.0})]
    writer.set_step(30)  # t=13: 20 steps in 1 s
    assert writer.calls[-1] == ("scalars", 30, {"train_steps_per_sec": 20.0})

    writer.set_step(30, "val")  # t=20: evaluation stops the clock
    writer.add_scalar("loss", 1.5)
    assert writer.calls[-1] == ("scalars", 30, {"val_loss": 1.5})
    writer.set_step(31)  # t=30: restarts the clock, eval time not counted
    assert writer.calls[-1] == ("scalars", 30, {"val_loss": 1.5})
    writer.set_step(32)  # t=30.5: 1 step in 0.5 s
    assert writer.calls[-1] == ("scalars", 32, {"train_steps_per_sec": 2.0})


def test_base_conversions(tmp_path):
    writer = make_recorder(tmp_path)
    writer.set_step(3, "test")
    writer.add_scalars({"wer": torch.tensor(0.25), "cer": np.float32(0.5)})
    assert writer.calls[-1] == ("scalars", 3, {"test_wer": 0.25, "test_cer": 0.5})

    writer.add_spectrogram("spec", torch.rand(1, 20, 50, dtype=torch.float64))
    kind, _, (name, image) = writer.calls[-1]
    assert (kind, name) == ("image", "test_spec")
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert image.shape[0] < image.shape[1] <= 1000  # small landscape figure

    writer.add_image("gray", np.zeros((4, 5), dtype=np.float32))
    assert writer.calls[-1][2][1].shape == (4, 5, 3)

    writer.add_audio("audio", torch.zeros(1, 8), sample_rate=8000)
    _, _, (name, audio, sr) = writer.calls[-1]
    assert name == "test_audio" and audio.shape == (8,) and audio.dtype == np.float32
    assert sr == 8000
    with pytest.raises(ValueError):
        writer.add_audio("audio", torch.zeros(2, 8), sample_rate=8000)

    writer.add_table("t", [{"a": 1, "b": torch.tensor(2.5)}, {"a": "x", "b": None}])
    assert writer.calls[-1] == ("table", 3, ("test_t", ["a", "b"], [[1, 2.5], ["x", None]]))
    with pytest.raises(ValueError):
        writer.add_table("t", [{"a": 1}, {"b": 2}])
    n_calls = len(writer.calls)
    writer.add_table("t", [])  # nothing to log
    assert len(writer.calls) == n_calls

    writer.finish()
    writer.finish()
    assert [c[0] for c in writer.calls].count("finish") == 1


def test_spectrogram_panels_share_one_image(tmp_path):
    writer = make_recorder(tmp_path)
    writer.add_spectrogram("one", torch.rand(20, 50))
    one = writer.calls[-1][2][1]
    panels = {"clean": torch.rand(20, 50), "augmented": torch.rand(1, 20, 45)}
    writer.add_spectrograms("before_after", panels)
    kind, _, (name, image) = writer.calls[-1]
    assert (kind, name) == ("image", "train_before_after")
    assert image.shape[1] == one.shape[1] and image.shape[0] > 1.5 * one.shape[0]
    with pytest.raises(ValueError, match=r"\(F, T\)"):
        writer.add_spectrograms("bad", {"clean": torch.rand(2, 20, 50)})


def test_bad_mode_rejected(tmp_path):
    with pytest.raises(ValueError, match="online"):
        RecordingWriter("proj", "run", tmp_path, {}, mode="disabled")


def test_importing_src_logger_is_lazy():
    import subprocess

    code = "import sys, src.logger; print(any(m in sys.modules for m in ('wandb', 'comet_ml')))"
    repo_root = Path(__file__).parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo_root
    ).stdout
    assert out.strip() == "False"


# ----------------------------------------------------------------------------- W&B
def read_wandb_records(path: Path) -> list[Any]:
    """Parse a ``.wandb`` file: a 7-byte header, then leveldb-log framed protobuf Records
    (32 KiB blocks; 7-byte chunk headers: crc32, uint16 length, type FULL/FIRST/MIDDLE/LAST)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    block, pos, records, pending = 32768, 7, [], b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # block trailer padding
            pos += block - pos % block
            continue
        _crc, length, chunk_type = struct.unpack("<IHB", data[pos : pos + 7])
        if pos + 7 + length > len(data):  # chunk still being written
            break
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if chunk_type in (1, 2):  # FULL, FIRST
            pending = chunk
        elif chunk_type in (3, 4):  # MIDDLE, LAST
            pending += chunk
        else:
            continue
        if chunk_type in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
    return records


def test_wandb_offline(clean_env):
    from src.logger.wandb import WandBWriter

    writer = instantiate_writer("wandb", clean_env)
    assert isinstance(writer, WandBWriter)
    log_a_bit(writer)

    run_dirs = list((clean_env / "wandb").glob("offline-run-*"))
    assert len(run_dirs) == 1
    wandb_files = list(run_dirs[0].glob("*.wandb"))
    assert len(wandb_files) == 1

    # wandb-core flushes the transaction log asynchronously: finish() can return a few ms
    # before the last records (up to the final "exit" record) reach the file.
    deadline = time.monotonic() + 10.0
    records = read_wandb_records(wandb_files[0])
    while not (records and records[-1].WhichOneof("record_type") == "exit"):
        assert time.monotonic() < deadline, "offline .wandb file never got its exit record"
        time.sleep(0.02)
        records = read_wandb_records(wandb_files[0])

    history: dict[int, set[str]] = {}
    config_keys: set[str] = set()
    for record in records:
        kind = record.WhichOneof("record_type")
        if kind == "history":
            items = {i.key or "/".join(i.nested_key): i.value_json for i in record.history.item}
            history.setdefault(int(items["_step"]), set()).update(items)
        elif kind == "run":  # the initial config travels with the run record
            config_keys.update(i.key for i in record.run.config.update)
        elif kind == "config":
            config_keys.update(i.key for i in record.config.update)
    assert {"optimizer", "n_epochs"} <= config_keys
    assert {1, 2} <= set(history)
    for step in (1, 2):
        keys = history[step]
        assert {"train_loss", "train_grad_norm", "train_lr"} <= keys
        for media in ("train_spectrogram", "train_audio", "train_predictions"):
            assert any(k.startswith(media + "/") for k in keys), (media, sorted(keys))
    assert "train_steps_per_sec" in history[2]
    assert {"val_loss", "val_WER_(argmax)"} <= history[2]

    media = run_dirs[0] / "files" / "media"
    assert list(media.glob("audio/train_audio_*.wav"))
    assert list(media.glob("images/train_spectrogram_*.png"))
    assert list(media.glob("table/train_predictions_*.table.json"))


def test_wandb_online_without_key_fails_fast(clean_env, monkeypatch):
    import wandb

    def no_network(*args, **kwargs):
        raise AssertionError("wandb.init must not be reached without credentials")

    monkeypatch.setattr(wandb, "init", no_network)
    from src.logger.wandb import WandBWriter

    with pytest.raises(MissingCredentialsError, match=r"WANDB_API_KEY.*writer\.mode=offline"):
        WandBWriter("ctc_asr", "x", clean_env, CONFIG, mode="online")
    with pytest.raises(Exception, match=r"WANDB_API_KEY"):  # wrapped by Hydra, still readable
        instantiate_writer("wandb", clean_env, mode="online")


def test_wandb_credentials_detection(clean_env, monkeypatch):
    from src.logger.wandb import has_wandb_credentials

    assert not has_wandb_credentials()
    netrc_file = Path(clean_env.parent / "home" / ".netrc")
    netrc_file.write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    netrc_file.chmod(0o600)
    assert has_wandb_credentials()
    netrc_file.unlink()
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    assert has_wandb_credentials()


# ----------------------------------------------------------------------------- Comet
def test_cometml_offline(clean_env):
    from src.logger.cometml import CometMLWriter

    writer = instantiate_writer("cometml", clean_env)
    assert isinstance(writer, CometMLWriter)
    log_a_bit(writer)

    archives = list((clean_env / "comet").glob("*.zip"))
    assert len(archives) == 1
    with zipfile.ZipFile(archives[0]) as archive:
        messages = [
            json.loads(line)
            for line in archive.read("messages.json").decode().splitlines()
            if line.strip()
        ]
        experiment = json.loads(archive.read("experiment.json"))
        assert experiment["project_name"] == "ctc_asr"

        metrics = {
            (m["payload"]["metric"]["metricName"], m["payload"]["metric"]["step"])
            for m in messages
            if m["type"] == "metric_msg"
        }
        for step in (1, 2):
            assert {("train_loss", step), ("train_grad_norm", step), ("train_lr", step)} <= metrics
        assert {("train_steps_per_sec", 2), ("val_loss", 2), ("val_WER_(argmax)", 2)} <= metrics

        params = {
            m["payload"]["param"]["paramName"] for m in messages if m["type"] == "parameter_msg"
        }
        assert {"optimizer|lr", "n_epochs"} <= params
        others = {
            m["payload"]["key"]: m["payload"]["value"] for m in messages if m["type"] == "log_other"
        }
        assert others.get("Name") == "offline-test"

        uploads = [m["payload"] for m in messages if m["type"] == "file_upload"]
        by_type: dict[str, list[dict]] = {}
        for upload in uploads:
            by_type.setdefault(upload["upload_type"], []).append(upload)
        assert len(by_type["audio"]) == 2
        assert len(by_type["visualization"]) == 2  # spectrogram images
        tables = [
            u for u in by_type["asset"] if u["additional_params"]["fileName"].endswith(".csv")
        ]
        assert {t["additional_params"]["fileName"] for t in tables} == {
            "train_predictions_step1.csv",
            "train_predictions_step2.csv",
        }
        csv_text = archive.read(tables[0]["file_path"]).decode()
        assert csv_text.splitlines()[0] == "target,prediction,wer"
        wav = archive.read(by_type["audio"][0]["file_path"])
        assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"


def test_cometml_online_without_key_fails_fast(clean_env, monkeypatch):
    import comet_ml

    def no_network(*args, **kwargs):
        raise AssertionError("comet_ml.Experiment must not be created without credentials")

    monkeypatch.setattr(comet_ml, "Experiment", no_network)
    monkeypatch.setattr(comet_ml, "ExistingExperiment", no_network)
    from src.logger.cometml import CometMLWriter

    with pytest.raises(MissingCredentialsError, match=r"COMET_API_KEY.*writer\.mode=offline"):
        CometMLWriter("ctc_asr", "x", clean_env, CONFIG, mode="online")
    with pytest.raises(Exception, match=r"COMET_API_KEY"):  # wrapped by Hydra, still readable
        instantiate_writer("cometml", clean_env, mode="online")


# ----------------------------------------------------------------------------- configs
@pytest.mark.parametrize(
    ("name", "target"),
    [("wandb", "src.logger.wandb.WandBWriter"), ("cometml", "src.logger.cometml.CometMLWriter")],
)
def test_writer_configs(name, target):
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(CONFIG_DIR / f"{name}.yaml")
    assert cfg._target_ == target
    assert cfg.mode == "offline"
    assert cfg.project_name == "ctc_asr"
    assert cfg.run_name is None
