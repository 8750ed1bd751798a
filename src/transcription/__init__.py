"""From a checkpoint to transcripts of users' recordings: long files, streaming, formats."""

from src.transcription.chunked import ChunkedLogProbs, frame_stride
from src.transcription.transcriber import Transcriber, Transcript

__all__ = ["ChunkedLogProbs", "Transcriber", "Transcript", "frame_stride"]
