"""Statistical secrecy, after INSEE's practice for aggregate tables.

A figure is shown only when enough ateliers and people stand behind it that
nobody can be recognised in it: at least MIN_ATELIERS ateliers and
MIN_PARTICIPANTS distinct participants (authors of its impossibles and
people who said « moi aussi »), and no atelier holding more than MAX_SHARE
of its impossibles or of its « moi aussi » (the dominance rule). A cell that
fails is not shown: it is added to a remainder one level up (the
département's to its région's, the région's to the nation's), which is
shown when it passes in turn, and never otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MIN_ATELIERS = 3
MIN_PARTICIPANTS = 5
MAX_SHARE = 0.85

# The measures of a cell, in this order in `Cell.per_atelier`'s lists.
MEASURES = ("impossibles", "impossibles_with_action", "me_toos", "offers", "actions", "actions_done")
IMPOSSIBLES, WITH_ACTION, ME_TOOS, OFFERS, ACTIONS, DONE = range(len(MEASURES))
DOMINANCE_MEASURES = (IMPOSSIBLES, ME_TOOS)


@dataclass
class Cell:
    """What one cell holds, kept per atelier so that cells can be pooled
    and the dominance rule checked."""

    per_atelier: dict[int, list[int]] = field(default_factory=dict)
    participants: set[int] = field(default_factory=set)

    def counts(self, atelier_id: int) -> list[int]:
        return self.per_atelier.setdefault(atelier_id, [0] * len(MEASURES))

    def absorb(self, other: Cell) -> None:
        for atelier_id, counts in other.per_atelier.items():
            mine = self.counts(atelier_id)
            for index, value in enumerate(counts):
                mine[index] += value
        self.participants |= other.participants

    def totals(self) -> list[int]:
        return [sum(counts[index] for counts in self.per_atelier.values()) for index in range(len(MEASURES))]


def can_show(cell: Cell) -> bool:
    if len(cell.per_atelier) < MIN_ATELIERS or len(cell.participants) < MIN_PARTICIPANTS:
        return False
    for index in DOMINANCE_MEASURES:
        total = sum(counts[index] for counts in cell.per_atelier.values())
        if total and max(counts[index] for counts in cell.per_atelier.values()) > MAX_SHARE * total:
            return False
    return True
