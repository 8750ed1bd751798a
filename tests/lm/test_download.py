"""The LibriSpeech LM downloader against a local HTTP server serving small upper-case ARPA
models that lmplz estimates here: download, gunzip, lower-casing that keeps the ARPA format."""

import gzip
import hashlib
import re
from pathlib import Path

import kenlm
import pytest

from src.lm.download import (
    CHECKSUMS,
    MODELS,
    VOCABULARY,
    ArpaFormatError,
    convert_arpa,
    fetch_librispeech_lm,
    lowercase_arpa,
    main,
)
from src.lm.tools import estimate_arpa
from src.utils.download import ChecksumError, parse_checksum
from tests.http_server import serve

UPPER_CORPUS = [
    "THE CAT SAT ON THE MAT",
    "THE DOG SAT ON THE LOG",
    "A CAT RAN AFTER THE DOG",
    "DON'T LET THE CAT NEAR THE LOG",
    "THE DOG RAN",
]
SENTENCES = ["THE CAT SAT ON THE LOG", "A DOG RAN", "DON'T LET THE ZEBRA NEAR", "LOG THE THE"]
MODEL_FILE = "3-gram.pruned.1e-7.arpa.gz"


def md5(path: Path) -> str:
    return "md5:" + hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def upper_arpa(kenlm_tools, tmp_path) -> Path:
    """A real upper-case 3-gram ARPA model, as the openslr files are."""
    corpus = tmp_path / "upper.txt"
    corpus.write_text("\n".join(UPPER_CORPUS) + "\n")
    estimate_arpa(corpus, tmp_path / "upper.arpa", order=3)
    return tmp_path / "upper.arpa"


@pytest.fixture
def openslr(upper_arpa, tmp_path):
    """A local 'resources/11': the gzipped model and an upper-case vocabulary."""
    root = tmp_path / "www" / "resources" / "11"
    root.mkdir(parents=True)
    (root / MODEL_FILE).write_bytes(gzip.compress(upper_arpa.read_bytes()))
    (root / VOCABULARY).write_text("A\nCAT\nDON'T\nTHE\n")
    checksums = {MODEL_FILE: md5(root / MODEL_FILE), VOCABULARY: md5(root / VOCABULARY)}
    with serve(tmp_path / "www") as (url, state):
        yield f"{url}/resources/11", state, checksums


def test_the_lower_case_model_scores_lower_case_text_like_the_original(
    openslr, upper_arpa, tmp_path
):
    base_url, state, checksums = openslr
    out = tmp_path / "lm"
    outputs = fetch_librispeech_lm(
        ["3-gram.pruned.1e-7"], out, base_url=base_url, checksums=checksums
    )
    converted = out / "3-gram.pruned.1e-7.arpa"
    assert outputs == {converted.name: converted, VOCABULARY: out / VOCABULARY}
    assert (out / "downloads" / MODEL_FILE).is_file()  # the original is kept
    assert (out / VOCABULARY).read_text() == "a\ncat\ndon't\nthe\n"

    original_lines = upper_arpa.read_text().splitlines()
    lines = converted.read_text().splitlines()
    assert len(lines) == len(original_lines)
    structure = re.compile(r"\\data\\|ngram \d+=\d+|\\\d-grams:|\\end\\|")
    assert [line for line in lines if structure.fullmatch(line)] == [
        line for line in original_lines if structure.fullmatch(line)
    ]
    words = {word for line in lines if "\t" in line for word in line.split("\t")[1].split()}
    assert {"<s>", "</s>", "<unk>", "the", "don't"} <= words
    assert not any(re.search("[A-Z]", word) for word in words - {"<s>", "</s>", "<unk>"})

    upper, lower = kenlm.Model(str(upper_arpa)), kenlm.Model(str(converted))
    for sentence in SENTENCES:
        assert lower.score(sentence.lower()) == pytest.approx(upper.score(sentence), abs=1e-6)
        assert list(lower.full_scores(sentence.lower())) == list(upper.full_scores(sentence))
    assert lower.score("THE CAT") < upper.score("THE CAT")  # upper case is now unknown

    requests = len(state.requests)
    fetch_librispeech_lm(["3-gram.pruned.1e-7"], out, base_url=base_url, checksums=checksums)
    assert len(state.requests) == requests  # converted files are kept: nothing fetched again


def test_an_interrupted_download_resumes(openslr, tmp_path):
    base_url, state, checksums = openslr
    state.cut_after[f"/resources/11/{MODEL_FILE}"] = 500
    fetch_librispeech_lm(["3-gram.pruned.1e-7"], tmp_path / "lm", base_url, checksums)
    model_requests = [r for r in state.requests if r[0].endswith(MODEL_FILE)]
    path = f"/resources/11/{MODEL_FILE}"
    assert model_requests == [(path, None), (path, "bytes=500-")]
    assert kenlm.Model(str(tmp_path / "lm" / "3-gram.pruned.1e-7.arpa")).order == 3


def test_a_checksum_mismatch_leaves_no_model(openslr, tmp_path):
    base_url, _, checksums = openslr
    wrong = {**checksums, MODEL_FILE: "md5:" + "0" * 32}
    with pytest.raises(ChecksumError, match=MODEL_FILE):
        fetch_librispeech_lm(["3-gram.pruned.1e-7"], tmp_path / "lm", base_url, wrong)
    assert not (tmp_path / "lm" / "3-gram.pruned.1e-7.arpa").exists()


def test_the_cli_with_binaries_and_no_checksum(openslr, tmp_path, capsys):
    base_url, _, _ = openslr
    out = tmp_path / "lm"
    main(["--base-url", base_url, "--out-dir", str(out), "--binary", "--no-checksum"])
    printed = capsys.readouterr().out.split()
    binary = out / "3-gram.pruned.1e-7.bin"
    assert printed == [str(out / "3-gram.pruned.1e-7.arpa"), str(binary), str(out / VOCABULARY)]
    arpa_lm, binary_lm = kenlm.Model(printed[0]), kenlm.Model(str(binary))
    assert binary_lm.score("the cat ran") == pytest.approx(arpa_lm.score("the cat ran"), abs=1e-4)


def test_every_resource_has_a_published_md5():
    assert set(CHECKSUMS) == {f"{model}.arpa.gz" for model in MODELS} | {VOCABULARY}
    for checksum in CHECKSUMS.values():
        algorithm, digest = parse_checksum(checksum)
        assert algorithm == "md5" and re.fullmatch("[0-9a-f]{32}", digest)


def test_unknown_models_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown LibriSpeech LMs \\['5-gram'\\]"):
        fetch_librispeech_lm(["5-gram"], tmp_path)


HANDWRITTEN = """Produced by hand.
\\data\\
ngram 1=4
ngram 2=2

\\1-grams:
-1.5\t<UNK>\t0
-99 <s> -0.5
-0.7\t</s>
-0.3\tDON'T\t-0.25

\\2-grams:
-0.1\t<s> DON'T
-0.2\tDON'T </s>

\\end\\
"""


def test_markup_numbers_and_the_preamble_are_kept():
    assert "".join(lowercase_arpa(HANDWRITTEN.splitlines(keepends=True))) == (
        "Produced by hand.\n\\data\\\nngram 1=4\nngram 2=2\n\n\\1-grams:\n"
        "-1.5\t<UNK>\t0\n-99\t<s>\t-0.5\n-0.7\t</s>\n-0.3\tdon't\t-0.25\n\n"
        "\\2-grams:\n-0.1\t<s> don't\n-0.2\tdon't </s>\n\n\\end\\\n"
    )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("ngram 2=2", "ngram 2=3"), r":16: the header announces 3 2-grams, the section has 2"),
        (("\\end\\\n", ""), r":15: no \\end\\ \(truncated or not ARPA\)"),
        (("\\data\\", "data"), r":16: no \\data\\"),
        (("-0.2\tDON'T </s>", "-0.2\tDON'T"), r":14: not a 2-gram entry"),
        (("-0.1\t<s>", "high\t<s>"), r":13: not a 2-gram entry"),
        (("\\2-grams:", "\\3-grams:"), r":12: unexpected section \\3-grams:"),
        (
            ("-0.7\t</s>", "-0.7\tdon't"),
            r":10: \"don't\" and \"DON'T\" would both become",
        ),
    ],
)
def test_malformed_models_are_errors_naming_the_line(tmp_path, change, problem):
    archive = tmp_path / "bad.arpa.gz"
    archive.write_bytes(gzip.compress(HANDWRITTEN.replace(*change).encode()))
    with pytest.raises(ArpaFormatError, match=f"bad.arpa.gz{problem}"):
        convert_arpa(archive, tmp_path / "bad.arpa")
    assert list(tmp_path.iterdir()) == [archive]  # neither the output nor a partial file


def test_a_file_that_is_not_gzip_is_an_error(tmp_path):
    (tmp_path / "plain.arpa.gz").write_text(HANDWRITTEN)
    with pytest.raises(ArpaFormatError, match="cannot read it as gzipped text"):
        convert_arpa(tmp_path / "plain.arpa.gz", tmp_path / "plain.arpa")
