"""Create the demo atelier: a living board a newcomer can open at once."""

from __future__ import annotations

import secrets
from datetime import datetime, time, timedelta

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from boards.models import ActionStatus, Atelier, Category, HelpKind, Role
from boards.observatoire import demo as season
from boards.phases import Phase
from boards.services import facilitation, participation, plan

DEMO_CODE = "CGNC16"
# A past atelier whose plan is being followed up: pilots' updates, overdue
# actions, the facilitator's list of past ateliers.
PAST_CODE = "JRNC16"
# A demo account for trying the facilitator's side; only this command makes it.
DEMO_FACILITATOR = ("animation", "atelier-demo")

PEOPLE = {
    "marie": ("Marie Lefèvre", "Chaudronnerie Lefèvre", Role.ENTREPRENEUR),
    "karim": ("Karim Benali", "Verrerie des Charentes", Role.ENTREPRENEUR),
    "sophie": ("Sophie Martin", "Mairie de Cognac", Role.ELECTED),
    "jean": ("Jean-Pierre Roux", "DDETS de la Charente", Role.PUBLIC_AGENT),
    "claire": ("Claire Dubois", "Tonnellerie Dubois", Role.ENTREPRENEUR),
    "thomas": ("Thomas Girard", "Initiative Charente", Role.PEER),
    "nadia": ("Nadia Haddad", "Atelier Haddad Menuiserie", Role.ENTREPRENEUR),
    "luc": ("Luc Moreau", "Sous-préfecture de Cognac", Role.PUBLIC_AGENT),
    "helene": ("Hélène Blanchard", "Conseil départemental de la Charente", Role.ELECTED),
    "paul": ("Paul Fontaine", "Fontaine Transports", Role.PEER),
    "isabelle": ("Isabelle Garnier", "CCI Charente", Role.PEER),
    "antoine": ("Antoine Petit", "Distillerie Petit & Fils", Role.ENTREPRENEUR),
}

# (key, author, statement, details, category, anonymous, me-toos, offers)
IMPOSSIBLES = [
    (
        "soudeurs",
        "marie",
        "Impossible de recruter des soudeurs qualifiés à moins de 50 km",
        "Trois postes ouverts depuis huit mois. Les candidats formés partent à Bordeaux ou chez les grands "
        "donneurs d'ordre. Nous pourrions former en interne, mais personne ne sait par où commencer.",
        Category.RECRUITMENT,
        False,
        ["claire", "nadia", "antoine", "paul"],
        [
            (
                "jean",
                HelpKind.ADMINISTRATION,
                "La POEI finance jusqu'à 400 h de formation avant embauche : on monte le dossier ensemble.",
                "jp.roux@example.org",
            ),
            (
                "isabelle",
                HelpKind.INTRODUCTION,
                "Le lycée pro de Barbezieux cherche des entreprises pour ses apprentis en chaudronnerie.",
                "06 12 34 56 78",
            ),
        ],
    ),
    (
        "vodka",
        "karim",
        "Impossible de vendre nos bouteilles à autre chose qu'au cognac",
        "Nous fabriquons les plus belles bouteilles du monde pour le cognac. Or tout est dans la bouteille : "
        "nous pourrions embouteiller de la vodka, du gin, des spiritueux d'ailleurs. Il nous manque les contacts "
        "et un premier client pour oser.",
        Category.BUSINESS_MODEL,
        False,
        ["antoine", "claire", "thomas"],
        [
            (
                "antoine",
                HelpKind.SOLVED,
                "Nous avons lancé un gin en 2021 : je vous raconte nos erreurs et nos fournisseurs.",
                "antoine@distillerie-petit.example",
            ),
        ],
    ),
    (
        "permis",
        "nadia",
        "Impossible d'obtenir le permis de construire pour agrandir l'atelier",
        "Dossier déposé il y a onze mois, bloqué à la préfecture pour une question de zone inondable. "
        "Personne ne répond à nos courriers.",
        Category.REGULATION,
        False,
        ["marie", "claire"],
        [
            (
                "luc",
                HelpKind.ADMINISTRATION,
                "Je regarde le dossier lundi et vous propose un rendez-vous avec le service instructeur.",
                "luc.moreau@example.gouv.fr",
            ),
        ],
    ),
    (
        "pret",
        "claire",
        "Impossible d'obtenir un prêt pour une machine à 300 000 €",
        "La banque refuse : trop gros pour notre bilan, alors que la machine doublerait notre production de merrains.",
        Category.FUNDING,
        False,
        ["marie", "nadia", "antoine", "karim", "paul"],
        [
            ("thomas", HelpKind.RESOURCE, "Un prêt d'honneur Initiative peut faire levier auprès de la banque.", ""),
            (
                "helene",
                HelpKind.EXPERTISE,
                "Le Département co-finance l'investissement productif : on regarde l'éligibilité.",
                "h.blanchard@example.fr",
            ),
        ],
    ),
    (
        "logement",
        "antoine",
        "Impossible de loger nos saisonniers pendant les vendanges",
        "",
        Category.MOBILITY,
        False,
        ["claire", "paul"],
        [],
    ),
    (
        "foncier",
        "paul",
        "Impossible de trouver un terrain de 5 000 m² pour un nouveau dépôt",
        "",
        Category.PREMISES,
        False,
        ["nadia"],
        [
            (
                "sophie",
                HelpKind.INTRODUCTION,
                "La zone du Mas-de-la-Cour a deux lots libres : je vous présente le service économique.",
                "",
            ),
        ],
    ),
    (
        "energie",
        "marie",
        "Impossible d'absorber la hausse du prix de l'électricité",
        "Notre facture a triplé. Les fours tournent la nuit, mais nos contrats ne suivent pas.",
        Category.ENERGY,
        False,
        ["claire", "antoine", "karim", "nadia"],
        [],
    ),
    (
        "export",
        "antoine",
        "Impossible de trouver un importateur fiable au Japon",
        "",
        Category.MARKET,
        False,
        ["karim"],
        [
            (
                "isabelle",
                HelpKind.INTRODUCTION,
                "Team France Export a une conseillère Japon : je vous mets en relation.",
                "isabelle.garnier@example.fr",
            ),
        ],
    ),
    (
        "transmission",
        "claire",
        "Impossible de trouver un repreneur pour l'entreprise de mon père",
        "",
        Category.OTHER,
        True,
        ["antoine"],
        [],
    ),
    (
        "apprentis",
        "nadia",
        "Impossible de garder nos apprentis après leur diplôme",
        "Ils partent faute de logement abordable et de transport pour venir jusqu'à l'atelier.",
        Category.RECRUITMENT,
        False,
        ["marie", "claire"],
        [],
    ),
    (
        "marches",
        "paul",
        "Impossible de répondre aux marchés publics : trop de paperasse pour une PME",
        "",
        Category.REGULATION,
        False,
        ["nadia", "marie", "antoine"],
        [
            (
                "sophie",
                HelpKind.EXPERTISE,
                "La Ville organise un atelier « marchés publics simplifiés » le mois prochain.",
                "",
            ),
            ("jean", HelpKind.SOLVED, "Les marchés de moins de 40 000 € se passent sans publicité : parlons-en.", ""),
        ],
    ),
    (
        "chaleur",
        "antoine",
        "Impossible de valoriser la chaleur de nos alambics",
        "Nos alambics chauffent l'air pendant cinq mois. Une serre, une piscine, un séchoir à bois voisin ?",
        Category.ENERGY,
        False,
        [],
        [],
    ),
]


# (impossible, title, pilot (person or (name, organisation)), helpers, next step,
#  due (days after the atelier), pilot's updates since)
PAST_ACTIONS = [
    (
        "soudeurs",
        "Monter une POEI « soudure » avec le lycée de Barbezieux",
        "marie",
        ["jean", "isabelle"],
        "Réunion de lancement avec France Travail et le lycée",
        45,
        [
            (ActionStatus.IN_PROGRESS, "Dossier POEI déposé, réponse attendue"),
            (ActionStatus.DONE, "Trois soudeurs en formation depuis le 2 du mois"),
        ],
    ),
    (
        "soudeurs",
        "Recenser les soudeurs retraités prêts à transmettre",
        ("Mairie de Cognac", "Service développement économique"),
        [],
        "Annonce dans le bulletin municipal",
        30,
        [(ActionStatus.IN_PROGRESS, "Annonce parue, deux réponses")],
    ),
    (
        "permis",
        "Rendez-vous commun sous-préfecture / DDT sur le permis de l'atelier",
        "luc",
        [],
        "Fixer la date avec la DDT",
        20,
        [],
    ),
    (
        "pret",
        "Présenter le dossier au comité d'engagement Initiative Charente",
        "claire",
        ["thomas", "helene"],
        "Compléter le prévisionnel",
        120,
        [(ActionStatus.IN_PROGRESS, "Prévisionnel envoyé à Thomas")],
    ),
]


def _key() -> str:
    return secrets.token_urlsafe(16)


class Command(BaseCommand):
    help = (
        "Create the demo atelier « Atelier de l'impossible — Cognac » with a living board, "
        "and a past season of ateliers for the observatoire."
    )

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="Delete and recreate the demo atelier.")

    def handle(self, *args, reset: bool = False, **options):
        username, password = DEMO_FACILITATOR
        user, created = User.objects.get_or_create(
            username=username, defaults={"first_name": "Camille", "last_name": "Animation"}
        )
        if created:
            user.set_password(password)
            user.save()
        for code, create in ((DEMO_CODE, self._create), (PAST_CODE, self._create_past)):
            existing = Atelier.objects.filter(code=code).first()
            if existing and not reset:
                self.stdout.write(f"Demo atelier already there: /a/{code}/")
                continue
            with transaction.atomic():
                if existing:
                    facilitation.delete_atelier(existing)
                atelier = create(user)
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo atelier « {atelier.title} » ready: code {atelier.code}, "
                    f"{atelier.impossibles.count()} impossibles, {atelier.actions.count()} actions."
                )
            )
        if season.exists() and reset:
            season.delete()
        if season.exists():
            self.stdout.write("Demo season already there: /observatoire/")
        else:
            count = season.load(user)
            self.stdout.write(self.style.SUCCESS(f"Demo season: {count} past ateliers, see /observatoire/"))
        self.stdout.write(f"Demo facilitator: {username} / {password}")

    def _create(self, user) -> Atelier:
        tonight = datetime.combine(timezone.localdate() + timedelta(days=1), time(18, 30))
        atelier = facilitation.create_atelier(
            user,
            code=DEMO_CODE,
            title="Atelier de l'impossible — Cognac",
            territory="Cognac, Charente (16)",
            insee_code="16102",
            venue="Salle des Distilleries, Cognac",
            starts_at=timezone.make_aware(tonight),
        )
        # The evening is under way: the room posts its impossibles.
        facilitation.set_phase(atelier.pk, Phase.IMPOSSIBLES)
        self._fill(atelier)
        return atelier

    def _create_past(self, user) -> Atelier:
        day = timezone.localdate() - timedelta(days=75)
        atelier = facilitation.create_atelier(
            user,
            code=PAST_CODE,
            title="Atelier de l'impossible — Jarnac",
            territory="Jarnac, Charente (16)",
            insee_code="16167",
            venue="Maison des associations, Jarnac",
            starts_at=timezone.make_aware(datetime.combine(day, time(18, 30))),
        )
        facilitation.set_phase(atelier.pk, Phase.IMPOSSIBLES)
        impossibles, people = self._fill(atelier)
        facilitation.set_phase(atelier.pk, "plan")
        facilitator = plan.Actor.facilitator(user)
        for key, title, pilot, helpers, next_step, due_in_days, updates in PAST_ACTIONS:
            impossible = impossibles[key]
            offers = {offer.author_id: offer.pk for offer in impossible.offers.all()}
            action = plan.create_action(
                atelier.pk,
                impossible.pk,
                actor=facilitator,
                title=title,
                pilot=plan.PilotChoice(participant_id=people[pilot].pk)
                if pilot in people
                else plan.PilotChoice(name=pilot[0], organisation=pilot[1]),
                helpers=[offers[people[helper].pk] for helper in helpers],
                next_step=next_step,
                due_on=day + timedelta(days=due_in_days),
                submission_key=_key(),
            )
            for status, step in updates:
                plan.follow_up(action.pilot, action.pk, status=status, next_step=step)
        facilitation.set_phase(atelier.pk, "clos")
        return atelier

    def _fill(self, atelier: Atelier):
        people = {
            key: participation.join_atelier(atelier, name=name, organisation=org, role=role)
            for key, (name, org, role) in PEOPLE.items()
        }
        impossibles = {}
        for key, author, statement, details, category, anonymous, me_toos, offers in IMPOSSIBLES:
            impossible = impossibles[key] = participation.post_impossible(
                people[author],
                statement=statement,
                details=details,
                category=category,
                anonymous=anonymous,
                submission_key=_key(),
            )
            for person in me_toos:
                participation.set_me_too(people[person], impossible.pk, on=True)
            for person, kind, message, contact in offers:
                participation.offer_help(
                    people[person], impossible.pk, kind=kind, message=message, contact=contact, submission_key=_key()
                )
        return impossibles, people
