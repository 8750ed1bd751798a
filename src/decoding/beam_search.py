"""CTC prefix beam search written out by hand, vectorised over beams and tokens with numpy.

Every prefix (collapsed label sequence) carries two log-probabilities: of the alignments of the
frames so far that end in a blank (`blank`) and of those that end in its last label
(`label`). At each frame a prefix either stays (a blank, or its last label repeated) or grows by
one label; growing by its own last label needs a blank in between. A grown prefix that is
already in the beam merges into it. Only a Python loop over frames remains; the work of a frame
is a few array operations on (beams x candidate tokens), plus one dictionary look-up per new
prefix kept.

Hypotheses are texts, so label sequences that spell the same text are one hypothesis: a space
after a space (or at the start) adds nothing to the text and is merged into the prefix it
follows, and at the end the prefixes that spell the same text (e.g. differing by a trailing
space, or subword sequences such as `▁a` `b` and `▁ab`) are summed. Subword prefixes that
spell the same text stay separate beams until then (their next labels differ in CTC).
"""

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from src.decoding.base import CTCDecoder, Hypothesis
from src.text_encoder import CTCCharTextEncoder

ROOT = 0  # node of the empty prefix


class Beam(NamedTuple):
    text: str
    log_prob: float


class PrefixTrie:
    """Gives every prefix one integer node id, so prefixes compare and merge as integers.

    A node is keyed by `parent * n_tokens + label` (the root by -1); ids are handed out in
    order of creation.
    """

    def __init__(self, n_tokens: int) -> None:
        self.n_tokens = n_tokens
        self.ids: dict[int, int] = {-1: ROOT}
        self.keys: list[int] = [-1]

    def children(self, parents: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """The node of every (parent, label) pair, created when new."""
        keys = (parents * self.n_tokens + labels).tolist()
        ids = self.ids
        # `len(ids)` is read before `setdefault` inserts: a new key gets the next free id.
        nodes = np.array([ids.setdefault(key, len(ids)) for key in keys], dtype=np.int64)
        first_new = len(self.keys)
        if len(ids) > first_new:  # the new nodes got the ids first_new, ... in order of `keys`
            self.keys.extend(
                key for key, node in zip(keys, nodes.tolist(), strict=True) if node >= first_new
            )
        return nodes

    def labels(self, node: int) -> list[int]:
        labels = []
        while node != ROOT:
            node, label = divmod(self.keys[node], self.n_tokens)
            labels.append(label)
        return labels[::-1]


class BeamSearchDecoder(CTCDecoder):
    """CTC prefix beam search in log space.

    Args:
        beam_width: prefixes kept after every frame.
        token_min_logp: a frame only grows prefixes by labels at least this likely (log); the
            frame's most likely label is always tried. None: no threshold.
        top_k: a frame only grows prefixes by its `top_k` most likely labels. None: all.
        beam_prune_logp: drop prefixes less likely than the best one by more than this (log).
            None: keep all `beam_width`.
        num_processes: worker processes over the utterances of a call (1: none).
    """

    def __init__(
        self,
        text_encoder: CTCCharTextEncoder,
        beam_width: int = 100,
        token_min_logp: float | None = -5.0,
        top_k: int | None = None,
        beam_prune_logp: float | None = -10.0,
        num_processes: int = 1,
    ) -> None:
        super().__init__(text_encoder, num_processes)
        if beam_width < 1 or (top_k is not None and top_k < 1):
            raise ValueError(f"beam_width ({beam_width}) and top_k ({top_k}) must be >= 1")
        self.beam_width = beam_width
        self.token_min_logp = token_min_logp
        self.top_k = top_k
        self.beam_prune_logp = beam_prune_logp
        self.blank = text_encoder.blank_index
        # The empty text behaves as if it ended in a space: a space after it adds nothing.
        self.space = text_encoder.vocab.index(" ") if " " in text_encoder.vocab else -1

    def decode_here(self, log_probs: Sequence[np.ndarray], n_best: int) -> list[list[Hypothesis]]:
        return [
            [Hypothesis(text, logit_score=log_prob, score=log_prob) for text, log_prob in beams]
            for beams in (self.search(frames, n_best) for frames in log_probs)
        ]

    def search(self, log_probs: np.ndarray, n_best: int | None = None) -> list[Beam]:
        """The `n_best` (None: all) texts of the final beams of one utterance (T, C), most
        likely first."""
        n_tokens = log_probs.shape[-1]
        trie = PrefixTrie(n_tokens)
        # One entry per beam: its node, its parent's node, its last label and the log-probs of
        # its alignments ending in a blank and in its last label.
        node = np.array([ROOT])
        parent = np.array([-1])
        last = np.array([self.space])
        blank = np.array([0.0])
        label = np.array([-np.inf])
        # Lookup tables with a spare last slot for the index -1 (no label, no parent).
        padded = np.full(n_tokens + 1, -np.inf)
        column_of = np.full(n_tokens + 1, -1)
        position_of = np.full(16, -1)
        for frame in np.asarray(log_probs, dtype=np.float64):
            padded[:-1] = frame
            total = np.logaddexp(blank, label)
            stay_blank = total + frame[self.blank]
            stay_label = label + padded[last]
            tokens = self._candidate_tokens(frame)
            # grow[k, v]: beam k extended by tokens[v]; a repeated label needs a blank before it.
            grow = np.where(last[:, None] == tokens, blank[:, None], total[:, None]) + frame[tokens]
            column_of[tokens] = np.arange(len(tokens))
            if len(position_of) <= len(trie.keys):
                position_of = np.full(2 * len(trie.keys) + 1, -1)
            position_of[node] = np.arange(len(node))
            # Extensions that are no new prefix merge into the beam they equal: a beam's parent
            # extended by the beam's last label, and a space after a space (or at the start),
            # which spells no new text. (Without a space in the vocabulary `self.space` is -1
            # and `column_of[-1]` stays -1.)
            after_space = np.flatnonzero(last == self.space)
            source = np.concatenate([position_of[parent], after_space])  # row of `grow`
            target = np.concatenate([np.arange(len(node)), after_space])  # beam taking it
            column = np.concatenate(
                [column_of[last], np.full(len(after_space), column_of[self.space])]
            )
            hit = (source >= 0) & (column >= 0)
            source, target, column = source[hit], target[hit], column[hit]
            # `at`: a beam can take both its parent's extension and a space after itself.
            np.logaddexp.at(stay_label, target, grow[source, column])
            grow[source, column] = -np.inf
            position_of[node] = -1
            column_of[tokens] = -1

            scores = np.concatenate([np.logaddexp(stay_blank, stay_label), grow.ravel()])
            kept = self._best(scores)
            stays, grown = kept[kept < len(node)], kept[kept >= len(node)] - len(node)
            source, token = np.divmod(grown, len(tokens))
            token = tokens[token]
            grown_from = node[source]
            node = np.concatenate([node[stays], trie.children(grown_from, token)])
            parent = np.concatenate([parent[stays], grown_from])
            last = np.concatenate([last[stays], token])
            blank = np.concatenate([stay_blank[stays], np.full(len(grown), -np.inf)])
            label = np.concatenate([stay_label[stays], grow.ravel()[grown]])
        return self._texts(trie, node, np.logaddexp(blank, label), n_best)

    def _texts(self, trie, node, log_probs, n_best) -> list[Beam]:
        """Sums the prefixes that spell the same text (e.g. differing by a trailing space, or
        subwords `▁a` `b` and `▁ab`); the `n_best` texts."""
        totals: dict[str, float] = {}
        for prefix, log_prob in zip(node.tolist(), log_probs.tolist(), strict=True):
            text = self.labels_to_text(trie.labels(prefix))
            totals[text] = float(np.logaddexp(totals.get(text, -np.inf), log_prob))
        best = sorted(totals.items(), key=lambda item: -item[1])[:n_best]
        return [Beam(text, log_prob) for text, log_prob in best]

    def _candidate_tokens(self, frame: np.ndarray) -> np.ndarray:
        """The labels this frame may grow prefixes by, after the token pruning options."""
        keep = np.ones(len(frame), dtype=bool)
        if self.token_min_logp is not None:
            keep = frame >= self.token_min_logp
        if self.top_k is not None and self.top_k < len(frame) - 1:
            labels = np.where(keep, frame, -np.inf)
            labels[self.blank] = -np.inf
            keep = np.zeros_like(keep)
            keep[np.argpartition(-labels, self.top_k - 1)[: self.top_k]] = True
            keep &= labels > -np.inf
        keep[frame.argmax()] = True
        keep[self.blank] = False
        return np.flatnonzero(keep)

    def _best(self, scores: np.ndarray) -> np.ndarray:
        """Indices of the candidates to keep: finite, within the margin, the `beam_width` best."""
        keep = np.isfinite(scores)
        if self.beam_prune_logp is not None:
            keep &= scores >= scores.max() + self.beam_prune_logp
        kept = np.flatnonzero(keep)
        if len(kept) > self.beam_width:
            kept = kept[np.argpartition(-scores[kept], self.beam_width - 1)[: self.beam_width]]
        return kept
