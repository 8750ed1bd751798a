"""`python -m src.datasets.synthesis --root data/synthetic`: generate the corpus if missing."""

from src.datasets.synthesis.generate import main

main()
