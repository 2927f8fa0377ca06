"""A season of ateliers for the observatoire's tests, written straight to
the database (the figures read what the services wrote; how they write it
is tested elsewhere)."""

from __future__ import annotations

import datetime
import itertools

from django.utils.text import slugify

from boards.models import (
    ActionStatus,
    Atelier,
    Category,
    HelpKind,
    HelpOffer,
    Impossible,
    MeToo,
    Participant,
    Pilot,
    PlanAction,
    Reach,
    Role,
    Theme,
)
from boards.observatoire import figures
from boards.services import facilitation

AUTUMN = datetime.datetime(2026, 10, 15, 18, 30, tzinfo=datetime.UTC)
SPRING = datetime.datetime(2026, 4, 15, 18, 30, tzinfo=datetime.UTC)

# Communes by département: Charente, Charente-Maritime, Gironde (Nouvelle-Aquitaine), Loire-Atlantique.
COMMUNES = {
    "16": ["16102", "16167", "16015", "16102", "16167"],
    "17": ["17306", "17300", "17306", "17300"],
    "33": ["33063", "33063", "33063", "33063"],
    "44": ["44109", "44109", "44109", "44109"],
}

_codes = (f"OB{a}{b}{c}{d}" for a, b, c, d in itertools.product("ABCDEFGHJK", "2345678", "ABCDEFGH", "2345678"))


def atelier(insee: str, when: datetime.datetime = AUTUMN, title: str = "") -> Atelier:
    code = next(_codes)
    atelier = Atelier(title=title or f"Atelier {code}", code=code, insee_code=insee, starts_at=when)
    facilitation.apply_territory(atelier)
    atelier.save()
    return atelier


def theme(name: str, *, category: str = Category.RECRUITMENT, accepted: bool = True) -> Theme:
    status = Theme.Status.ACCEPTED if accepted else Theme.Status.SUGGESTED
    return Theme.objects.create(name=name, slug=slugify(name)[:60], category=category, status=status)


def room(
    atelier: Atelier,
    *,
    people: int = 2,
    statements: tuple[str, ...] = ("Impossible de recruter des soudeurs",),
    category: str = Category.RECRUITMENT,
    reach: str = Reach.COUNTED,
    theme: Theme | None = None,
    role: str = Role.ENTREPRENEUR,
    me_toos: bool = True,
    offers: int = 0,
    actions: tuple[str, ...] = (),
    organisation: str = "",
) -> list[Impossible]:
    """`people` participants; each statement posted by the next of them;
    everyone else says « moi aussi » to the first one; `offers` offers of
    help and one action per status in `actions` on the first one."""
    members = [
        Participant.objects.create(
            atelier=atelier,
            name=f"Personne {atelier.code}-{i}",
            organisation=organisation or f"Société {atelier.code}-{i}",
            role=role,
        )
        for i in range(people)
    ]
    posted = [
        Impossible.objects.create(
            atelier=atelier,
            author=members[i % people],
            statement=text,
            category=category,
            reach=reach,
            theme=theme,
            submission_key=f"k{i}",
        )
        for i, text in enumerate(statements)
    ]
    first = posted[0]
    if me_toos:
        for member in members:
            if member != first.author:
                MeToo.objects.create(impossible=first, participant=member)
        Impossible.objects.filter(pk=first.pk).update(me_too_count=people - 1)
    for i in range(offers):
        HelpOffer.objects.create(
            impossible=first,
            author=members[(i + 1) % people],
            kind=HelpKind.EXPERTISE,
            message="Aide",
            submission_key=f"o{i}",
        )
    for i, status in enumerate(actions):
        pilot = Pilot.objects.create(atelier=atelier, name=f"Pilote {i}", organisation=f"Mairie {atelier.code}")
        PlanAction.objects.create(
            atelier=atelier,
            impossible=first,
            title=f"Action {status} {atelier.code}",
            pilot=pilot,
            status=status,
            submission_key=f"a{i}",
        )
    return posted


def big_season(welders: Theme, *, scale: int = 1) -> None:
    """Enough ateliers in Charente (16) and Gironde (33) for their cells to
    be shown; `scale` ateliers per commune listed."""
    for departement in ("16", "33"):
        for insee in COMMUNES[departement] * scale:
            room(
                atelier(insee),
                people=3,
                theme=welders,
                offers=1,
                actions=(ActionStatus.DONE, ActionStatus.IN_PROGRESS),
            )


def compute() -> tuple[int, int]:
    return figures.compute()
