"""A participant's own data: what is kept about them, a copy, and forgetting
them; and the purge of the contacts shared in offers once an atelier is over.

Forgetting keeps the board honest: the impossibles, « moi aussi » and offers
stay (the room built on them, and every count stays true), but nothing
points to the person any more: their name and organisation are replaced,
their impossibles become anonymous, the contacts they left are erased, and
the plan's history no longer names them. Exports are built from the same
rows, so they follow.
"""

from __future__ import annotations

import datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from boards.live import publish
from boards.live.protocol import Event
from boards.locale import atelier_locale
from boards.models import (
    ActionChange,
    Atelier,
    HelpOffer,
    Impossible,
    MeToo,
    Participant,
    Pilot,
    Precision,
    Presence,
    Reach,
)
from boards.phases import Phase
from boards.services.core import begin_write

DATA_FORMAT_VERSION = 1


def retention_days() -> int:
    """Days after an atelier is over before the contacts in its offers go."""
    return settings.CONTACT_RETENTION_DAYS


def _moment(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value else None


def participant_data(participant: Participant) -> dict[str, Any]:
    """Everything the app keeps about one participant, as JSON-ready data."""
    atelier = participant.atelier
    impossibles = Impossible.objects.filter(author=participant).order_by("created_at")
    me_toos = MeToo.objects.filter(participant=participant).select_related("impossible").order_by("created_at")
    offers = HelpOffer.objects.filter(author=participant).select_related("impossible").order_by("created_at")
    precisions = Precision.objects.filter(author=participant).select_related("impossible").order_by("created_at")
    pilot = Pilot.objects.filter(participant=participant).first()
    return {
        "format": "cerveau-collectif/participant-data",
        "version": DATA_FORMAT_VERSION,
        "exported_at": timezone.now().isoformat(),
        "atelier": {"title": atelier.title, "code": atelier.code, "starts_at": _moment(atelier.starts_at)},
        "participant": {
            "name": participant.name,
            "organisation": participant.organisation,
            "role": participant.role,
            "joined_at": _moment(participant.created_at),
        },
        "impossibles": [
            {
                "statement": impossible.statement,
                "details": impossible.details,
                "category": impossible.category,
                "anonymous": impossible.anonymous,
                "reach": impossible.reach,
                "hidden_by_facilitators": impossible.hidden,
                "created_at": _moment(impossible.created_at),
            }
            for impossible in impossibles
        ],
        "me_toos": [
            {"impossible": me_too.impossible.statement, "created_at": _moment(me_too.created_at)} for me_too in me_toos
        ],
        "offers": [
            {
                "impossible": offer.impossible.statement,
                "kind": offer.kind,
                "message": offer.message,
                "contact": offer.contact,
                "contact_for_pilots": offer.contact_for_pilots,
                "created_at": _moment(offer.created_at),
            }
            for offer in offers
        ],
        "precisions": [
            {
                "impossible": precision.impossible.statement,
                "text": precision.text,
                "anonymous": precision.anonymous,
                "hidden_by_facilitators": precision.hidden,
                "created_at": _moment(precision.created_at),
            }
            for precision in precisions
        ],
        "actions_led": [
            {
                "title": action.title,
                "status": action.status,
                "due_on": action.due_on.isoformat() if action.due_on else None,
            }
            for action in (pilot.actions.order_by("created_at") if pilot else [])
        ],
    }


def _scrub(value: Any, names: set[str], replacement: str) -> Any:
    """A history value with the person's name (alone or "Name (Org)") replaced."""
    if isinstance(value, list):
        return [_scrub(item, names, replacement) for item in value]
    if isinstance(value, str) and value in names:
        return replacement
    return value


def forget_participant(participant: Participant) -> None:
    """Erase what identifies a participant everywhere, keep their contributions."""
    atelier_id = participant.atelier_id
    # Stored words are in the atelier's language: they show in its documents.
    with atelier_locale(Atelier.objects.get(pk=atelier_id)):
        anonymous = _("Participant·e anonyme")
    with transaction.atomic():
        version = begin_write(atelier_id).version
        participant = Participant.objects.select_for_update().get(pk=participant.pk)
        names = {participant.name}
        if participant.organisation:
            names.add(f"{participant.name} ({participant.organisation})")
        # Bylines that showed the name must be redrawn; those already anonymous
        # are left alone, so the push does not tell whose they were.
        named = list(Impossible.objects.filter(author=participant, anonymous=False).values_list("pk", flat=True))
        Participant.objects.filter(pk=participant.pk).update(name=anonymous, organisation="")
        Impossible.objects.filter(pk__in=named).update(anonymous=True)
        # Words they let the observatoire quote publicly are no longer quotable;
        # the impossibles still count, as for every impossible posted before the choice.
        Impossible.objects.filter(author=participant, reach=Reach.PUBLISHABLE).update(reach=Reach.COUNTED)
        HelpOffer.objects.filter(author=participant).update(contact="")
        Pilot.objects.filter(participant=participant).update(name=anonymous, organisation="", show_organisation=False)
        Presence.objects.filter(participant=participant).delete()
        # The plan's history quotes names (who changed, which pilot, which helpers).
        changes = ActionChange.objects.filter(action__atelier_id=atelier_id).filter(
            Q(by_name__in=names) | Q(changes__icontains=participant.name)
        )
        for change in changes:
            change.by_name = anonymous if change.by_name in names else change.by_name
            change.changes = [
                {
                    **line,
                    "old": _scrub(line.get("old"), names, anonymous),
                    "new": _scrub(line.get("new"), names, anonymous),
                }
                for line in change.changes
            ]
            change.save(update_fields=["by_name", "changes"])
        publish.on_commit(
            atelier_id,
            version,
            {"type": Event.PARTICIPANT_UPDATED, "participant": participant.pk, "impossibles": named},
        )
        transaction.on_commit(partial(publish.close_participant, atelier_id, participant.pk))


def purge_contacts(*, older_than: datetime.timedelta, now: datetime.datetime | None = None) -> int:
    """Erase the contacts left in offers of ateliers over for `older_than`.

    An atelier is over when it was closed, or, if nobody closed it, a day
    after it started. Safe to run again and again (from cron): it only
    empties contacts that are not empty yet. Returns how many were erased.
    """
    now = now or timezone.now()
    limit = now - older_than
    over = Atelier.objects.filter(
        Q(phase=Phase.CLOSED, closed_at__lte=limit)
        | Q(closed_at__isnull=True, starts_at__lte=limit - datetime.timedelta(days=1))
    )
    with transaction.atomic():
        return HelpOffer.objects.filter(impossible__atelier__in=over).exclude(contact="").update(contact="")
