"""The tests every CTC model passes, run on each config of configs/model/ at a tiny size.

Output lengths match the real outputs; padding does not change an utterance's outputs (in
evaluation, alone vs in a batch; in training, the same batch with more padding, which also
leaves the batch-norm running statistics alone); a single batch overfits; a checkpoint comes
back through `load_trained_model` and through `inference.py` with the same outputs.
"""

import copy
import json
import subprocess
import sys

import pytest
import torch
from omegaconf import OmegaConf

from src.decoding import ArgmaxDecoder
from src.model import MODEL_TARGETS, build_model
from src.text_encoder import CTCCharTextEncoder
from src.trainer.restore import load_trained_model
from src.utils.audio import load_audio
from tests.conftest import REPO_ROOT, write_tone
from tests.tiny_model import TINY_SIZES, save_tiny_checkpoint, tiny_model_overrides, tiny_spec

N_FEATS = 64
ENCODER = CTCCharTextEncoder()
MODEL_CONFIGS = sorted(path.stem for path in (REPO_ROOT / "configs" / "model").glob("*.yaml"))
# Variants of the configs with other strides, kernels and options.
VARIANTS = {
    "deepspeech2_strides_2x3_1x2": ("deepspeech2", {"conv_strides": [[2, 3], [1, 2]]}),
    "deepspeech2_stride_1_even_kernels": (
        "deepspeech2_small",
        {"conv_strides": [[1, 1], [1, 1]], "conv_kernels": [[5, 4], [3, 2]]},
    ),
    "conformer_ctc_convolution_first": ("conformer_ctc_small", {"convolution_first": True}),
    "quartznet_stride_3_10x5": ("quartznet5x5_small", {"stride": 3, "block_repeats": 2}),
}
# One config per class for the subprocess round trip through inference.py.
ROUND_TRIP = ["baseline", "deepspeech2_small", "conformer_ctc_small", "quartznet5x5_small"]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models gain nothing from threads, and on a busy 2-core machine two threads stall at
    OpenMP barriers (a tiny QuartzNet step took 40x longer than with one)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def model_spec(name: str) -> dict:
    config, changes = VARIANTS.get(name, (name, {}))
    spec = OmegaConf.to_container(
        OmegaConf.load(REPO_ROOT / "configs" / "model" / f"{config}.yaml")
    )
    return tiny_spec({**spec, **changes})


def tiny_model(name: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(model_spec(name), N_FEATS, len(ENCODER))


def class_name(name: str) -> str:
    return model_spec(name)["_target_"].rsplit(".", 1)[-1]


ALL_MODELS = MODEL_CONFIGS + sorted(VARIANTS)


def test_every_model_class_has_a_config_a_tiny_size_and_a_round_trip():
    classes = {cls.__name__ for cls in MODEL_TARGETS.values()}
    assert classes == {class_name(name) for name in MODEL_CONFIGS}
    assert classes == set(TINY_SIZES) == {class_name(name) for name in ROUND_TRIP}


@pytest.mark.parametrize("name", ALL_MODELS)
def test_output_lengths_match_real_outputs(name):
    model = tiny_model(name).eval()
    with torch.no_grad():
        for length in [1, 2, 3, 4, 5, 7, 8, 9, 16, 50, 101, 333]:
            output = model(torch.randn(1, N_FEATS, length), torch.tensor([length]))
            assert output["log_probs"].shape[1] == int(output["log_probs_length"][0]), length
        lengths = torch.tensor([333, 101, 9, 1])
        output = model(torch.randn(4, N_FEATS, 333), lengths)
        assert output["log_probs_length"].tolist() == model.output_lengths(lengths).tolist()
        assert output["log_probs"].shape[1] == int(model.output_lengths(lengths).max())


def padded(utterances: list[torch.Tensor], length: int) -> torch.Tensor:
    return torch.cat([torch.nn.functional.pad(u, (0, length - u.shape[-1])) for u in utterances])


@pytest.mark.parametrize("name", ALL_MODELS)
def test_padding_does_not_change_outputs_in_eval_mode(name):
    model = tiny_model(name).eval()
    short, long = torch.randn(1, N_FEATS, 37), torch.randn(1, N_FEATS, 80)
    with torch.no_grad():
        batch = model(padded([short, long], 80), torch.tensor([37, 80]))
        alone = model(short, torch.tensor([37]))
    valid = int(alone["log_probs_length"][0])
    assert int(batch["log_probs_length"][0]) == valid
    torch.testing.assert_close(
        batch["log_probs"][0, :valid], alone["log_probs"][0], atol=1e-4, rtol=1e-4
    )


@pytest.mark.parametrize("name", ALL_MODELS)
def test_padding_does_not_change_outputs_in_train_mode(name):
    model = tiny_model(name).train()
    twin = copy.deepcopy(model)
    utterances = [torch.randn(1, N_FEATS, 37), torch.randn(1, N_FEATS, 80)]
    lengths = torch.tensor([37, 80])
    tight = model(padded(utterances, 80), lengths)
    loose = twin(padded(utterances, 131), lengths)  # the same batch with 51 more padding frames
    for index, valid in enumerate(tight["log_probs_length"].tolist()):
        torch.testing.assert_close(
            loose["log_probs"][index, :valid],
            tight["log_probs"][index, :valid],
            atol=1e-4,
            rtol=1e-4,
        )
    twin_state = twin.state_dict()
    for key, buffer in model.state_dict().items():
        torch.testing.assert_close(twin_state[key], buffer, msg=f"running statistic {key}")


@pytest.mark.parametrize("name", MODEL_CONFIGS)
def test_log_probs_are_fp32_under_bf16_autocast(name):
    model = tiny_model(name)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = model(torch.randn(2, N_FEATS, 40), torch.tensor([40, 25]))
    assert output["log_probs"].dtype == torch.float32


def greedy(model: torch.nn.Module, features: torch.Tensor, lengths: torch.Tensor) -> list[str]:
    model.eval()
    with torch.no_grad():
        output = model(features, lengths)
    model.train()
    return ArgmaxDecoder(ENCODER).decode(output["log_probs"], output["log_probs_length"])


@pytest.mark.parametrize("name", MODEL_CONFIGS)
def test_a_single_batch_overfits(name):
    """Two utterances of noise features learn their transcripts: greedy decoding in eval mode
    spells them exactly within 400 steps (checked every 10)."""
    torch.manual_seed(1)
    texts = ["hello", "abc cab"]
    features = padded([torch.randn(1, N_FEATS, 64), torch.randn(1, N_FEATS, 56)], 64)
    lengths = torch.tensor([64, 56])
    targets = torch.nn.utils.rnn.pad_sequence(
        [ENCODER.encode(text) for text in texts], batch_first=True
    )
    target_lengths = torch.tensor([len(text) for text in texts])
    model = tiny_model(name).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    decoded = []
    for step in range(1, 401):
        output = model(features, lengths)
        loss = torch.nn.functional.ctc_loss(
            output["log_probs"].transpose(0, 1), targets, output["log_probs_length"], target_lengths
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 10 == 0 and (decoded := greedy(model, features, lengths)) == texts:
            break
    assert decoded == texts, f"after {step} steps: loss {loss.item():.3f}"


@pytest.mark.parametrize("name", MODEL_CONFIGS)
def test_a_checkpoint_restores_the_same_model(name, tmp_path):
    path = save_tiny_checkpoint(tmp_path / "model.pth", tiny_model_overrides(name))
    trained = load_trained_model(path)
    assert type(trained.model).__name__ == class_name(name)
    state = torch.load(path, weights_only=True)["model"]
    restored = trained.model.state_dict()
    assert state.keys() == restored.keys()
    assert all(torch.equal(state[key], restored[key]) for key in state)


@pytest.mark.slow
@pytest.mark.parametrize("name", ROUND_TRIP)
def test_a_checkpoint_round_trips_through_inference_py(name, tmp_path):
    path = save_tiny_checkpoint(tmp_path / "model.pth", tiny_model_overrides(name))
    audio = tmp_path / "audio"
    audio.mkdir()
    for index, seconds in enumerate([0.7, 1.3, 0.4]):
        write_tone(audio / f"u{index}.wav", seconds, frequency=300.0 + 200 * index)
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "inference.py",
            f"inferencer.from_pretrained={path}",
            "datasets=custom_dir",
            f"datasets.test.audio_dir={audio}",
            f"inferencer.save_path={out}",
            "inferencer.num_threads=1",
            "inferencer.amp=off",  # fp32, as below (auto is bf16 on CPUs that have it)
            "dataloader.batch_size=1",  # features of a padded batch differ at the ends (STFT)
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    records = {
        record["id"]: record["decoders"]["Argmax"]
        for record in map(json.loads, (out / "test" / "predictions.jsonl").open())
    }
    trained = load_trained_model(path)  # the same model, decoded one utterance at a time
    for wav in sorted(audio.iterdir()):
        samples = load_audio(wav, trained.features.sample_rate).unsqueeze(0)
        with torch.no_grad():
            batch = trained.features(samples, torch.tensor([samples.shape[1]]))
            log_probs = trained.model(**batch)["log_probs"][0]
        [expected] = ArgmaxDecoder(trained.text_encoder).decode_utterances([log_probs.numpy()])
        assert (out / "test" / f"{wav.stem}.txt").read_text().strip() == expected.text
        assert records[wav.stem]["text"] == expected.text
        assert records[wav.stem]["logit_score"] == pytest.approx(expected.logit_score, abs=1e-3)
