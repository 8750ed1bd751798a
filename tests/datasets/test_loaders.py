"""DataLoaders from the configs: batching choices, worker seeding, what reaches which partition."""

import json
import random

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from src.datasets import loaders as loaders_module
from src.datasets.loaders import BatchStream, LoaderConfig, build_dataloaders, resolve_auto
from src.datasets.samplers import BucketBatchSampler, DynamicBatchSampler, ShuffledBatchSampler
from src.model import DeepSpeech2
from src.text_encoder import CTCCharTextEncoder
from src.trainer.setup import after_augmentation, model_output_length
from src.transforms import LogMelSpectrogram
from src.transforms.wave_augs import AdditiveNoise, SpeedPerturbation
from src.utils.audio import AudioReadError
from tests.conftest import compose_config, write_tone

ENCODER = CTCCharTextEncoder()


def cpu_config(*overrides: str):
    return compose_config("deepspeech2_cpu", *overrides)


@pytest.fixture
def manifest(tmp_path):
    """Twelve tones of 0.2-1.3 s with short transcripts, plus the manifest describing them."""
    lines = []
    for index in range(12):
        seconds = 0.2 + 0.1 * index
        write_tone(tmp_path / f"{index}.wav", seconds)
        lines.append({"path": f"{index}.wav", "duration": seconds, "text": "a b", "id": str(index)})
    path = tmp_path / "all.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def manifest_config(manifest, *overrides: str):
    return cpu_config(
        "datasets=manifest",
        f"datasets.train.manifest_path={manifest}",
        f"datasets.val.manifest_path={manifest}",
        "dataloader.batch_size=4",
        *overrides,
    )


@pytest.mark.parametrize(
    ("overrides", "sampler_type"),
    [
        (["dataloader=random"], ShuffledBatchSampler),
        (["dataloader=bucketed"], BucketBatchSampler),
        (
            ["dataloader=dynamic", "dataloader.train_batch_sampler.max_batch_seconds=3.2"],
            DynamicBatchSampler,
        ),
    ],
)
def test_each_batching_choice_serves_every_training_utterance(manifest, overrides, sampler_type):
    cfg = manifest_config(manifest, *overrides)
    loaders = build_dataloaders(
        cfg.datasets, cfg.dataloader, ENCODER, ["train", "val"], train_partition="train"
    )
    train, val = loaders["train"], loaders["val"]
    assert isinstance(train.batch_sampler, sampler_type)
    batches = list(train)
    assert sorted(int(i) for batch in batches for i in batch["id"]) == list(range(12))
    sizes = [len(batch["id"]) for batch in batches]
    if sampler_type is DynamicBatchSampler:
        padded = [len(b["id"]) * b["audio_length"].max().item() / 16000 for b in batches]
        assert max(padded) <= 3.2 and max(sizes) > 4  # the short tones share a larger batch
    else:
        assert sizes == [4, 4, 4]
    assert [batch["id"] for batch in val] == [[str(i) for i in range(s, s + 4)] for s in (0, 4, 8)]


def test_sharded_loaders_split_train_batches_and_eval_utterances_across_ranks(manifest):
    """Two ranks: two training batches each of the three, disjoint; every validation utterance
    on exactly one rank, each rank's share still shortest first."""
    cfg = manifest_config(manifest, "dataloader=random", "dataloader.batch_size=3")
    ranks = [
        build_dataloaders(
            cfg.datasets,
            cfg.dataloader,
            ENCODER,
            ["train", "val"],
            train_partition="train",
            rank=rank,
            world_size=2,
        )
        for rank in range(2)
    ]
    train = [[int(i) for batch in loaders["train"] for i in batch["id"]] for loaders in ranks]
    assert [len(ids) for ids in train] == [6, 6] and not set(train[0]) & set(train[1])
    val = [[int(i) for batch in loaders["val"] for i in batch["id"]] for loaders in ranks]
    assert val == [list(range(0, 12, 2)), list(range(1, 12, 2))]


class RandomDraws(torch.utils.data.Dataset):
    """Each item's `audio` holds one draw from `random`, numpy and torch of the process that
    loads it."""

    def __init__(self, text_encoder, skip_bad_audio, wave_augs, output_length) -> None:
        self.n_items = 8

    def __len__(self) -> int:
        return self.n_items

    def durations(self) -> list[float]:
        return [1.0] * self.n_items

    def __getitem__(self, key) -> dict:
        draws = torch.tensor([random.random(), np.random.rand(), torch.rand(()).item()])
        empty = torch.zeros(0, dtype=torch.long)
        return {
            "id": str(key.index),
            "audio_path": "",
            "audio": draws,
            "audio_length": 3,
            "text": "",
            "text_encoded": empty,
        }


def draws_of_workers(seed: int) -> list[tuple[list[str], torch.Tensor]]:
    datasets = OmegaConf.create({"train": {"_target_": "tests.datasets.test_loaders.RandomDraws"}})
    loader_config = OmegaConf.create(
        {"batch_size": 2, "num_workers": 2, "persistent_workers": False, "prefetch_factor": 2}
    )
    loaders = build_dataloaders(
        datasets, loader_config, ENCODER, ["train"], train_partition="train", seed=seed
    )
    (loader,) = loaders.values()
    return [(batch["id"], batch["audio"]) for batch in loader]


def test_worker_processes_are_seeded_from_the_run_seed():
    first, again, other = draws_of_workers(1), draws_of_workers(1), draws_of_workers(2)
    for (ids, draws), (ids_again, draws_again) in zip(first, again, strict=True):
        assert ids == ids_again and torch.equal(draws, draws_again)
    assert not all(torch.equal(a[1], b[1]) for a, b in zip(first, other, strict=True))
    assert not torch.equal(first[0][1][0], first[1][1][0])  # two workers, two streams


def augmented_stream(manifest, num_workers: int, seed: int = 1) -> BatchStream:
    cfg = manifest_config(
        manifest, f"dataloader.num_workers={num_workers}", "dataloader.persistent_workers=true"
    )
    augmentations = [SpeedPerturbation(), AdditiveNoise()]
    (train,) = build_dataloaders(
        cfg.datasets,
        cfg.dataloader,
        ENCODER,
        ["train"],
        train_partition="train",
        wave_augs={"train": augmentations},
        seed=seed,
    ).values()
    return BatchStream(train)


def take(stream: BatchStream, count: int) -> list[tuple[list[str], torch.Tensor]]:
    return [(batch["id"], batch["audio"]) for batch in (next(stream) for _ in range(count))]


def same(first, second) -> bool:
    return all(
        ids == other_ids and torch.equal(audio, other_audio)
        for (ids, audio), (other_ids, other_audio) in zip(first, second, strict=True)
    )


def test_augmented_batches_depend_on_seed_pass_and_index_only(manifest):
    """Two passes of 3 batches and one more: the same audio whatever the number of worker
    processes, a new augmentation every pass, other audio under another seed. (Workers run
    one torch thread: so does the main process here, for bit-equal resampling.)"""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        in_process = take(augmented_stream(manifest, num_workers=0), 7)
    finally:
        torch.set_num_threads(threads)
    assert same(take(augmented_stream(manifest, num_workers=2), 7), in_process)
    assert not same(take(augmented_stream(manifest, 0, seed=2), 7), in_process)
    first_pass = {ids[0]: audio for ids, audio in in_process[:3]}
    second_pass = {ids[0]: audio for ids, audio in in_process[3:6]}
    assert all(not torch.equal(first_pass[key], second_pass[key]) for key in first_pass)


def test_a_resumed_stream_continues_with_the_next_unseen_batch(manifest):
    """Workers prefetch ahead of training; the state counts what training consumed."""
    stream = augmented_stream(manifest, num_workers=2)
    reference = take(stream, 8)
    interrupted = augmented_stream(manifest, num_workers=2)
    take(interrupted, 4)
    state = interrupted.state_dict()
    assert state == {"pass": 1, "position": 1}
    resumed = augmented_stream(manifest, num_workers=2)
    resumed.load_state_dict(state)
    assert same(take(resumed, 4), reference[4:])


def test_the_ctc_filter_applies_to_train_only(tmp_path):
    write_tone(tmp_path / "tone.wav", 0.3)
    lines = [
        {"path": "tone.wav", "duration": 0.3, "text": "yes", "id": "fits"},
        {"path": "tone.wav", "duration": 0.3, "text": "a very long sentence indeed", "id": "long"},
    ]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    cfg = manifest_config(manifest)
    features = LogMelSpectrogram(n_mels=32)
    model = DeepSpeech2(32, len(ENCODER), conv_strides=[[2, 3], [2, 1]], rnn_hidden=16)
    loaders = build_dataloaders(
        cfg.datasets,
        cfg.dataloader,
        ENCODER,
        ["train", "val"],
        train_partition="train",
        output_length=model_output_length(model, features),
    )
    assert [entry["id"] for entry in loaders["train"].dataset._index] == ["fits"]
    assert len(loaders["val"].dataset) == 2


def test_bad_audio_is_skipped_in_training_runs_and_an_error_at_inference(manifest):
    (manifest.parent / "3.wav").write_bytes(b"not audio")
    cfg = manifest_config(manifest, "dataloader=random")
    training = build_dataloaders(
        cfg.datasets,
        cfg.dataloader,
        ENCODER,
        ["train", "val"],
        train_partition="train",
        skip_bad_audio=True,
    )
    for loader in training.values():
        batches = list(loader)
        assert [skip["id"] for batch in batches for skip in batch["skipped"]] == ["3"]
    (inference,) = build_dataloaders(cfg.datasets, cfg.dataloader, ENCODER, ["val"]).values()
    with pytest.raises(AudioReadError, match="3.wav"):
        list(inference)


@pytest.mark.parametrize(
    ("overrides", "sizes"),
    [
        (["datasets=fsdd", "datasets.train.root={shared}/fsdd"], [2250, 450, 300]),
        (
            [
                "datasets=ljspeech",
                "datasets.train.data_dir={shared}/ljspeech_samples",
                "datasets.train.val_percent=20",
                "datasets.train.test_percent=20",
            ],
            [18, 6, 8],
        ),
    ],
)
def test_corpus_configs_load_the_shared_speech_at_16k(shared_data, overrides, sizes):
    cfg = cpu_config(*(item.format(shared=shared_data) for item in overrides))
    loaders = build_dataloaders(cfg.datasets, cfg.dataloader, ENCODER, ["train", "val", "test"])
    assert [len(loader.dataset) for loader in loaders.values()] == sizes
    speakers = {
        part: {e["speaker"] for e in loader.dataset._index} for part, loader in loaders.items()
    }
    if "datasets=fsdd" in overrides:
        assert speakers["val"] == {"theo"} and "theo" not in speakers["train"]
    dataset = loaders["val"].dataset
    item = dataset[0]
    assert item["audio_length"] / 16000 == pytest.approx(dataset.durations()[0], abs=0.01)
    assert item["text"] and item["audio"].abs().max() > 0.01  # not silence


def test_the_ctc_filter_allows_for_the_fastest_speed_perturbation(tmp_path):
    """A label that fits the clip as recorded but not at 1.1x speed is dropped when speed
    perturbation may play it that fast (CTC would be infinite, and zeroed, on such a draw)."""
    features = LogMelSpectrogram(n_mels=32)
    model = DeepSpeech2(32, len(ENCODER), conv_strides=[[2, 3], [2, 1]], rnn_hidden=16)
    output_length = model_output_length(model, features)
    n_samples = 8000
    full, fastest = output_length(torch.tensor([n_samples, n_samples * 16000 // 17600])).tolist()
    assert fastest < full
    text = ("abcdefghijklmnopqrstuvwxyz" * 4)[:full]  # no repeats: needs exactly `full` frames
    write_tone(tmp_path / "tone.wav", n_samples / 16000)
    line = {"path": "tone.wav", "duration": n_samples / 16000, "text": text, "id": "edge"}
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps(line) + "\n")
    cfg = manifest_config(manifest)

    def kept(wave_augs: list) -> int:
        try:
            train = build_dataloaders(
                cfg.datasets,
                cfg.dataloader,
                ENCODER,
                ["train"],
                train_partition="train",
                wave_augs={"train": wave_augs},
                output_length=after_augmentation(output_length, wave_augs),
            )
        except ValueError:  # "partition 'train' has no utterances"
            return 0
        return len(train["train"].dataset)

    assert kept([]) == 1
    assert kept([SpeedPerturbation(min_factor=0.9, max_factor=1.1)]) == 0
    assert kept([SpeedPerturbation(min_factor=0.9, max_factor=1.0)]) == 1


@pytest.mark.parametrize(
    ("device", "cores", "processes", "workers", "pinned"),
    [
        ("cpu", 16, 1, 0, False),
        ("cuda", 16, 1, 8, True),
        ("cuda", 16, 4, 3, True),
        ("cuda", 1, 1, 0, True),
    ],
)
def test_auto_loader_settings_follow_the_device_and_cores(
    monkeypatch, device, cores, processes, workers, pinned
):
    monkeypatch.setattr(loaders_module, "usable_cores", lambda: cores)
    config = OmegaConf.structured(LoaderConfig)
    resolved = resolve_auto(config, device, processes)
    assert (resolved.num_workers, resolved.pin_memory) == (workers, pinned)
    config.num_workers, config.pin_memory = 3, False  # explicit choices are kept
    assert (resolve_auto(config, "cuda").num_workers, resolve_auto(config, "cuda").pin_memory) == (
        3,
        False,
    )
    config.num_workers = "many"
    with pytest.raises(ValueError, match="num_workers must be int or 'auto'"):
        resolve_auto(config, "cuda")
