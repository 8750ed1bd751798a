# Two commands on a fresh machine: `make train` (install, corpus, train, decode, score) and
# `make test`. Everything runs inside .venv, created from the pinned requirements.txt.
PYTHON_SYSTEM ?= python3
VENV := .venv
PYTHON := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
RUN ?= synthetic
RUN_DIR := saved/$(RUN)

LINTED := src scripts bench tests train.py inference.py calc_metrics.py transcribe.py

.PHONY: install corpus train test lint clean kenlm browser lm-synthetic lm-an4 lm-librispeech \
	download-model an4 an4-eval reliability an4-long

$(INSTALLED): requirements.txt
	$(PYTHON_SYSTEM) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(INSTALLED)

install: $(INSTALLED)

corpus: install
	$(PYTHON) -m src.datasets.synthesis --root data/synthetic

train: corpus
	$(PYTHON) train.py -cn=deepspeech2_cpu trainer.run_name=$(RUN) $(ARGS)
	$(PYTHON) inference.py inferencer.from_pretrained=$(RUN_DIR)/model_best.pth \
		inferencer.save_path=$(RUN_DIR)/predictions inferencer.partitions=[test]

test: install kenlm browser
	$(PYTHON) -m pytest $(ARGS)

# The attack and fault set as one table (docs/reliability.md): hostile archives, downloads, ids,
# audio and checkpoints; training faults; exact resumes; one run SIGKILLed 20 times. ~5 min.
reliability: install
	$(PYTHON) -m bench.reliability $(ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PYTHON) -m pylint $(LINTED)  # copy-paste detector (settings in pyproject.toml)

# `make download-model NAME=an4` fetches models/an4/ from models/registry.yaml; no NAME lists it.
download-model: install
	$(PYTHON) scripts/download_model.py $(if $(NAME),$(NAME),--list) $(ARGS)

# KenLM's lmplz and build_binary: compiled once from the kenlm sdist into .venv/bin (Debian
# build packages installed when missing); instant when they are there.
kenlm: install
	$(PYTHON) -m src.lm.tools

# Debian's chromium and chromium-driver for the web demo's browser test (apt-get as root when
# missing; otherwise the command is printed and that test skips).
browser: install
	$(PYTHON) -m scripts.install_browser

# Word n-gram LMs (LM_ORDER-gram) from training transcripts only, written to data/lm/.
LM_ORDER ?= 3
lm-synthetic: corpus kenlm
	$(PYTHON) -m src.lm.build --manifest data/synthetic/train.jsonl --name synthetic \
		--order $(LM_ORDER) $(ARGS)

lm-an4: kenlm
	$(PYTHON) -m src.lm.build --manifest ../shared/data/an4/manifest.jsonl --name an4 \
		--exclude-speakers-from configs/datasets/an4_dev_split.yaml --order $(LM_ORDER) $(ARGS)

# The AN4 recipe on ../shared/data/an4: `make an4` trains (under an hour on 2 cores), then
# `an4-eval` builds the LM from the training speakers' text, tunes alpha/beta on the dev
# speakers and decodes their exported folder (audio + <id>.txt) with every decoder.
AN4_DIR := saved/an4
AN4_DEV := data/an4_dev
# AN4_WEIGHTS=ema: decode with the moving average of the run's weights
AN4_WEIGHTS := model
AN4_SUFFIX := $(if $(filter ema,$(AN4_WEIGHTS)),_ema)
AN4_LM := decoders.LM.lm_path=data/lm/an4_3gram.bin \
	decoders.LM.unigrams_path=data/lm/an4_3gram_unigrams.txt
an4: install
	$(PYTHON) train.py -cn=deepspeech2_an4 $(ARGS)
	$(MAKE) an4-eval

# Long recordings: fine-tune the AN4 model for 15 min on items of several utterances in a row,
# then compare a 5- and a 60-minute file of the dev speakers with each utterance alone, in
# windows of 12-30 s cut at pauses of 0.3 s (AN4 speakers pause between spelled letters)
AN4_DEV_SPEAKERS := fclc fmjd mblw mcfl mjda mmap msjr mtcv
an4-long: install
	$(PYTHON) train.py -cn=deepspeech2_an4 trainer.from_pretrained=$(AN4_DIR)/model_best.pth \
		datasets.train.concat_probability=0.5 optimizer.lr=3e-4 trainer.max_minutes=15 \
		trainer.run_name=an4_long $(ARGS)
	$(PYTHON) -m bench.long_audio --checkpoint saved/an4_long/model_best.pth --minutes 5 60 \
		--manifest ../shared/data/an4/manifest.jsonl --speakers $(AN4_DEV_SPEAKERS) \
		--transcribe pause_seconds=0.3 min_chunk_seconds=12 chunk_seconds=30

an4-eval: lm-an4 $(AN4_DEV)
	$(PYTHON) -m src.tune_lm inferencer.from_pretrained=$(AN4_DIR)/model_best.pth \
		inferencer.weights=$(AN4_WEIGHTS) datasets=an4_dev_split $(AN4_LM) \
		tune.output=$(AN4_DIR)/lm_params$(AN4_SUFFIX).yaml
	$(PYTHON) inference.py inferencer.from_pretrained=$(AN4_DIR)/model_best.pth \
		inferencer.weights=$(AN4_WEIGHTS) decoders=lm $(AN4_LM) \
		decoders.LM.params_file=$(AN4_DIR)/lm_params$(AN4_SUFFIX).yaml \
		inferencer.output_decoder=LM datasets=custom_dir datasets.test.audio_dir=$(AN4_DEV) \
		datasets.test.transcription_dir=$(AN4_DEV) \
		inferencer.save_path=$(AN4_DIR)/dev_predictions$(AN4_SUFFIX)

$(AN4_DEV): | install
	$(PYTHON) -m src.datasets.export --manifest ../shared/data/an4/manifest.jsonl \
		--speakers-held-out-by configs/datasets/an4_dev_split.yaml --out $@

# The LibriSpeech LMs (openslr 11), lower-cased, in data/lm/librispeech/; e.g.
# make lm-librispeech ARGS="--models 3-gram.pruned.3e-7 4-gram --binary"
lm-librispeech: kenlm
	$(PYTHON) -m src.lm.download $(ARGS)

clean:
	rm -rf $(VENV) data/synthetic saved outputs
