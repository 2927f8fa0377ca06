"""« Ça ressemble à… »: recognise the same impossible in other words (French).

    from boards.similarity import engine

    engine.similar(atelier, text)          # -> list[Match], at most 3, for the posting flow
    engine.likely_duplicates(atelier)      # -> list[Pair], for the facilitators' console
    engine.group(impossibles)              # -> list[list[int]], themes for the observatoire
    engine.score(text_a, text_b)           # -> float in [0, 1]
    engine.refresh(impossible_id)          # after an impossible is posted or edited
    engine.refresh_on_commit(impossible_id)

None of them raises. The text analysis (`text`, `thesaurus`, `scoring`) and
the evaluation (python -m boards.similarity.evaluate) need no Django; `engine`
reads and writes the database. How it works, how it was chosen and measured:
docs/similarity.md.
"""
