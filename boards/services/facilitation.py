"""Facilitators' actions: prepare the atelier, run its phases, moderate.

Permission is checked before these are called (`boards.access`); the rules
that keep the board consistent (counts, versions, races) live here.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from boards import broadcast
from boards.models import (
    Atelier,
    Category,
    HelpOffer,
    Impossible,
    MeToo,
    PlanAction,
    new_join_code,
)
from boards.phases import Phase
from boards.services.core import NotFound, begin_write, clean, get_impossible

TIMER_MAX = timedelta(hours=3)
ATELIER_FIELDS = (
    "title",
    "territory",
    "commune",
    "departement",
    "region",
    "insee_code",
    "venue",
    "starts_at",
    "language",
    "time_zone",
    "categories",
    "premoderation",
)


def _atelier_updated(state_version: int, atelier_id: int) -> None:
    broadcast.on_commit(atelier_id, state_version, {"type": "atelier.updated"})


def _territory_line(atelier: Atelier) -> str:
    parts = [part for part in (atelier.commune, atelier.departement, atelier.region) if part]
    return ", ".join(parts)


def _validate_categories(categories: list[str]) -> list[str]:
    chosen = [value for value in Category.values if value in set(categories or [])]
    if not chosen:
        raise ValidationError({"categories": _("Proposez au moins une catégorie.")})
    return chosen


def create_atelier(user, **fields) -> Atelier:
    atelier = Atelier(phase=Phase.WELCOME, **{key: value for key, value in fields.items() if key in ATELIER_FIELDS})
    atelier.categories = _validate_categories(atelier.categories)
    atelier.territory = atelier.territory or _territory_line(atelier)
    clean(atelier, exclude=["code"])
    with transaction.atomic():
        for _attempt in range(5):
            atelier.code = new_join_code()
            if not Atelier.objects.filter(code=atelier.code).exists():
                break
        atelier.save()
        atelier.facilitators.add(user)
    return atelier


def update_atelier(atelier: Atelier, **fields) -> Atelier:
    for key, value in fields.items():
        if key in ATELIER_FIELDS:
            setattr(atelier, key, value)
    atelier.categories = _validate_categories(atelier.categories)
    atelier.territory = atelier.territory or _territory_line(atelier)
    clean(atelier, exclude=["code"])
    with transaction.atomic():
        state = begin_write(atelier.pk)
        atelier.version = state.version
        atelier.save(update_fields=[*ATELIER_FIELDS, "version"])
        _atelier_updated(state.version, atelier.pk)
    return atelier


def regenerate_code(atelier: Atelier) -> str:
    """A new join code; the old one stops working at once."""
    with transaction.atomic():
        state = begin_write(atelier.pk)
        for _attempt in range(10):
            code = new_join_code()
            try:
                with transaction.atomic():
                    Atelier.objects.filter(pk=atelier.pk).update(code=code)
                break
            except IntegrityError:
                continue
        else:  # pragma: no cover - 887 million codes
            raise ValidationError(_("Impossible de générer un nouveau code, réessayez."))
        _atelier_updated(state.version, atelier.pk)
    atelier.code = code
    return code


def add_facilitator(atelier: Atelier, username_or_email: str):
    wanted = (username_or_email or "").strip()
    user_model = get_user_model()
    matches = list(user_model.objects.filter(Q(username__iexact=wanted) | Q(email__iexact=wanted), is_active=True)[:2])
    if not wanted or len(matches) != 1:
        raise ValidationError(
            {"who": _("Aucun compte d'animation ne correspond à « %(who)s ».") % {"who": wanted}}
            if len(matches) == 0
            else {"who": _("Plusieurs comptes correspondent : indiquez le nom d'utilisateur.")}
        )
    atelier.facilitators.add(matches[0])
    return matches[0]


def remove_facilitator(atelier: Atelier, user) -> None:
    with transaction.atomic():
        # Two facilitators removing each other at once: the atelier's row lock
        # makes the second one count the team after the first has committed.
        Atelier.objects.select_for_update().only("pk").get(pk=atelier.pk)
        if atelier.facilitators.count() <= 1:
            raise ValidationError(_("Un atelier garde au moins une personne à l'animation."))
        atelier.facilitators.remove(user)
        transaction.on_commit(lambda: broadcast.close_team_member(atelier.pk, user.pk))


def delete_atelier(atelier: Atelier) -> None:
    """Delete the atelier and everything in it; connected screens are told."""
    atelier_id = atelier.pk
    with transaction.atomic():
        Atelier.objects.filter(pk=atelier_id).update(spotlight=None)
        atelier.delete()
        transaction.on_commit(lambda: broadcast.close_atelier(atelier_id))


# --- Running the room -----------------------------------------------------------


def _set(atelier_id: int, **values) -> int:
    """Write atelier fields in a versioned transaction; no-op writes undo the bump."""
    with transaction.atomic():
        state = begin_write(atelier_id)
        current = Atelier.objects.filter(pk=atelier_id).values(*values).get()
        if current == values:
            transaction.set_rollback(True)
            return state.version - 1
        Atelier.objects.filter(pk=atelier_id).update(**values)
        _atelier_updated(state.version, atelier_id)
    return state.version


def set_phase(atelier_id: int, phase: str) -> None:
    if phase not in Phase.values:
        raise ValidationError(_("Phase inconnue."))
    with transaction.atomic():
        state = begin_write(atelier_id)
        if state.phase == phase:
            transaction.set_rollback(True)
            return
        closed_at = timezone.now() if phase == Phase.CLOSED else None
        Atelier.objects.filter(pk=atelier_id).update(phase=phase, closed_at=closed_at)
        _atelier_updated(state.version, atelier_id)


def set_locked(atelier_id: int, locked: bool) -> None:
    _set(atelier_id, locked=bool(locked))


def set_premoderation(atelier_id: int, on: bool) -> None:
    _set(atelier_id, premoderation=bool(on))


def set_authors_can_plan(atelier_id: int, on: bool) -> None:
    _set(atelier_id, authors_can_plan=bool(on))


def start_timer(atelier_id: int, *, minutes: float, label: str = "") -> None:
    try:
        duration = timedelta(minutes=float(minutes))
    except (TypeError, ValueError):
        raise ValidationError({"minutes": _("Indiquez une durée en minutes.")}) from None
    if not timedelta(seconds=10) <= duration <= TIMER_MAX:
        raise ValidationError({"minutes": _("Le minuteur dure de 10 secondes à 3 heures.")})
    _set(
        atelier_id,
        timer_label=(label or "").strip()[:120],
        timer_ends_at=timezone.now() + duration,
        timer_remaining=None,
    )


def pause_timer(atelier_id: int) -> None:
    ends_at = Atelier.objects.values_list("timer_ends_at", flat=True).get(pk=atelier_id)
    if ends_at is not None:
        remaining = max(ends_at - timezone.now(), timedelta(0))
        _set(atelier_id, timer_ends_at=None, timer_remaining=remaining)


def resume_timer(atelier_id: int) -> None:
    remaining = Atelier.objects.values_list("timer_remaining", flat=True).get(pk=atelier_id)
    if remaining is not None:
        _set(atelier_id, timer_ends_at=timezone.now() + remaining, timer_remaining=None)


def stop_timer(atelier_id: int) -> None:
    _set(atelier_id, timer_ends_at=None, timer_remaining=None, timer_label="")


def set_spotlight(atelier_id: int, impossible_id: int | None) -> None:
    if impossible_id is not None:
        get_impossible(atelier_id, impossible_id)
    with transaction.atomic():
        state = begin_write(atelier_id)
        if impossible_id is not None:
            get_impossible(atelier_id, impossible_id)  # still on the board, under the lock
        if state.spotlight_id == impossible_id:
            transaction.set_rollback(True)
            return
        Atelier.objects.filter(pk=atelier_id).update(spotlight_id=impossible_id)
        _atelier_updated(state.version, atelier_id)


# --- Moderation -----------------------------------------------------------------


def _recount(impossible_id: int) -> None:
    Impossible.objects.filter(pk=impossible_id).update(
        me_too_count=MeToo.objects.filter(impossible_id=impossible_id).count(),
        offer_count=HelpOffer.objects.filter(impossible_id=impossible_id, hidden=False).count(),
    )


def set_impossible_hidden(atelier_id: int, impossible_id: int, *, hidden: bool) -> None:
    """Hide an impossible from every screen and count, or bring it back."""
    with transaction.atomic():
        state = begin_write(atelier_id)
        impossible = get_impossible(atelier_id, impossible_id, visible=False)
        if impossible.merged_into_id is not None or impossible.hidden == hidden:
            transaction.set_rollback(True)
            return
        Impossible.objects.filter(pk=impossible.pk).update(hidden=hidden)
        if hidden and state.spotlight_id == impossible.pk:
            Atelier.objects.filter(pk=atelier_id).update(spotlight=None)
        event = "impossible.hidden" if hidden else "impossible.posted"
        broadcast.on_commit(atelier_id, state.version, {"type": event, "impossible": impossible.pk})


def approve_impossible(atelier_id: int, impossible_id: int) -> None:
    """Publish an impossible that waited in the pre-moderation queue."""
    with transaction.atomic():
        state = begin_write(atelier_id)
        impossible = get_impossible(atelier_id, impossible_id, visible=False)
        if not impossible.pending:
            transaction.set_rollback(True)
            return
        Impossible.objects.filter(pk=impossible.pk).update(pending=False)
        broadcast.on_commit(atelier_id, state.version, {"type": "impossible.posted", "impossible": impossible.pk})


def edit_impossible(atelier_id: int, impossible_id: int, *, statement: str, details: str, category: str) -> None:
    """Fix a typo: the text changes, the votes and offers stay."""
    impossible = get_impossible(atelier_id, impossible_id, visible=False)
    impossible.statement = (statement or "").strip()
    impossible.details = (details or "").strip()
    impossible.category = category
    clean(impossible, exclude=["atelier", "author", "submission_key"])
    with transaction.atomic():
        state = begin_write(atelier_id)
        updated = Impossible.objects.filter(pk=impossible.pk, atelier_id=atelier_id).update(
            statement=impossible.statement, details=impossible.details, category=impossible.category
        )
        if not updated:
            raise NotFound
        broadcast.on_commit(atelier_id, state.version, {"type": "impossible.edited", "impossible": impossible.pk})


def set_offer_hidden(atelier_id: int, offer_id: int, *, hidden: bool) -> None:
    with transaction.atomic():
        state = begin_write(atelier_id)
        try:
            offer = HelpOffer.objects.get(pk=offer_id, impossible__atelier_id=atelier_id)
        except (HelpOffer.DoesNotExist, ValueError, TypeError):
            raise NotFound from None
        if offer.hidden == hidden:
            transaction.set_rollback(True)
            return
        HelpOffer.objects.filter(pk=offer.pk).update(hidden=hidden)
        _recount(offer.impossible_id)
        broadcast.on_commit(atelier_id, state.version, {"type": "offers.changed", "impossible": offer.impossible_id})


def merge_impossibles(atelier_id: int, kept_id: int, merged_id: int) -> None:
    """Fold a duplicate into the kept impossible.

    The kept one collects the "moi aussi" and the offers of the other, each
    participant counted once; the author of the duplicate shares the kept one.
    Both facilitators of a double click, or two facilitators at once, are
    serialised by the atelier lock taken in begin_write: the second merge
    finds the duplicate already folded and changes nothing.
    """
    if str(kept_id) == str(merged_id):
        raise ValidationError(_("Choisissez deux impossibles différents."))
    with transaction.atomic():
        state = begin_write(atelier_id)
        merged = get_impossible(atelier_id, merged_id, visible=False)
        if merged.merged_into_id is not None and str(merged.merged_into_id) == str(kept_id):
            transaction.set_rollback(True)
            return
        kept = get_impossible(atelier_id, kept_id)
        if merged.hidden:
            raise NotFound
        already = MeToo.objects.filter(impossible=kept).values("participant_id")
        MeToo.objects.filter(impossible=merged).exclude(participant_id__in=already).update(impossible=kept)
        MeToo.objects.filter(impossible=merged).delete()
        if merged.author_id != kept.author_id:
            MeToo.objects.get_or_create(impossible=kept, participant_id=merged.author_id)
        HelpOffer.objects.filter(impossible=merged).update(impossible=kept)
        PlanAction.objects.filter(impossible=merged).update(impossible=kept)
        Impossible.objects.filter(pk=merged.pk).update(
            hidden=True, pending=False, merged_into=kept, me_too_count=0, offer_count=0
        )
        _recount(kept.pk)
        if state.spotlight_id == merged.pk:
            Atelier.objects.filter(pk=atelier_id).update(spotlight=kept)
        broadcast.on_commit(
            atelier_id, state.version, {"type": "impossible.merged", "impossible": kept.pk, "merged": merged.pk}
        )
