"""Transcribe recordings: `python transcribe.py model=CKPT audio=FILE_OR_DIR [format=srt]`.

Any length (chunked, bounded memory), sample rate, channel count and format the dataset
readers accept; words with start, end and confidence; txt, json, srt or vtt, printed or
written per file; `streaming=true` feeds a unidirectional model chunk by chunk and prints the
partial text as it forms (on stderr).
"""

import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig
from tqdm import tqdm

from src.transcription import Transcript
from src.transcription.cli import checkpoint_argv, load_for_transcription
from src.transcription.formats import FORMATS
from src.transcription.streaming import StreamingTranscriber
from src.utils.audio import AUDIO_EXTENSIONS, AudioReadError, read_audio_blocks
from src.utils.runtime import resolve_device, set_num_threads

logger = logging.getLogger("transcribe")


def audio_files(audio: Path) -> list[Path]:
    """`audio` itself, or every audio file under the folder, sorted."""
    if audio.is_file():
        return [audio]
    if audio.is_dir():
        files = sorted(
            path
            for path in audio.rglob("*")
            if path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS
        )
        if not files:
            raise FileNotFoundError(f"{audio}: no audio files ({', '.join(AUDIO_EXTENSIONS)})")
        return files
    raise FileNotFoundError(f"{audio}: no such file or folder")


def stream_file(transcriber: StreamingTranscriber, path: Path, chunk_seconds: float) -> Transcript:
    """Feed the file in `chunk_seconds` pieces; each change of the partial text goes to stderr."""
    partial = ""
    seconds = 0.0
    step = max(1, round(chunk_seconds * transcriber.sample_rate))
    for block in read_audio_blocks(path, transcriber.sample_rate):
        for piece in block.split(step):
            seconds += len(piece) / transcriber.sample_rate
            text = transcriber.push(piece)
            if text != partial:
                partial = text
                print(f"[{seconds:7.2f} s] {partial}", file=sys.stderr, flush=True)
    transcript = transcriber.finish()
    if transcript.duration == 0:
        raise AudioReadError(f"{path}: the file holds no audio samples")
    transcript.source = str(path)
    return transcript


def output_path(output_dir: Path, root: Path, path: Path, suffix: str) -> Path:
    relative = path.relative_to(root) if root.is_dir() else Path(path.name)
    return output_dir / relative.with_suffix(f".{suffix}")


@hydra.main(version_base="1.3", config_path="configs", config_name="transcribe")
def main(cfg: DictConfig) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if cfg.format not in FORMATS:
        raise ValueError(f"format must be one of {sorted(FORMATS)}, got {cfg.format!r}")
    set_num_threads(cfg.num_threads)
    root = Path(cfg.audio)
    files = audio_files(root)
    device = "cpu" if cfg.streaming else resolve_device(cfg.device)
    trained, decoder, transcriber = load_for_transcription(cfg, device)
    write = FORMATS[cfg.format]
    failed = []
    for path in tqdm(files, desc="files", unit="file", disable=not cfg.progress or len(files) < 2):
        try:
            if cfg.streaming:
                transcript = stream_file(
                    StreamingTranscriber(trained, decoder), path, cfg.stream_chunk_seconds
                )
            else:
                transcript = transcriber.transcribe_file(path, show_progress=cfg.progress)
        except AudioReadError as error:
            logger.error("skipping %s", error)
            failed.append(path)
            continue
        text = write(transcript)
        if cfg.output_dir is not None:
            target = output_path(Path(cfg.output_dir), root, path, cfg.format)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            logger.info("%s -> %s", path, target)
        elif len(files) > 1 and cfg.format != "json":
            print(f"==> {path} <==\n{text}", flush=True)
        else:
            print(text, end="", flush=True)
    if failed:
        sys.exit(f"{len(failed)} of {len(files)} files could not be read: {failed}")


if __name__ == "__main__":
    sys.argv = [sys.argv[0], *checkpoint_argv(sys.argv[1:])]
    main()
