"""A season of ateliers for the demo (`manage.py load_demo`), so that the
observatoire has something to show on first run: closed ateliers across
several départements and régions, three quarters of 2026, five accepted
themes. Generated from a fixed seed through the services, like a real
season: the same season every time.
"""

from __future__ import annotations

import datetime
import random
import secrets

from django.db import transaction
from django.utils import timezone

from boards.models import ActionStatus, Atelier, HelpKind, Reach, Role, Theme
from boards.observatoire import figures
from boards.phases import Phase
from boards.services import facilitation, participation, plan
from boards.services import observatoire as curation

CODE_PREFIX = "SZN"
SEED = 2026

# (theme name, category, statements as people put it)
THEMES = [
    (
        "Recruter des soudeurs et des chaudronniers",
        "recrutement",
        [
            "Impossible de recruter des soudeurs qualifiés",
            "On ne trouve pas de chaudronniers dans le bassin",
            "Aucun candidat soudeur depuis un an",
            "Nos soudeurs formés partent chez les grands donneurs d'ordre",
        ],
    ),
    (
        "Trouver un local d'activité",
        "foncier",
        [
            "Impossible de trouver un atelier de 300 m² à louer",
            "Aucun local commercial disponible en centre-bourg",
            "Les zones d'activité sont pleines",
            "Pas de bâtiment pour nous agrandir à moins de 30 km",
        ],
    ),
    (
        "Financer un premier investissement",
        "financement",
        [
            "La banque refuse de financer notre première machine",
            "Impossible d'obtenir un prêt sans caution personnelle",
            "Les aides arrivent six mois après la dépense",
            "Aucun financement pour un prototype",
        ],
    ),
    (
        "Loger les salariés et les alternants",
        "mobilite",
        [
            "Nos alternants ne trouvent pas de logement",
            "Impossible de loger les saisonniers près de l'usine",
            "Les candidats refusent le poste faute de logement",
            "Pas de transport pour venir travailler à l'aube",
        ],
    ),
    (
        "Comprendre les autorisations et les normes",
        "reglementation",
        [
            "Impossible de savoir quelle autorisation demander",
            "Trois administrations nous demandent trois dossiers différents",
            "Les normes changent avant la fin de nos travaux",
            "Personne ne répond sur notre permis d'exploiter",
        ],
    ),
]

# (INSEE code, ateliers per quarter): three départements with several
# ateliers each quarter (shown at the département), and a few ateliers here
# and there (rolled up into their région's or the nation's remainder).
PLACES = [
    (["16102", "16015", "16167"], 1),
    (["33063", "33281", "33318"], 1),
    (["44109", "44184", "44143"], 1),
    (["17299", "86066"], 1),
    (["35238", "13055", "69123", "59350", "97411"], 0),
]
QUARTERS = [datetime.date(2026, 5, 12), datetime.date(2026, 9, 22), datetime.date(2026, 11, 17)]
ROLES = [Role.ENTREPRENEUR, Role.ENTREPRENEUR, Role.ENTREPRENEUR, Role.ELECTED, Role.PUBLIC_AGENT, Role.PEER]
REACHES = [Reach.COUNTED] * 6 + [Reach.PUBLISHABLE] * 3 + [Reach.ROOM]
ACTIONS = [
    "Monter une formation avec le lycée professionnel",
    "Réunir les propriétaires de locaux vacants",
    "Présenter le dossier au comité d'engagement de la Région",
    "Ouvrir des logements pour alternants avec la mairie",
    "Organiser un guichet unique avec la sous-préfecture",
]


def _key() -> str:
    return secrets.token_urlsafe(12)


def exists() -> bool:
    return Atelier.objects.filter(code__startswith=CODE_PREFIX).exists()


def delete() -> None:
    for atelier in Atelier.objects.filter(code__startswith=CODE_PREFIX):
        facilitation.delete_atelier(atelier)
    Theme.objects.filter(name__in=[name for name, _, _ in THEMES]).delete()


def load(user) -> int:
    """Create the season, its themes and figures; returns how many ateliers."""
    chance = random.Random(SEED)
    posted: dict[int, list[int]] = {index: [] for index in range(len(THEMES))}
    count = 0
    with transaction.atomic():
        for quarter_index, day in enumerate(QUARTERS):
            for communes, per_quarter in PLACES:
                chosen = communes if per_quarter else [communes[quarter_index % len(communes)]]
                for insee in chosen:
                    count += 1
                    atelier = _atelier(user, insee, day + datetime.timedelta(days=count % 5), count)
                    for theme_index, impossible_id in _evening(atelier, user, chance):
                        posted[theme_index].append(impossible_id)
        for index, (name, category, _statements) in enumerate(THEMES):
            theme = curation.suggest_theme(name, category, posted[index])
            curation.accept(theme)
    figures.compute()
    return count


def _atelier(user, insee: str, day: datetime.date, number: int) -> Atelier:
    moment = timezone.make_aware(datetime.datetime.combine(day, datetime.time(18, 30)))
    return facilitation.create_atelier(
        user,
        code=f"{CODE_PREFIX}{number:03d}",
        title=f"Atelier de l'impossible n° {number}",
        insee_code=insee,
        starts_at=moment,
    )


def _evening(atelier: Atelier, user, chance: random.Random) -> list[tuple[int, int]]:
    facilitation.set_phase(atelier.pk, Phase.IMPOSSIBLES)
    people = [
        participation.join_atelier(atelier, name=f"Participant·e {i + 1}", organisation="", role=role)
        for i, role in enumerate(chance.sample(ROLES, k=len(ROLES)))
    ]
    found = []
    for theme_index in chance.sample(range(len(THEMES)), k=4):
        statement = chance.choice(THEMES[theme_index][2])
        author = chance.choice(people)
        impossible = participation.post_impossible(
            author,
            statement=statement,
            category=THEMES[theme_index][1],
            reach=chance.choice(REACHES),
            submission_key=_key(),
        )
        for person in chance.sample(people, k=chance.randint(1, 4)):
            if person != author:
                participation.set_me_too(person, impossible.pk, on=True)
        if chance.random() < 0.5:
            helper = chance.choice([p for p in people if p != author])
            participation.offer_help(
                helper,
                impossible.pk,
                kind=HelpKind.INTRODUCTION,
                message="Je connais quelqu'un.",
                submission_key=_key(),
            )
        found.append((theme_index, impossible))
    facilitation.set_phase(atelier.pk, Phase.PLAN)
    facilitator = plan.Actor.facilitator(user)
    for theme_index, impossible in chance.sample(found, k=2):
        plan.create_action(
            atelier.pk,
            impossible.pk,
            actor=facilitator,
            title=ACTIONS[theme_index],
            pilot=plan.PilotChoice(name="Pilote", organisation=""),
            status=chance.choice([ActionStatus.DONE, ActionStatus.DONE, ActionStatus.IN_PROGRESS, ActionStatus.TODO]),
            submission_key=_key(),
        )
    if chance.random() < 0.6:
        plan.publish_plan(atelier.pk)
    facilitation.set_phase(atelier.pk, Phase.CLOSED)
    return [(theme_index, impossible.pk) for theme_index, impossible in found]
