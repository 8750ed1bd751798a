"""The web demo: a page to upload or record audio and read the transcript with word timings
highlighted as it plays, and the JSON API behind it (OpenAPI at /docs and /openapi.json).

Uploads are untrusted: at most `max_upload_bytes` are read (413 past it), at most
`max_seconds` of audio decoded (413), and anything that is empty or not audio the readers can
decode is a 400 with a message naming the upload; nothing of it is a 500.
"""

import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import torch
from fastapi import FastAPI, HTTPException, UploadFile
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from src.datasets.base_dataset import header_duration
from src.transcription import Transcriber
from src.utils.audio import (
    AUDIO_EXTENSIONS,
    FFMPEG_ONLY_EXTENSIONS,
    AudioReadError,
    read_audio_blocks,
)

PAGE = Path(__file__).with_name("index.html")
READ_BLOCK = 1 << 20


class Word(BaseModel):
    word: str
    start: float
    end: float
    confidence: float


class TranscriptResponse(BaseModel):
    file: str
    duration: float
    text: str
    words: list[Word]


class Health(BaseModel):
    status: str
    decoder: str
    max_upload_bytes: int
    max_seconds: float


class TooLong(Exception):
    """The upload holds more audio than the server transcribes."""


def _limited(blocks: Iterator[torch.Tensor], max_samples: int) -> Iterator[torch.Tensor]:
    samples = 0
    for block in blocks:
        samples += len(block)
        if samples > max_samples:
            raise TooLong
        yield block


def create_app(
    transcriber: Transcriber,
    decoder_name: str = "argmax",
    max_upload_bytes: int = 20 << 20,
    max_seconds: float = 600.0,
) -> FastAPI:
    """The FastAPI app over one loaded `transcriber` (one request transcribes at a time)."""
    app = FastAPI(
        title="ctc-asr transcription",
        description="Upload audio; get the transcript with word start, end and confidence.",
    )
    lock = threading.Lock()

    def too_large(what: str) -> HTTPException:
        return HTTPException(
            413,
            f"{what}; this server accepts at most "
            f"{max_upload_bytes / 2**20:.0f} MB and {max_seconds:.0f} s of audio",
        )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return PAGE.read_text(encoding="utf-8")

    @app.get("/api/health")
    def health() -> Health:
        return Health(
            status="ok",
            decoder=decoder_name,
            max_upload_bytes=max_upload_bytes,
            max_seconds=max_seconds,
        )

    @app.post("/api/transcribe")
    def transcribe(file: UploadFile) -> TranscriptResponse:
        """Transcribe one audio file (wav, flac, mp3, ogg, opus; m4a with FFmpeg)."""
        name = file.filename or "upload"
        suffix = Path(name).suffix.lower()
        with tempfile.TemporaryDirectory(prefix="upload-") as folder:
            path = Path(folder) / f"audio{suffix if suffix in AUDIO_EXTENSIONS else ''}"
            size = 0
            with path.open("wb") as saved:
                while chunk := file.file.read(READ_BLOCK):
                    size += len(chunk)
                    if size > max_upload_bytes:
                        raise too_large(f"{name!r} is larger than {max_upload_bytes} bytes")
                    saved.write(chunk)
            if size == 0:
                raise HTTPException(400, f"{name!r} is empty")
            try:
                seconds = None if suffix in FFMPEG_ONLY_EXTENSIONS else header_duration(path)
                if seconds is not None and seconds > max_seconds:  # FFmpeg's: counted below
                    raise too_large(f"{name!r} is {seconds:.0f} s long")
                blocks = read_audio_blocks(path, transcriber.sample_rate)
                max_samples = int(max_seconds * transcriber.sample_rate)
                with lock:
                    transcript = transcriber.transcribe_blocks(_limited(blocks, max_samples))
            except AudioReadError as error:
                raise HTTPException(
                    400,
                    f"{name!r} is not audio this server can read "
                    f"({', '.join(AUDIO_EXTENSIONS)}): {str(error).replace(str(path), name)}",
                ) from None
            except TooLong:
                raise too_large(f"{name!r} is longer than {max_seconds:.0f} s") from None
        if transcript.duration == 0:
            raise HTTPException(400, f"{name!r} holds no audio samples")
        record = transcript.to_dict()
        return TranscriptResponse(file=name, **record)

    return app
