"""The local action plan: actions on impossibles, their pilots and helpers,
the follow-up after the atelier, and the plan's public link.

Who may act is decided here from the `Actor` the caller vouches for: views
check the person (facilitator login, participant session, pilot token) and
pass the matching actor; the rules that depend on the atelier's state
(phase, lock, "authors may plan") are read under the atelier row lock.
Every change to an action leaves a dated line in its history.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from boards import phases
from boards.live import publish
from boards.live.protocol import Event
from boards.models import (
    NAME_MAX,
    ORGANISATION_MAX,
    ActionChange,
    ActionStatus,
    Atelier,
    HelpOffer,
    Impossible,
    Participant,
    Pilot,
    PlanAction,
    new_token,
)
from boards.phases import Phase
from boards.services.core import NotFound, Refused, begin_write, check_submission_key, clean

By = ActionChange.By
# How far ahead a due date may lie: further is almost always a typo.
DUE_HORIZON = datetime.timedelta(days=5 * 366)
EDITABLE = ("title", "pilot", "helpers", "next_step", "due_on", "status")
PILOT_EDITABLE = ("next_step", "status")
# The author of the impossibles « Où en est-on ? » carries on from earlier ateliers.
FOLLOW_UP_AUTHOR = "Ateliers précédents"


@dataclass(frozen=True)
class Actor:
    """Who makes a change, as recorded in the action's history."""

    kind: str
    name: str
    participant_id: int | None = None
    pilot_id: int | None = None

    @classmethod
    def facilitator(cls, user) -> Actor:
        # The full name only: a login name is half of a credential, and the
        # history is read by the whole team.
        return cls(By.FACILITATOR, " ".join(user.get_full_name().split())[:150])

    @classmethod
    def author(cls, participant: Participant) -> Actor:
        return cls(By.AUTHOR, participant.name, participant_id=participant.pk)

    @classmethod
    def pilot(cls, pilot: Pilot) -> Actor:
        return cls(By.PILOT, pilot.display_name, pilot_id=pilot.pk)


@dataclass(frozen=True)
class PilotChoice:
    """A participant of the atelier, or a name (and organisation) typed in."""

    participant_id: int | None = None
    name: str = ""
    organisation: str = ""

    def describe(self) -> str:
        return self.name + (f" ({self.organisation})" if self.organisation else "")


# --- Checks --------------------------------------------------------------------


def _atelier_day(atelier: Atelier) -> datetime.date:
    moment = atelier.starts_at or atelier.created_at or timezone.now()
    return timezone.localtime(moment, timezone=_zone(atelier)).date()


def _zone(atelier: Atelier):
    import zoneinfo

    return zoneinfo.ZoneInfo(atelier.time_zone)


def _check_due_on(atelier: Atelier, due_on: object) -> datetime.date | None:
    if due_on in (None, ""):
        return None
    if isinstance(due_on, datetime.datetime):
        due_on = due_on.date()
    if isinstance(due_on, str):
        try:
            due_on = datetime.date.fromisoformat(due_on.strip())
        except ValueError:
            raise ValidationError({"due_on": _("Date invalide : indiquez une date comme 31/03/2027.")}) from None
    if not isinstance(due_on, datetime.date):
        raise ValidationError({"due_on": _("Date invalide : indiquez une date comme 31/03/2027.")})
    first = _atelier_day(atelier)
    if due_on < first:
        raise ValidationError({"due_on": _("L'échéance ne peut pas précéder l'atelier.")})
    if due_on > first + DUE_HORIZON:
        raise ValidationError({"due_on": _("L'échéance est à plus de cinq ans : vérifiez la date.")})
    return due_on


def _check_status(status: object) -> str:
    if status not in ActionStatus.values:
        raise ValidationError({"status": _("Statut inconnu.")})
    return str(status)


def _check_pilot(atelier_id: int, choice: PilotChoice) -> PilotChoice:
    if choice.participant_id not in (None, ""):
        try:
            participant = Participant.objects.get(pk=choice.participant_id, atelier_id=atelier_id)
        except (Participant.DoesNotExist, ValueError, TypeError):
            raise ValidationError({"pilot": _("Ce participant ne fait pas partie de l'atelier.")}) from None
        return PilotChoice(participant.pk, participant.name, participant.organisation)
    name = (choice.name or "").strip()
    organisation = (choice.organisation or "").strip()
    if not name:
        raise ValidationError({"pilot": _("Indiquez qui pilote l'action : un participant ou un nom.")})
    if len(name) > NAME_MAX or len(organisation) > ORGANISATION_MAX:
        raise ValidationError(
            {
                "pilot": _("Nom ou organisation trop long (%(name)s et %(org)s caractères au plus).")
                % {"name": NAME_MAX, "org": ORGANISATION_MAX}
            }
        )
    return PilotChoice(None, name, organisation)


def _check_fields(atelier: Atelier, fields: dict[str, Any]) -> dict[str, Any]:
    """Validate the fields given (all optional here); return them cleaned."""
    cleaned: dict[str, Any] = {}
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not action fields: {sorted(unknown)}")
    if "title" in fields:
        cleaned["title"] = (fields["title"] or "").strip()
    if "next_step" in fields:
        cleaned["next_step"] = (fields["next_step"] or "").strip()
    # Lengths and blanks come from the model, as for every other write.
    probe = PlanAction(title=cleaned.get("title", "-"), next_step=cleaned.get("next_step", ""))
    clean(probe, exclude=["atelier", "impossible", "pilot", "submission_key", "due_on", "status"])
    if "due_on" in fields:
        cleaned["due_on"] = _check_due_on(atelier, fields["due_on"])
    if "status" in fields:
        cleaned["status"] = _check_status(fields["status"])
    if "pilot" in fields:
        cleaned["pilot"] = _check_pilot(atelier.pk, fields["pilot"] or PilotChoice())
    if "helpers" in fields:
        try:
            cleaned["helpers"] = sorted({int(offer_id) for offer_id in fields["helpers"] or ()})
        except (TypeError, ValueError):
            raise ValidationError({"helpers": _("Offre d'aide inconnue.")}) from None
    return cleaned


def _check_impossible(atelier_id: int, impossible_id: object) -> Impossible:
    try:
        impossible = Impossible.objects.get(pk=impossible_id, atelier_id=atelier_id)
    except (Impossible.DoesNotExist, ValueError, TypeError):
        raise NotFound from None
    if impossible.merged_into_id is not None:
        raise ValidationError(
            _("Cet impossible a été fusionné dans « %(kept)s » : créez l'action sur celui-ci.")
            % {"kept": impossible.merged_into.statement}
        )
    if impossible.hidden or impossible.pending:
        raise ValidationError(_("Cet impossible n'est pas sur le tableau (masqué ou en attente) : pas d'action."))
    return impossible


def _check_offers(impossible: Impossible, offer_ids: list[int]) -> list[int]:
    found = set(
        HelpOffer.objects.filter(pk__in=offer_ids, impossible=impossible, hidden=False).values_list("pk", flat=True)
    )
    if found != set(offer_ids):
        raise ValidationError({"helpers": _("Une offre d'aide choisie n'existe plus sur cet impossible.")})
    return offer_ids


def refusal(actor: Actor, atelier: Atelier) -> str | None:
    """Why this actor may not write the plan now, or None if they may.
    Pages call it to say so before anyone fills a form in."""
    if actor.kind == By.FACILITATOR:
        return None if atelier.phase in phases.PLANNING_PHASES else str(phases.PLAN_CLOSED)
    if actor.kind == By.AUTHOR:
        if atelier.phase != Phase.PLAN:
            return str(phases.PLAN_CLOSED)
        if atelier.locked:
            return str(phases.LOCKED)
        if not atelier.authors_can_plan:
            return str(phases.AUTHORS_NOT_ALLOWED)
        return None
    return str(phases.PLAN_CLOSED)


def _allow(actor: Actor, atelier: Atelier, impossible: Impossible) -> None:
    """May this actor create or change actions on this impossible now?"""
    if actor.kind not in (By.FACILITATOR, By.AUTHOR):
        raise NotFound
    if actor.kind == By.AUTHOR and impossible.author_id != actor.participant_id:
        raise NotFound
    message = refusal(actor, atelier)
    if message:
        raise Refused(message, code="phase")


def _locked_atelier(atelier_id: int) -> tuple[int, Atelier]:
    version = begin_write(atelier_id).version
    return version, Atelier.objects.get(pk=atelier_id)


def _pilot_for(atelier_id: int, choice: PilotChoice) -> Pilot:
    if choice.participant_id is not None:
        pilot, _created = Pilot.objects.get_or_create(
            atelier_id=atelier_id,
            participant_id=choice.participant_id,
            defaults={"name": choice.name, "organisation": choice.organisation},
        )
        return pilot
    # The same name and organisation typed twice is the same person, with
    # one follow-up link for all their actions.
    pilot = Pilot.objects.filter(
        atelier_id=atelier_id,
        participant__isnull=True,
        name__iexact=choice.name,
        organisation__iexact=choice.organisation,
    ).first()
    return pilot or Pilot.objects.create(atelier_id=atelier_id, name=choice.name, organisation=choice.organisation)


def _changed(atelier_id: int, version: int, impossible_id: int, action_id: int) -> None:
    publish.on_commit(
        atelier_id, version, {"type": Event.ACTION_CHANGED, "impossible": impossible_id, "action": action_id}
    )


# --- Actions ----------------------------------------------------------------------


def create_action(
    atelier_id: int,
    impossible_id: int,
    *,
    actor: Actor,
    title: str,
    pilot: PilotChoice,
    helpers: Iterable[int] = (),
    next_step: str = "",
    due_on: datetime.date | str | None = None,
    status: str = ActionStatus.TODO,
    submission_key: str,
) -> PlanAction:
    """Turn an impossible into an action. A repeated submission (same key)
    returns the action it created the first time."""
    key = check_submission_key(submission_key)
    atelier = Atelier.objects.get(pk=atelier_id)
    fields = _check_fields(
        atelier,
        {
            "title": title,
            "pilot": pilot,
            "helpers": list(helpers),
            "next_step": next_step,
            "due_on": due_on,
            "status": status,
        },
    )
    if not fields["title"]:
        raise ValidationError({"title": _("Donnez un titre à l'action.")})
    with transaction.atomic():
        version, atelier = _locked_atelier(atelier_id)
        existing = PlanAction.objects.filter(atelier_id=atelier_id, submission_key=key).first()
        if existing is not None:
            transaction.set_rollback(True)
            return existing
        impossible = _check_impossible(atelier_id, impossible_id)
        _allow(actor, atelier, impossible)
        offer_ids = _check_offers(impossible, fields["helpers"])
        action = PlanAction.objects.create(
            atelier_id=atelier_id,
            impossible=impossible,
            title=fields["title"],
            pilot=_pilot_for(atelier_id, fields["pilot"]),
            next_step=fields["next_step"],
            due_on=fields["due_on"],
            status=fields["status"],
            submission_key=key,
        )
        action.accepted_offers.set(offer_ids)
        ActionChange.objects.create(action=action, by_kind=actor.kind, by_name=actor.name, created=True)
        _changed(atelier_id, version, impossible.pk, action.pk)
    return action


def _snapshot(action: PlanAction) -> dict[str, Any]:
    """The values history compares, as JSON-friendly values."""
    return {
        "title": action.title,
        "pilot": action.pilot.display_name
        + (f" ({action.pilot.display_organisation})" if action.pilot.display_organisation else ""),
        # Names, not ids: the history must still read right if an offer goes.
        "helpers": sorted(action.accepted_offers.values_list("author__name", flat=True)),
        "next_step": action.next_step,
        "due_on": action.due_on.isoformat() if action.due_on else None,
        "status": action.status,
    }


def _get_action(atelier_id: int, action_id: object) -> PlanAction:
    try:
        return PlanAction.objects.select_related("pilot__participant", "impossible").get(
            pk=action_id, atelier_id=atelier_id
        )
    except (PlanAction.DoesNotExist, ValueError, TypeError):
        raise NotFound from None


def update_action(atelier_id: int, action_id: int, *, actor: Actor, **fields: Any) -> PlanAction:
    """Change some fields of an action; unchanged values leave no history.

    Pilots (through their follow-up link) change only the status and the
    next step of their own actions, in any phase: follow-up happens weeks
    after the atelier.
    """
    atelier = Atelier.objects.get(pk=atelier_id)
    if actor.kind == By.PILOT and set(fields) - set(PILOT_EDITABLE):
        raise ValueError("pilots change only the status and the next step")
    cleaned = _check_fields(atelier, fields)
    if "title" in cleaned and not cleaned["title"]:
        raise ValidationError({"title": _("Donnez un titre à l'action.")})
    with transaction.atomic():
        version, atelier = _locked_atelier(atelier_id)
        action = _get_action(atelier_id, action_id)
        if actor.kind == By.PILOT:
            if action.pilot_id != actor.pilot_id:
                raise NotFound
        else:
            _allow(actor, atelier, action.impossible)
        before = _snapshot(action)
        for name in ("title", "next_step", "due_on", "status"):
            if name in cleaned:
                setattr(action, name, cleaned[name])
        if "pilot" in cleaned:
            action.pilot = _pilot_for(atelier_id, cleaned["pilot"])
        if "helpers" in cleaned:
            action.accepted_offers.set(_check_offers(action.impossible, cleaned["helpers"]))
        after = _snapshot(action)
        changes = [
            {"field": name, "old": before[name], "new": after[name]} for name in EDITABLE if before[name] != after[name]
        ]
        if not changes:
            transaction.set_rollback(True)
            return action
        action.save()
        ActionChange.objects.create(action=action, by_kind=actor.kind, by_name=actor.name, changes=changes)
        _changed(atelier_id, version, action.impossible_id, action.pk)
    return action


def delete_action(atelier_id: int, action_id: int, *, actor: Actor) -> None:
    """Remove an action created by mistake (an abandoned one stays, as such)."""
    with transaction.atomic():
        version, atelier = _locked_atelier(atelier_id)
        try:
            action = _get_action(atelier_id, action_id)
        except NotFound:
            # Already gone: a repeated request changes nothing.
            transaction.set_rollback(True)
            return
        _allow(actor, atelier, action.impossible)
        impossible_id = action.impossible_id
        action.delete()
        _changed(atelier_id, version, impossible_id, action_id)


def follow_up(pilot: Pilot, action_id: int, *, status: str, next_step: str) -> PlanAction:
    """A pilot's update through their personal link (boards.access.pilot_link_required)."""
    return update_action(pilot.atelier_id, action_id, actor=Actor.pilot(pilot), status=status, next_step=next_step)


def set_show_organisation(pilot: Pilot, *, show: bool) -> None:
    """The pilot's consent (through their personal link) to show their
    organisation, never their name, in the observatoire's « levé ailleurs ».
    Nothing on the board or the plan changes (the plan already shows the
    organisation to the room), so no version and no push: the observatoire
    reads it on its next page load."""
    Pilot.objects.filter(pk=pilot.pk).update(show_organisation=show)
    pilot.show_organisation = show


def renew_pilot_link(atelier_id: int, pilot_id: int) -> Pilot:
    """A new follow-up link for a pilot; the old one stops working at once."""
    with transaction.atomic():
        version = begin_write(atelier_id).version
        try:
            pilot = Pilot.objects.select_for_update().get(pk=pilot_id, atelier_id=atelier_id)
        except (Pilot.DoesNotExist, ValueError, TypeError):
            raise NotFound from None
        old = pilot.token
        pilot.token = new_token()
        # With CERVEAU_PILOT_LINK_DAYS, the new link lasts that long from today.
        pilot.link_renewed_on = timezone.localdate(timezone=_zone(pilot.atelier))
        pilot.save(update_fields=["token", "link_renewed_on"])
        publish.on_commit(atelier_id, version, {"type": Event.ATELIER_UPDATED})
        transaction.on_commit(lambda: publish.close_token(old))
    return pilot


# --- The plan's public link ----------------------------------------------------------


def publish_plan(atelier_id: int) -> str:
    """Give the plan a read-only public link (the same one if already shared)."""
    with transaction.atomic():
        version = begin_write(atelier_id).version
        token = Atelier.objects.values_list("share_token", flat=True).get(pk=atelier_id)
        if token:
            transaction.set_rollback(True)
            return token
        token = new_token()
        Atelier.objects.filter(pk=atelier_id).update(share_token=token)
        publish.on_commit(atelier_id, version, {"type": Event.ATELIER_UPDATED})
    return token


def revoke_plan_link(atelier_id: int) -> None:
    """The public link stops working at once, open pages included."""
    with transaction.atomic():
        version = begin_write(atelier_id).version
        token = Atelier.objects.values_list("share_token", flat=True).get(pk=atelier_id)
        if not token:
            transaction.set_rollback(True)
            return
        Atelier.objects.filter(pk=atelier_id).update(share_token=None)
        publish.on_commit(atelier_id, version, {"type": Event.ATELIER_UPDATED})
        transaction.on_commit(lambda: publish.close_token(token))


# --- « Où en est-on ? » --------------------------------------------------------------


def import_open_actions(atelier_id: int, action_ids: Iterable[int], *, actor: Actor, user) -> list[PlanAction]:
    """Carry open actions of earlier ateliers of the territory on into this
    atelier's plan: each gets an impossible on this board (anonymous, kept in
    the room: the observatoire counted it where it was posted), its pilot,
    next step, due date and status, and its history followed by a line
    saying where it comes from. Each import is its own write, pushed live.
    An action already carried on here is skipped."""
    from boards.observatoire import reads as observatoire_reads

    atelier = Atelier.objects.get(pk=atelier_id)
    if message := refusal(actor, atelier):
        raise Refused(message, code="phase")
    wanted = {int(pk) for pk in action_ids}
    sources = [
        action for action in observatoire_reads.open_actions_nearby(atelier, user, "departement") if action.pk in wanted
    ]
    imported = []
    for source in sources:
        with transaction.atomic():
            version, atelier = _locked_atelier(atelier_id)
            if message := refusal(actor, atelier):
                raise Refused(message, code="phase")
            if PlanAction.objects.filter(atelier_id=atelier_id, continues=source).exists():
                transaction.set_rollback(True)
                continue
            imported.append(_carry_on(atelier, source, actor, user, version))
    return imported


def _carry_on(atelier: Atelier, source: PlanAction, actor: Actor, user, version: int) -> PlanAction:
    from boards.models import Reach, Role

    author = Participant.objects.filter(atelier=atelier, name=FOLLOW_UP_AUTHOR, role=Role.OTHER).first()
    author = author or Participant.objects.create(atelier=atelier, name=FOLLOW_UP_AUTHOR, role=Role.OTHER)
    # The impossible's own words travel only as far as their author allowed
    # (or within the same facilitators' ateliers); otherwise the action's title stands in.
    own = source.atelier.facilitators.filter(pk=user.pk).exists()
    words_allowed = source.impossible.reach == Reach.PUBLISHABLE or (own and source.impossible.reach != Reach.ROOM)
    key = f"suite-{source.pk}"
    impossible = Impossible.objects.create(
        atelier=atelier,
        author=author,
        statement=(source.impossible.statement if words_allowed else source.title)[:280],
        category=source.impossible.category,
        anonymous=True,
        reach=Reach.ROOM,
        submission_key=key,
    )
    pilot = source.pilot
    action = PlanAction.objects.create(
        atelier=atelier,
        impossible=impossible,
        title=source.title,
        pilot=_pilot_for(atelier.pk, PilotChoice(name=pilot.display_name, organisation=pilot.display_organisation)),
        next_step=source.next_step,
        due_on=source.due_on,
        status=source.status,
        submission_key=key,
        continues=source,
    )
    ActionChange.objects.bulk_create(
        [
            ActionChange(
                action=action,
                at=change.at,
                by_kind=change.by_kind,
                by_name=change.by_name,
                changes=change.changes,
                created=change.created,
            )
            for change in source.changes.all()
        ]
    )
    ActionChange.objects.create(
        action=action,
        by_kind=actor.kind,
        by_name=actor.name,
        changes=[{"field": "atelier", "old": source.atelier.title, "new": atelier.title}],
    )
    publish.on_commit(atelier.pk, version, {"type": Event.IMPOSSIBLE_POSTED, "impossible": impossible.pk})
    return action
