"""An English speech corpus generated offline with eSpeak NG (see generate.py)."""

from src.datasets.synthesis.generate import ensure_corpus

__all__ = ["ensure_corpus"]
