"""How alike two impossibles are: a score between 0 and 1.

Three signals are computed; the calibrated blend uses the first alone:

- `terms`: weighted Jaccard index of the thesaurus concepts and of the
  content words no concept covered (a weak concept and a leftover word count
  less): what both say, over what either says, so that a post which adds a
  problem of its own is set apart;
- `concepts`: cosine of the concept sets alone;
- `spelling`: cosine of the character trigrams of the content words, which
  survives typos and inflections.

The weights and the threshold come from the evaluation set (how, on which
split, and why `concepts` and `spelling` weigh nothing although they were
measured: docs/similarity.md). Two sentence encoders were measured as a
fourth signal and left out: they did not show one more duplicate at the
same rate of wrong suggestions.

Lexical signals are hashed into fixed-size sparse vectors, so that one
query against thousands of candidates, and all pairs of a board, are a few
numpy products rather than Python loops. Nothing here touches the database.
"""

from __future__ import annotations

import functools
import hashlib
import zlib
from dataclasses import dataclass

import numpy as np

from boards.similarity import text, thesaurus

# Bump when the features' meaning changes without the thesaurus changing.
ENGINE_VERSION = 1

# score = Σ weight × signal (see the module docstring).
SIGNALS = ("terms", "concepts", "spelling")
WEIGHTS = np.array([1.0, 0.0, 0.0], dtype=np.float32)

# A participant is shown a card from this score on (at most 3, best first):
# just above one third, the highest score of nine new posts in ten of the
# development split.
SUGGEST_THRESHOLD = 0.34
# The facilitators' console lists a pair as a likely duplicate from this score.
DUPLICATE_THRESHOLD = 0.34
# The observatoire links two impossibles into one theme from this score.
GROUP_THRESHOLD = 0.34

# Hashing spaces: large, so that two different words almost never share a
# column (vectors stay sparse; only the columns in use are ever allocated).
TERM_DIM = CONCEPT_DIM = TRIGRAM_DIM = 1 << 24
WEAK_WEIGHT = 0.7
RESIDUE_WEIGHT = 0.5


@functools.cache
def features_version() -> str:
    """Stored with every impossible's features: rows of another version are
    stale (the thesaurus, the stopwords or ENGINE_VERSION changed)."""
    digest = hashlib.sha256()
    digest.update(thesaurus.PATH.read_bytes())
    digest.update(" ".join(sorted(text.STOPWORDS)).encode())
    return f"{ENGINE_VERSION}-{digest.hexdigest()[:16]}"


@dataclass(frozen=True)
class Terms:
    """The lexical features of one text, as stored (JSON-friendly)."""

    items: dict[str, float]
    concepts: tuple[str, ...]
    trigrams: tuple[str, ...]

    def to_json(self) -> dict:
        return {"items": self.items, "concepts": list(self.concepts), "trigrams": list(self.trigrams)}

    @classmethod
    def from_json(cls, data: dict) -> Terms:
        return cls(
            items={str(k): float(v) for k, v in data["items"].items()},
            concepts=tuple(str(c) for c in data["concepts"]),
            trigrams=tuple(str(t) for t in data["trigrams"]),
        )


def terms(statement: str) -> Terms:
    analysis = text.analyse(statement)
    weak = thesaurus.load().weak
    items = {f"#{c}": (WEAK_WEIGHT if c in weak else 1.0) for c in analysis.concepts}
    items.update({stem: RESIDUE_WEIGHT for stem in analysis.residue})
    return Terms(items=items, concepts=tuple(sorted(analysis.concepts)), trigrams=tuple(sorted(analysis.trigrams)))


def _bucket(token: str, dim: int) -> int:
    # crc32, not hash(): the same bucket in every process.
    return zlib.crc32(token.encode("utf-8")) % dim


def _hashed(values: dict[str, float] | tuple[str, ...], dim: int) -> dict[int, float]:
    out: dict[int, float] = {}
    pairs = values.items() if isinstance(values, dict) else ((v, 1.0) for v in values)
    for token, weight in pairs:
        col = _bucket(token, dim)
        out[col] = out.get(col, 0.0) + weight
    return out


class Prepared:
    """One impossible's terms hashed, ready to stack. The terms block holds
    square roots of the weights (a dot product of two such rows is the weight
    they share) and `mass` the total weight; the two others are unit vectors."""

    __slots__ = ("blocks", "mass")

    def __init__(self, terms: Terms):
        weighted = _hashed(terms.items, TERM_DIM)
        cols = np.fromiter(weighted.keys(), dtype=np.int64, count=len(weighted))
        weights = np.fromiter(weighted.values(), dtype=np.float32, count=len(weighted))
        self.mass = float(weights.sum())
        self.blocks = (
            (cols, np.sqrt(weights)),
            _normalised(_hashed(terms.concepts, CONCEPT_DIM)),
            _normalised(_hashed(terms.trigrams, TRIGRAM_DIM)),
        )


def _normalised(entry: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
    cols = np.fromiter(entry.keys(), dtype=np.int64, count=len(entry))
    vals = np.fromiter(entry.values(), dtype=np.float32, count=len(entry))
    norm = float(np.linalg.norm(vals))
    return cols, (vals / norm if norm else vals)


class Board:
    """Many impossibles' terms stacked for vectorised scoring."""

    def __init__(self, rows: list[Prepared]):
        self.n = len(rows)
        self.mass = np.fromiter((row.mass for row in rows), dtype=np.float32, count=self.n)
        self.blocks = []
        for k in range(len(SIGNALS)):
            cols = [row.blocks[k][0] for row in rows]
            vals = [row.blocks[k][1] for row in rows]
            lengths = np.fromiter((len(c) for c in cols), dtype=np.int64, count=self.n)
            self.blocks.append(
                (
                    np.repeat(np.arange(self.n, dtype=np.int64), lengths),
                    np.concatenate(cols) if rows else np.zeros(0, np.int64),
                    np.concatenate(vals) if rows else np.zeros(0, np.float32),
                )
            )

    def signals(self, query: Prepared) -> np.ndarray:
        """(n, 3): the signals of `query` against every impossible of the board."""
        out = np.zeros((self.n, len(SIGNALS)), dtype=np.float32)
        for k, (rows, cols, vals) in enumerate(self.blocks):
            q_cols, q_vals = query.blocks[k]
            if not q_cols.size or not cols.size:
                continue
            order = np.argsort(q_cols)
            q_cols, q_vals = q_cols[order], q_vals[order]
            at = np.minimum(np.searchsorted(q_cols, cols), q_cols.size - 1)
            weights = np.where(q_cols[at] == cols, vals * q_vals[at], 0.0)
            out[:, k] = np.bincount(rows, weights=weights, minlength=self.n)
        out[:, 0] = _jaccard(out[:, 0], self.mass, query.mass)
        return out

    def scores(self, query: Prepared) -> np.ndarray:
        return blend(self.signals(query))

    def pair_scores(self) -> np.ndarray:
        """(n, n): every pair's score (the diagonal means nothing)."""
        out = np.zeros((self.n, self.n), dtype=np.float32)
        for k, (weight, (rows, cols, vals)) in enumerate(zip(WEIGHTS, self.blocks, strict=True)):
            if weight == 0:
                continue
            # Only the columns in use, renumbered.
            used, columns = np.unique(cols, return_inverse=True)
            dense = np.zeros((self.n, used.size), dtype=np.float32)
            np.add.at(dense, (rows, columns), vals)
            products = dense @ dense.T
            if k == 0:
                products = _jaccard(products, self.mass[:, None], self.mass[None, :])
            out += weight * products
        return out


def _jaccard(shared: np.ndarray, mass_a, mass_b) -> np.ndarray:
    union = mass_a + mass_b - shared
    return np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)


def average_linkage(ids: list[int], scores: np.ndarray, threshold: float) -> list[list[int]]:
    """Groups of `ids` whose pairs score `threshold` on average (see
    engine.group), largest first, groups of one left out."""
    members: dict[int, list[int]] = {i: [i] for i in range(len(ids))}
    # Sum of pair scores between two live groups, for the pairs above threshold.
    candidates = np.argwhere(np.triu(scores >= threshold, k=1))
    order = np.argsort(-scores[candidates[:, 0], candidates[:, 1]], kind="stable")
    leader = list(range(len(ids)))

    def find(i: int) -> int:
        while leader[i] != i:
            leader[i] = leader[leader[i]]
            i = leader[i]
        return i

    for k in order:
        a, b = find(int(candidates[k, 0])), find(int(candidates[k, 1]))
        if a == b:
            continue
        block = scores[np.ix_(members[a], members[b])]
        if float(block.mean()) < threshold:
            continue
        leader[b] = a
        members[a].extend(members.pop(b))
    groups = [sorted(ids[i] for i in group) for group in members.values() if len(group) > 1]
    groups.sort(key=lambda g: (-len(g), g[0]))
    return groups


def blend(signals: np.ndarray) -> np.ndarray:
    return signals @ WEIGHTS


def prepare(statement: str) -> Prepared:
    return Prepared(terms(statement))


def score(a: str, b: str) -> float:
    """How alike two texts are, between 0 and 1 (symmetric)."""
    return float(Board([prepare(b)]).scores(prepare(a))[0])
