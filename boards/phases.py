"""What participants may do in each phase of an atelier.

One table, read by the services (which refuse writes) and by the pages
(which hide what cannot be done). The facilitator moves the atelier from
phase to phase, forwards or back; locking the board overrides everything.
"""

from __future__ import annotations

from enum import StrEnum

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Phase(models.TextChoices):
    WELCOME = "accueil", pgettext_lazy("phase", "Accueil")
    IMPOSSIBLES = "impossibles", pgettext_lazy("phase", "Impossibles")
    ME_TOO = "moi_aussi", pgettext_lazy("phase", "Moi aussi")
    HELP = "entraide", pgettext_lazy("phase", "Entraide")
    PLAN = "plan", pgettext_lazy("phase", "Plan d'action")
    CLOSED = "clos", pgettext_lazy("phase", "Clos")


class Action(StrEnum):
    JOIN = "join"
    POST = "post"
    ME_TOO = "me_too"
    OFFER = "offer"


ALLOWED: dict[str, frozenset[Action]] = {
    Phase.WELCOME: frozenset({Action.JOIN}),
    Phase.IMPOSSIBLES: frozenset({Action.JOIN, Action.POST, Action.ME_TOO, Action.OFFER}),
    Phase.ME_TOO: frozenset({Action.JOIN, Action.ME_TOO, Action.OFFER}),
    Phase.HELP: frozenset({Action.JOIN, Action.ME_TOO, Action.OFFER}),
    Phase.PLAN: frozenset({Action.JOIN, Action.OFFER}),
    Phase.CLOSED: frozenset(),
}

# What the room is invited to do, shown on phones and on the projector.
INVITATION = {
    Phase.WELCOME: _("Bienvenue ! Rejoignez l'atelier : l'animation va commencer."),
    Phase.IMPOSSIBLES: _("Postez ce qui vous semble impossible, dites « moi aussi », proposez votre aide."),
    Phase.ME_TOO: _("Lisez les impossibles et dites « moi aussi » quand vous le vivez aussi."),
    Phase.HELP: _("Proposez votre aide : un contact, une expertise, une ressource."),
    Phase.PLAN: _("Nous construisons ensemble le plan d'action local."),
    Phase.CLOSED: _("L'atelier est clos. Merci à toutes et à tous !"),
}

REFUSAL = {
    Action.JOIN: _("L'atelier est clos : il n'est plus possible de le rejoindre."),
    Action.POST: _("On ne poste pas de nouvel impossible pendant cette phase."),
    Action.ME_TOO: _("Les « moi aussi » sont fermés pendant cette phase."),
    Action.OFFER: _("Les propositions d'aide sont fermées pendant cette phase."),
}
LOCKED = _("Le tableau est verrouillé par l'animation : il est en lecture seule pour le moment.")


# Facilitators build the plan in its phase and keep tidying it once the
# atelier is closed; authors (when allowed) only while the room plans.
PLANNING_PHASES = frozenset({Phase.PLAN, Phase.CLOSED})
PLAN_CLOSED = _("Les actions se construisent pendant la phase « Plan d'action ».")
AUTHORS_NOT_ALLOWED = _("L'animation n'a pas ouvert la création d'actions aux auteurs.")


def allows(phase: str, locked: bool, action: Action) -> bool:
    if locked and action is not Action.JOIN:
        return False
    return action in ALLOWED.get(phase, frozenset())


def refusal(locked: bool, action: Action) -> str:
    return str(LOCKED if locked and action is not Action.JOIN else REFUSAL[action])


def closed_reasons(phase: str, locked: bool) -> list[str]:
    """Why « moi aussi » or offers of help are closed right now, for the
    phones' buttons to point at (empty when both are open)."""
    if locked:
        return [str(LOCKED)]
    return [str(REFUSAL[action]) for action in (Action.ME_TOO, Action.OFFER) if not allows(phase, locked, action)]


def capabilities(phase: str, locked: bool) -> dict[str, bool]:
    """For templates: {"post": True, "me_too": False, ...}."""
    return {action.value: allows(phase, locked, action) for action in Action}
