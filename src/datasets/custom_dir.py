"""A folder of audio files, with an optional folder of `<utterance_id>.txt` transcriptions."""

from pathlib import Path
from typing import Any

from src.datasets.base_dataset import BaseDataset, IndexEntry, header_duration
from src.utils.audio import AUDIO_EXTENSIONS, AudioReadError
from src.utils.files import read_text


def _duration(path: Path) -> float:
    try:
        return header_duration(path)
    except AudioReadError:
        return 0.0  # unknown without decoding (e.g. m4a); only used for ordering


def index_audio_dir(
    audio_dir: str | Path, transcription_dir: str | Path | None
) -> list[IndexEntry]:
    audio_dir = Path(audio_dir)
    if not audio_dir.is_dir():
        raise FileNotFoundError(f"audio_dir is not a folder: {audio_dir}")
    paths = sorted(p for p in audio_dir.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS)
    if not paths:
        raise FileNotFoundError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) in {audio_dir}")
    index = []
    for path in paths:
        text = ""
        if transcription_dir is not None:
            transcript = Path(transcription_dir) / f"{path.stem}.txt"
            if not transcript.is_file():
                raise FileNotFoundError(f"no transcription for utterance {path.stem}: {transcript}")
            text = read_text(transcript).strip()
        index.append(
            {"id": path.stem, "path": str(path), "text": text, "duration": _duration(path)}
        )
    return index


class CustomDirDataset(BaseDataset):
    def __init__(
        self, audio_dir: str | Path, transcription_dir: str | Path | None = None, **kwargs: Any
    ) -> None:
        index = index_audio_dir(audio_dir, transcription_dir)
        super().__init__(index, has_transcriptions=transcription_dir is not None, **kwargs)
