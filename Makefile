# Two commands on a fresh machine: `make train` (install, corpus, train, decode, score) and
# `make test`. Everything runs inside .venv, created from the pinned requirements.txt.
PYTHON_SYSTEM ?= python3
VENV := .venv
PYTHON := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
RUN ?= synthetic
RUN_DIR := saved/$(RUN)

.PHONY: install corpus train test lint clean

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

test: install
	$(PYTHON) -m pytest $(ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) data/synthetic saved outputs
