"""L'observatoire des impossibles: what blocks entrepreneurs, across
ateliers and territories.

- `models`: themes (curated groups of similar impossibles from any atelier)
  and the published figures, computed daily.
- `figures`: computes the figures (`manage.py observatoire_figures`), with
  `secrecy`'s rules: no small cell is ever stored, so none can be shown.
- `themes`: suggests themes with the similarity engine
  (`manage.py observatoire_themes`).
- `reads`: what the public pages and the open data read, in a constant
  number of queries.

Curating themes writes through `boards.services.observatoire`. What is
counted, the secrecy rules and the open-data columns: docs/observatoire.md.
"""
