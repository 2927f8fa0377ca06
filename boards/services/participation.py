"""Participants' actions: join, post, "moi aussi", offer help."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext as _

from boards import phases
from boards.live import publish
from boards.live.protocol import Event
from boards.models import Atelier, HelpOffer, Impossible, MeToo, Participant, Precision, Reach
from boards.phases import Action, Phase
from boards.services.core import (
    NotFound,
    Refused,
    begin_write,
    check_submission_key,
    get_impossible,
    refused_now,
    require,
)
from boards.services.core import clean as _clean
from boards.similarity import engine
from cerveau.prepared import Prepared

# A room joins at once: the phase a join checks is read compiled once (cerveau/prepared.py).
_phase_of = Prepared(lambda atelier: Atelier.objects.filter(pk=atelier).only("phase", "locked"))


def join_atelier(atelier: Atelier, *, name: str, organisation: str, role: str) -> Participant:
    participant = Participant(atelier=atelier, name=name.strip(), organisation=organisation.strip(), role=role)
    # The atelier is checked by reading it again below, not by a query of its own.
    _clean(participant, exclude=["atelier"])
    current = _phase_of.one(atelier.pk)
    if current is None:
        raise NotFound
    atelier.phase, atelier.locked = current.phase, current.locked
    # Joining changes nothing on the board (no version): the phase is only read.
    if atelier.phase == Phase.CLOSED:
        raise Refused(phases.refusal(False, Action.JOIN), code="phase")
    participant.save()
    return participant


def update_participant(participant: Participant, *, name: str, organisation: str, role: str) -> Participant:
    participant.name = name.strip()
    participant.organisation = organisation.strip()
    participant.role = role
    _clean(participant)
    with transaction.atomic():
        version = begin_write(participant.atelier_id).version
        participant.save(update_fields=["name", "organisation", "role"])
        publish.on_commit(
            participant.atelier_id, version, {"type": Event.PARTICIPANT_UPDATED, "participant": participant.pk}
        )
    return participant


def _already_sent(model: type[Impossible | HelpOffer | Precision], participant: Participant, key: str):
    """What this participant already wrote with this submission key (a double
    tap, a retry, a replay from the phone's outbox), or None."""
    return model.objects.filter(author=participant, submission_key=key).first()


def post_impossible(
    participant: Participant,
    *,
    statement: str,
    details: str = "",
    category: str,
    anonymous: bool = False,
    reach: str = Reach.COUNTED,
    submission_key: str,
) -> Impossible:
    key = check_submission_key(submission_key)
    impossible = Impossible(
        atelier_id=participant.atelier_id,
        author=participant,
        statement=statement.strip(),
        details=details.strip(),
        category=category,
        anonymous=anonymous,
        reach=reach,
        submission_key=key,
    )
    _clean(impossible, exclude=["atelier", "author"])
    if category not in participant.atelier.categories:
        raise ValidationError({"category": _("Cette catégorie n'est pas proposée dans cet atelier.")})
    if refusal := refused_now(participant.atelier_id, Action.POST):
        # A retry of a post that made it stays a success, as under the lock.
        existing = _already_sent(Impossible, participant, key)
        if existing is not None:
            return existing
        raise refusal
    with transaction.atomic():
        state = begin_write(participant.atelier_id)
        existing = _already_sent(Impossible, participant, key)
        if existing is not None:
            # A repeated submission: nothing changes, so the bump is undone.
            transaction.set_rollback(True)
            return existing
        require(state, Action.POST)
        impossible.pending = state.premoderation
        impossible.save()
        # Its « Ça ressemble à… » features, once committed (a pending one is
        # ready the moment it is approved). Never fails nor undoes the post.
        engine.refresh_on_commit(impossible.pk)
        event = Event.IMPOSSIBLE_SUBMITTED if impossible.pending else Event.IMPOSSIBLE_POSTED
        publish.on_commit(participant.atelier_id, state.version, {"type": event, "impossible": impossible.pk})
    return impossible


def set_me_too(participant: Participant, impossible_id: int, *, on: bool) -> Impossible:
    """Say (on=True) or withdraw (on=False) "moi aussi". Idempotent: it sets a
    state rather than toggling, so a retried request changes nothing."""
    if refusal := refused_now(participant.atelier_id, Action.ME_TOO):
        get_impossible(participant.atelier_id, impossible_id)  # unknown or hidden: NotFound first, as under the lock
        raise refusal
    with transaction.atomic():
        state = begin_write(participant.atelier_id)
        impossible = get_impossible(participant.atelier_id, impossible_id)
        require(state, Action.ME_TOO)
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
        publish.on_commit(
            participant.atelier_id, state.version, {"type": Event.ME_TOO_CHANGED, "impossible": impossible.pk}
        )
    return impossible


def offer_help(
    participant: Participant,
    impossible_id: int,
    *,
    kind: str,
    message: str,
    contact: str = "",
    contact_for_pilots: bool = False,
    submission_key: str,
) -> HelpOffer:
    key = check_submission_key(submission_key)
    offer = HelpOffer(
        author=participant,
        kind=kind,
        message=message.strip(),
        contact=contact.strip(),
        contact_for_pilots=contact_for_pilots and bool(contact.strip()),
        submission_key=key,
    )
    _clean(offer, exclude=["impossible", "author"])
    if refusal := refused_now(participant.atelier_id, Action.OFFER):
        get_impossible(participant.atelier_id, impossible_id)
        existing = _already_sent(HelpOffer, participant, key)
        if existing is not None:
            return existing
        raise refusal
    with transaction.atomic():
        state = begin_write(participant.atelier_id)
        impossible = get_impossible(participant.atelier_id, impossible_id)
        existing = _already_sent(HelpOffer, participant, key)
        if existing is not None:
            transaction.set_rollback(True)
            return existing
        require(state, Action.OFFER)
        offer.impossible = impossible
        offer.save()
        Impossible.objects.filter(pk=impossible.pk).update(offer_count=F("offer_count") + 1)
        publish.on_commit(
            participant.atelier_id,
            state.version,
            {"type": Event.OFFER_POSTED, "impossible": impossible.pk, "offer": offer.pk},
        )
    return offer


def add_precision(
    participant: Participant,
    impossible_id: int,
    *,
    text: str,
    anonymous: bool = False,
    submission_key: str,
) -> Precision:
    """Add what a participant wrote to an impossible they said was theirs too
    (« Ça ressemble à… »), instead of posting a duplicate. Allowed when
    « moi aussi » is. The key is the one of the post it replaces: a repeated
    submission returns the précision already added."""
    key = check_submission_key(submission_key)
    precision = Precision(author=participant, text=text.strip(), anonymous=anonymous, submission_key=key)
    _clean(precision, exclude=["impossible", "author"])
    if refusal := refused_now(participant.atelier_id, Action.ME_TOO):
        get_impossible(participant.atelier_id, impossible_id)
        existing = _already_sent(Precision, participant, key)
        if existing is not None:
            return existing
        raise refusal
    with transaction.atomic():
        state = begin_write(participant.atelier_id)
        impossible = get_impossible(participant.atelier_id, impossible_id)
        existing = _already_sent(Precision, participant, key)
        if existing is not None:
            transaction.set_rollback(True)
            return existing
        require(state, Action.ME_TOO)
        precision.impossible = impossible
        precision.save()
        publish.on_commit(
            participant.atelier_id, state.version, {"type": Event.PRECISIONS_CHANGED, "impossible": impossible.pk}
        )
    return precision
