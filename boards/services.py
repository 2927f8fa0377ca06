"""The one write path: every change to a board goes through a function here.

Each action validates its domain rules, writes inside one transaction that
also bumps the atelier's version, and schedules its broadcast for after the
commit. HTTP views and WebSocket consumers call these; nothing else writes.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext as _

from boards import broadcast
from boards.models import Atelier, HelpOffer, Impossible, MeToo, Participant

SUBMISSION_KEY_MAX = 64


class NotFound(Exception):
    """The target does not exist for this atelier (unknown, hidden or foreign id)."""


def _bump_version(atelier_id: int) -> int:
    """Bump the atelier's version and return the new value.

    Called first in every write transaction: on PostgreSQL the UPDATE takes
    the atelier row lock, so writes to one atelier commit in version order
    and a client can trust "version N+1 follows N".
    """
    Atelier.objects.filter(pk=atelier_id).update(version=F("version") + 1)
    return Atelier.objects.values_list("version", flat=True).get(pk=atelier_id)


def _clean(instance, exclude: list[str] | None = None) -> None:
    # Model validation is the authority for lengths, blanks and choices, so a
    # request that bypasses the HTML form gets the same rules.
    instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)


def _check_submission_key(key: str) -> str:
    key = (key or "").strip()
    if not key or len(key) > SUBMISSION_KEY_MAX:
        raise ValidationError({"submission_key": _("Formulaire expiré : rechargez la page et réessayez.")})
    return key


def join_atelier(atelier: Atelier, *, name: str, organisation: str, role: str) -> Participant:
    participant = Participant(atelier=atelier, name=name.strip(), organisation=organisation.strip(), role=role)
    _clean(participant)
    participant.save()
    return participant


def update_participant(participant: Participant, *, name: str, organisation: str, role: str) -> Participant:
    participant.name = name.strip()
    participant.organisation = organisation.strip()
    participant.role = role
    _clean(participant)
    with transaction.atomic():
        version = _bump_version(participant.atelier_id)
        participant.save(update_fields=["name", "organisation", "role"])
        broadcast.on_commit(
            participant.atelier_id, version, {"type": "participant.updated", "participant": participant.pk}
        )
    return participant


def post_impossible(
    participant: Participant,
    *,
    statement: str,
    details: str = "",
    category: str,
    anonymous: bool = False,
    submission_key: str,
) -> Impossible:
    key = _check_submission_key(submission_key)
    impossible = Impossible(
        atelier_id=participant.atelier_id,
        author=participant,
        statement=statement.strip(),
        details=details.strip(),
        category=category,
        anonymous=anonymous,
        submission_key=key,
    )
    _clean(impossible, exclude=["atelier", "author"])
    with transaction.atomic():
        version = _bump_version(participant.atelier_id)
        existing = Impossible.objects.filter(author=participant, submission_key=key).first()
        if existing is not None:
            # A repeated submission: nothing changes, so the bump is undone.
            transaction.set_rollback(True)
            return existing
        impossible.save()
        broadcast.on_commit(participant.atelier_id, version, {"type": "impossible.posted", "impossible": impossible.pk})
    return impossible


def _visible_impossible(participant: Participant, impossible_id: int) -> Impossible:
    try:
        return Impossible.objects.get(pk=impossible_id, atelier_id=participant.atelier_id, hidden=False)
    except (Impossible.DoesNotExist, ValueError, TypeError):
        raise NotFound from None


def set_me_too(participant: Participant, impossible_id: int, *, on: bool) -> Impossible:
    """Say (on=True) or withdraw (on=False) "moi aussi". Idempotent: it sets a
    state rather than toggling, so a retried request changes nothing."""
    with transaction.atomic():
        version = _bump_version(participant.atelier_id)
        impossible = _visible_impossible(participant, impossible_id)
        if on:
            try:
                # The unique constraint, not a prior SELECT, decides: two
                # concurrent taps of one participant cannot both insert.
                with transaction.atomic():
                    MeToo.objects.create(impossible=impossible, participant=participant)
                changed = True
            except IntegrityError:
                changed = False
        else:
            changed = MeToo.objects.filter(impossible=impossible, participant=participant).delete()[0] > 0
        if not changed:
            transaction.set_rollback(True)
            return impossible
        Impossible.objects.filter(pk=impossible.pk).update(me_too_count=F("me_too_count") + (1 if on else -1))
        impossible.refresh_from_db(fields=["me_too_count"])
        broadcast.on_commit(participant.atelier_id, version, {"type": "metoo.changed", "impossible": impossible.pk})
    return impossible


def offer_help(
    participant: Participant,
    impossible_id: int,
    *,
    kind: str,
    message: str,
    contact: str = "",
    submission_key: str,
) -> HelpOffer:
    key = _check_submission_key(submission_key)
    offer = HelpOffer(
        author=participant,
        kind=kind,
        message=message.strip(),
        contact=contact.strip(),
        submission_key=key,
    )
    _clean(offer, exclude=["impossible", "author"])
    with transaction.atomic():
        version = _bump_version(participant.atelier_id)
        impossible = _visible_impossible(participant, impossible_id)
        existing = HelpOffer.objects.filter(author=participant, submission_key=key).first()
        if existing is not None:
            transaction.set_rollback(True)
            return existing
        offer.impossible = impossible
        offer.save()
        Impossible.objects.filter(pk=impossible.pk).update(offer_count=F("offer_count") + 1)
        broadcast.on_commit(
            participant.atelier_id, version, {"type": "offer.posted", "impossible": impossible.pk, "offer": offer.pk}
        )
    return offer
