"""N-gram LMs from training transcripts with the real lmplz and build_binary; held-out text
(dev/test files, splits and speakers) never reaches them."""

import json
from pathlib import Path

import kenlm
import pytest

from src.lm.build import (
    LMBuildError,
    build_lm,
    main,
    manifest_transcripts,
    names_held_out_text,
    text_file_lines,
)
from src.text_encoder import normalize_text

REPO_ROOT = Path(__file__).resolve().parents[2]
AN4_DEV_SPLIT = REPO_ROOT / "configs" / "datasets" / "an4_dev_split.yaml"
AN4_DEV_SPEAKERS = ["fclc", "fmjd", "mblw", "mcfl", "mjda", "mmap", "msjr", "mtcv"]

TRANSCRIPTS = [
    "The cat sat on the mat.",
    "the cat sat on the hat",
    "A DOG sat on the mat",
    "the dog ran to the cat",
    "don't let the dog near the mat",
    "the cat ran",
]


def write_manifest(path: Path, records: list[dict]) -> Path:
    lines = [json.dumps({"path": f"{i}.flac", "duration": 1.0, **r}) for i, r in enumerate(records)]
    path.write_text("\n".join(lines) + "\n")
    return path


def arpa_unigrams(arpa: Path) -> set[str]:
    lines = arpa.read_text().split("\\1-grams:\n")[1].split("\n\n")[0].splitlines()
    return {line.split("\t")[1] for line in lines}


@pytest.mark.parametrize(
    ("name", "held_out"),
    [
        ("train", False),
        ("manifest", False),
        ("train-clean-100", False),
        ("attest", False),
        ("test", True),
        ("dev-clean", True),
        ("an4_val", True),
        ("validation", True),
        ("test_other", True),
        ("EVAL", True),
    ],
)
def test_names_of_held_out_text(name, held_out):
    assert names_held_out_text(name) is held_out


def test_an_lm_from_transcripts_prefers_seen_sentences(kenlm_tools, tmp_path):
    model = build_lm(TRANSCRIPTS, tmp_path / "lm", "tiny", order=3)

    assert model.arpa == tmp_path / "lm" / "tiny_3gram.arpa"
    assert model.binary == tmp_path / "lm" / "tiny_3gram.bin"
    assert model.unigrams == tmp_path / "lm" / "tiny_3gram_unigrams.txt"
    corpus = model.corpus.read_text().splitlines()
    assert corpus == [normalize_text(text) for text in TRANSCRIPTS]
    assert corpus[0] == "the cat sat on the mat" and "don't" in corpus[4]
    words = model.unigrams.read_text().split()
    assert words == sorted({word for line in corpus for word in line.split()})
    assert arpa_unigrams(model.arpa) == {*words, "<s>", "</s>", "<unk>"}
    assert (model.n_sentences, model.n_words) == (6, 34)

    for path in (model.arpa, model.binary):
        lm = kenlm.Model(str(path))
        assert lm.order == 3
        seen = lm.score("the cat sat on the mat")
        assert seen > lm.score("mat the on sat cat the")  # the same words as a salad
        assert seen > lm.score("quantum zebras juggle my bicycle now")  # unseen words


def test_a_character_lm_spells_the_sentences(kenlm_tools, tmp_path):
    model = build_lm(TRANSCRIPTS, tmp_path, "tiny", order=4, units="chars")
    assert model.arpa == tmp_path / "tiny_chars_4gram.arpa"
    corpus = model.corpus.read_text().splitlines()
    assert corpus[0] == "t h e | c a t | s a t | o n | t h e | m a t"
    assert "d o n ' t" in corpus[4]
    assert arpa_unigrams(model.arpa) == {*"thecasonmdgrl'|", "<s>", "</s>", "<unk>"}
    lm = kenlm.Model(str(model.binary))
    assert lm.score("t h e | c a t") > lm.score("t h a | c e t")  # spellings it has seen
    with pytest.raises(ValueError, match="units"):
        build_lm(TRANSCRIPTS, tmp_path, "tiny", units="phones")


def test_pruning_drops_rare_trigrams(kenlm_tools, tmp_path):
    full = build_lm(TRANSCRIPTS, tmp_path, "full")
    pruned = build_lm(TRANSCRIPTS, tmp_path, "pruned", prune=[0, 0, 1])
    trigrams = {
        lm: int(lm.arpa.read_text().split("ngram 3=")[1].split()[0]) for lm in (full, pruned)
    }
    assert 0 < trigrams[pruned] < trigrams[full]
    assert kenlm.Model(str(pruned.binary)).order == 3


def test_the_excluded_speakers_never_reach_the_lm(kenlm_tools, tmp_path):
    manifest = write_manifest(
        tmp_path / "train.jsonl",
        [{"text": text, "speaker": ["alice", "bob"][i % 2]} for i, text in enumerate(TRANSCRIPTS)]
        + [{"text": "zebras eat quinoa", "speaker": "carol"}],
    )
    lm_dir = tmp_path / "lm"
    main(f"--manifest {manifest} --exclude-speakers carol --name x --out-dir {lm_dir}".split())
    assert (lm_dir / "x_3gram_corpus.txt").read_text().splitlines() == [
        normalize_text(text) for text in TRANSCRIPTS
    ]
    for output in ("x_3gram.arpa", "x_3gram_unigrams.txt", "x_3gram_corpus.txt"):
        assert "zebras" not in (lm_dir / output).read_text()
    scores = kenlm.Model(str(lm_dir / "x_3gram.bin")).full_scores("zebras eat quinoa", eos=False)
    assert [out_of_vocabulary for _, _, out_of_vocabulary in scores] == [True, True, True]


def test_only_the_chosen_speakers_are_kept(tmp_path):
    manifest = write_manifest(
        tmp_path / "manifest.jsonl",
        [{"text": "one", "speaker": 1}, {"text": "two", "speaker": 2}],  # speaker ids as ints
    )
    assert manifest_transcripts(manifest, speakers=["2"]) == ["two"]
    with pytest.raises(
        LMBuildError, match=r"manifest.jsonl: speakers not in the manifest: \['9'\]"
    ):
        manifest_transcripts(manifest, exclude_speakers=["9"])


def test_lines_of_held_out_splits_are_left_out(tmp_path):
    manifest = write_manifest(
        tmp_path / "manifest.jsonl",
        [
            {"text": "kept", "split": "train"},
            {"text": "no split field"},
            {"text": "dropped", "split": "test"},
            {"text": "dropped", "subset": "dev-clean"},
        ],
    )
    assert manifest_transcripts(manifest) == ["kept", "no split field"]


def test_an_excluded_speaker_with_only_held_out_lines_is_known(tmp_path):
    manifest = write_manifest(
        tmp_path / "manifest.jsonl",
        [
            {"text": "kept", "speaker": "s1", "split": "train"},
            {"text": "never", "speaker": "s2", "split": "test"},
        ],
    )
    assert manifest_transcripts(manifest, exclude_speakers=["s2"]) == ["kept"]


@pytest.mark.parametrize("name", ["test.jsonl", "dev-clean.jsonl", "val.jsonl", "an4_test.txt"])
def test_held_out_files_are_refused(tmp_path, name, capsys):
    path = tmp_path / name
    path.write_text(json.dumps({"path": "a.flac", "duration": 1, "text": "a"}) + "\n")
    read = text_file_lines if name.endswith(".txt") else manifest_transcripts
    with pytest.raises(LMBuildError, match=f"{name}: its name marks held-out"):
        read(path)
    option = "--text" if name.endswith(".txt") else "--manifest"
    with pytest.raises(SystemExit, match="its name marks held-out"):
        main([option, str(path), "--name", "leak", "--out-dir", str(tmp_path / "lm")])
    assert not (tmp_path / "lm").exists()


def test_the_an4_lm_is_built_without_the_dev_speakers(shared_data, kenlm_tools, tmp_path):
    manifest = shared_data / "an4" / "manifest.jsonl"
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    options = f"--exclude-speakers-from {AN4_DEV_SPLIT} --name an4 --out-dir {tmp_path}"
    main(["--manifest", str(manifest), *options.split()])
    corpus = (tmp_path / "an4_3gram_corpus.txt").read_text().splitlines()
    train = [r for r in records if r["speaker"] not in AN4_DEV_SPEAKERS]
    assert len(corpus) == len(train) == len(records) - 104
    assert corpus == [normalize_text(r["text"]) for r in train]
    assert kenlm.Model(str(tmp_path / "an4_3gram.bin")).order == 3


def test_text_files_and_empty_corpora(kenlm_tools, tmp_path):
    corpus = tmp_path / "books.txt"
    corpus.write_text("\n".join(TRANSCRIPTS) + "\n\n")
    model = build_lm(text_file_lines(corpus), tmp_path, "books", order=2)
    assert kenlm.Model(str(model.arpa)).order == 2
    with pytest.raises(LMBuildError, match="no text left"):
        build_lm(["123", "!!!", ""], tmp_path, "empty")


def test_speaker_options_need_a_manifest(tmp_path):
    with pytest.raises(SystemExit):
        main(["--text", str(tmp_path / "a.txt"), "--exclude-speakers", "x", "--name", "a"])


def test_bad_options_fail_before_any_file_is_written(tmp_path):
    with pytest.raises(ValueError, match="order must be between 1 and 6"):
        build_lm(TRANSCRIPTS, tmp_path / "lm", "deep", order=7)
    assert not (tmp_path / "lm").exists()
