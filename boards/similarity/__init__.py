"""« Ça ressemble à… »: recognise the same impossible in other words (French).

    from boards import similarity

    similarity.similar(atelier, text)          # -> list[Match], at most 3, for the posting flow
    similarity.likely_duplicates(atelier)      # -> list[Pair], for the facilitators' console
    similarity.group(impossibles)              # -> list[list[int]], themes for the observatoire
    similarity.score(text_a, text_b)           # -> float in [0, 1]
    similarity.refresh(impossible_id)          # after an impossible is posted or edited
    similarity.refresh_on_commit(impossible_id)

None of them raises. How it works, how it was chosen and measured:
docs/similarity.md. The names resolve lazily so that the text analysis and
the evaluation (python -m boards.similarity.evaluate) run without Django.
"""

from __future__ import annotations

__all__ = [
    "Match",
    "Pair",
    "group",
    "likely_duplicates",
    "refresh",
    "refresh_all",
    "refresh_on_commit",
    "score",
    "similar",
    "warm_up",
]


def __getattr__(name: str):
    if name in __all__:
        from boards.similarity import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'boards.similarity' has no attribute {name!r}")
