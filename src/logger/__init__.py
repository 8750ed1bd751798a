"""Experiment writers. Backends live in ``src.logger.wandb`` / ``src.logger.cometml`` and are
imported only when instantiated (both libraries are slow to import)."""

from src.logger.writer import BaseWriter, NullWriter

__all__ = ["BaseWriter", "NullWriter"]
