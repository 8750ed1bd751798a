"""Average the weights of a run's last or best K epoch checkpoints into one checkpoint:

    python -m src.average saved/RUN [--best | --last] [-k 5] [--out saved/RUN/averaged.pth]
    python -m src.average --checkpoints a.pth b.pth c.pth --out averaged.pth

A run keeps `epoch_<N>.pth` (weights, with the monitored value) for its last K and best K
epochs with `trainer.keep_epochs=K`. The averaged checkpoint holds the mean weights (floating
point tensors averaged; counters taken from the newest) with the config, vocabulary and text
encoder of the newest, so `inference.py inferencer.from_pretrained=...` reads it as any other.
Averaging only makes sense within one run (the same architecture on one trajectory): the
checkpoints must agree on config.model, the vocabulary and the tensors' names and shapes.
"""

import argparse
import math
import re
import sys
from pathlib import Path
from typing import Any

from src.trainer.averaging import average_state_dicts
from src.trainer.base_trainer import parse_monitor
from src.utils.checkpoint import load_checkpoint, save_checkpoint

EPOCH_FILE = re.compile(r"epoch_(\d+)\.pth")


def epoch_checkpoints(run_dir: Path) -> dict[int, Path]:
    found = {
        int(match.group(1)): path
        for path in run_dir.glob("epoch_*.pth")
        if (match := EPOCH_FILE.fullmatch(path.name))
    }
    if not found:
        raise FileNotFoundError(
            f"no epoch_<N>.pth in {run_dir}: train with trainer.keep_epochs=K to keep them"
        )
    return found


def select(run_dir: Path, count: int, best: bool) -> list[Path]:
    """The last `count` epochs, or the best `count` by the monitored value they hold (the
    run's `trainer.monitor` direction), oldest first."""
    found = epoch_checkpoints(run_dir)
    if not best:
        return [found[epoch] for epoch in sorted(found)[-count:]]
    scored = []
    for epoch, path in found.items():
        state = load_checkpoint(path)
        ((key, value),) = state["monitor"].items()
        if not math.isnan(value):
            mode, _ = parse_monitor(state["config"]["trainer"]["monitor"])
            scored.append((value if mode == "min" else -value, epoch, path, key))
    if not scored:
        raise ValueError(f"{run_dir}: the epoch checkpoints hold no monitored value")
    chosen = sorted(scored)[:count]
    return [path for _, _, path, _ in sorted(chosen, key=lambda item: item[1])]


def average_checkpoints(paths: list[Path], weights: str = "model") -> dict[str, Any]:
    """One checkpoint with the mean of `paths`' `weights` (`model` or `ema`)."""
    states = [load_checkpoint(path) for path in paths]
    newest = states[-1]
    for path, state in zip(paths, states, strict=True):
        for key in ("vocab",):
            if state.get(key) != newest.get(key):
                raise ValueError(f"{path}: its {key} differs from {paths[-1]}'s")
        if state["config"]["model"] != newest["config"]["model"]:
            raise ValueError(f"{path}: config.model differs from {paths[-1]}'s")
        if weights not in state:
            raise KeyError(f"{path}: no {weights!r} weights in the checkpoint")
    averaged = average_state_dicts([state[weights] for state in states])
    kept = {
        key: newest[key] for key in ("config", "vocab", "text_encoder", "step") if key in newest
    }
    return {**kept, "model": averaged, "averaged": [str(path) for path in paths]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", nargs="?", type=Path, help="a run folder with epoch_<N>.pth")
    parser.add_argument("--checkpoints", nargs="+", type=Path, help="these files instead")
    order = parser.add_mutually_exclusive_group()
    order.add_argument("--best", action="store_true", help="the best K epochs (by the monitor)")
    order.add_argument("--last", action="store_true", help="the last K epochs (the default)")
    parser.add_argument("-k", type=int, default=5, help="how many (default 5)")
    parser.add_argument("--weights", choices=["model", "ema"], default="model")
    parser.add_argument("--out", type=Path, help="default: <run_dir>/averaged.pth")
    args = parser.parse_args(argv)
    if (args.run_dir is None) == (args.checkpoints is None):
        parser.error("give a run folder or --checkpoints, not both")
    if args.checkpoints is None and args.k < 1:
        parser.error("-k must be at least 1")
    paths = args.checkpoints or select(args.run_dir, args.k, args.best)
    out = args.out or (args.run_dir / "averaged.pth" if args.run_dir else None)
    if out is None:
        parser.error("--out is needed with --checkpoints")
    save_checkpoint(average_checkpoints(paths, args.weights), out)
    print(f"averaged {len(paths)} checkpoints ({', '.join(p.name for p in paths)}) -> {out}")
    print(f"decode with it: python inference.py inferencer.from_pretrained={out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
