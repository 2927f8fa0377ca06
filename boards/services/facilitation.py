"""Facilitators' actions: prepare the atelier, run its phases, moderate.

Permission is checked before these are called (`boards.access`); the rules
that keep the board consistent (counts, versions, races) live here.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from boards import territories
from boards.live import publish
from boards.live.protocol import Event
from boards.models import (
    Atelier,
    Category,
    DismissedDuplicate,
    HelpOffer,
    Impossible,
    Invitation,
    MeToo,
    PlanAction,
    Precision,
    new_join_code,
)
from boards.phases import Phase
from boards.services.core import NotFound, begin_write, clean, get_impossible
from boards.similarity import engine

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
# Derived from insee_code by apply_territory, never set directly.
TERRITORY_CODE_FIELDS = ("commune_code", "epci_code", "departement_code", "region_code")


def _atelier_updated(state_version: int, atelier_id: int) -> None:
    publish.on_commit(atelier_id, state_version, {"type": Event.ATELIER_UPDATED})


def _territory_line(atelier: Atelier) -> str:
    parts = [part for part in (atelier.commune, atelier.departement, atelier.region) if part]
    return ", ".join(parts)


def apply_territory(atelier: Atelier) -> None:
    """Derive the atelier's territory codes from its INSEE code, and fill the
    commune, département and région it left blank, from the COG shipped with
    the app. An unknown code leaves the codes blank; model validation then
    refuses it with a clear message."""
    atelier.insee_code = territories.normalise(atelier.insee_code)
    territory = territories.resolve(atelier.insee_code)
    codes = territory.codes() if territory else dict.fromkeys(TERRITORY_CODE_FIELDS, "")
    for field, value in codes.items():
        setattr(atelier, field, value)
    if territory is None:
        return
    atelier.commune = atelier.commune or territory.name
    atelier.departement = atelier.departement or territory.departement.name
    # A collectivité d'outre-mer is its own « région »: not named twice.
    if territory.region.code != territory.departement.code:
        atelier.region = atelier.region or territory.region.name


def refresh_territory_codes() -> tuple[int, list[Atelier]]:
    """Derive every atelier's territory codes again, after the COG file was
    updated. Returns how many ateliers changed, and those whose INSEE code
    the COG no longer knows (their codes are blanked).

    No version bump nor broadcast: the codes are not shown on the board."""
    changed, unknown = 0, []
    for atelier in Atelier.objects.only("pk", "code", "title", "insee_code", *TERRITORY_CODE_FIELDS).order_by("pk"):
        territory = territories.resolve(atelier.insee_code) if atelier.insee_code else None
        codes = territory.codes() if territory else dict.fromkeys(TERRITORY_CODE_FIELDS, "")
        if atelier.insee_code and territory is None:
            unknown.append(atelier)
        if any(getattr(atelier, field) != value for field, value in codes.items()):
            Atelier.objects.filter(pk=atelier.pk).update(**codes)
            changed += 1
    return changed, unknown


def _validate_categories(categories: list[str]) -> list[str]:
    chosen = [value for value in Category.values if value in set(categories or [])]
    if not chosen:
        raise ValidationError({"categories": _("Proposez au moins une catégorie.")})
    return chosen


def create_atelier(user, *, code: str = "", **fields) -> Atelier:
    """A new atelier in the welcome phase, run by `user`. Its join code is
    drawn, or `code` (the demo's, which people are told in advance)."""
    atelier = Atelier(phase=Phase.WELCOME, **{key: value for key, value in fields.items() if key in ATELIER_FIELDS})
    atelier.categories = _validate_categories(atelier.categories)
    apply_territory(atelier)
    atelier.territory = atelier.territory or _territory_line(atelier)
    clean(atelier, exclude=["code"])
    with transaction.atomic():
        if code:
            if Atelier.objects.filter(code=code).exists():
                raise ValidationError({"code": _("Ce code est déjà pris.")})
            atelier.code = code
        else:
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
    apply_territory(atelier)
    atelier.territory = atelier.territory or _territory_line(atelier)
    clean(atelier, exclude=["code"])
    with transaction.atomic():
        state = begin_write(atelier.pk)
        atelier.version = state.version
        atelier.save(update_fields=[*ATELIER_FIELDS, *TERRITORY_CODE_FIELDS, "version"])
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


def invite_facilitator(atelier: Atelier, who: str, *, by=None) -> Invitation:
    """Invite someone to co-run the atelier by user name or e-mail address.

    No account is looked up here: the answer (and the team list) must be the
    same whether one matches or not, or the form would tell anyone which
    addresses have accounts. The invitation waits for the person it names
    (`invitations_for`)."""
    wanted = " ".join((who or "").split())
    if not wanted:
        raise ValidationError({"who": _("Indiquez un nom d'utilisateur ou un e-mail.")})
    if len(wanted) > Invitation._meta.get_field("who").max_length:
        raise ValidationError({"who": _("Nom d'utilisateur ou e-mail trop long.")})
    with transaction.atomic():
        Atelier.objects.select_for_update().only("pk").get(pk=atelier.pk)
        existing = Invitation.objects.filter(atelier=atelier, who__iexact=wanted).first()
        return existing or Invitation.objects.create(atelier=atelier, who=wanted, invited_by=by)


def invitations_for(user):
    """The invitations that name this account, by user name or e-mail."""
    if not (user and user.is_authenticated and user.is_active):
        return Invitation.objects.none()
    names = Q(who__iexact=user.get_username())
    if user.email:
        names |= Q(who__iexact=user.email)
    return Invitation.objects.filter(names).select_related("atelier")


def answer_invitation(user, invitation_id: int, *, accept: bool) -> Atelier:
    """Accept (join the team) or decline an invitation that names this user."""
    with transaction.atomic():
        try:
            invitation = invitations_for(user).select_for_update(of=("self",)).get(pk=invitation_id)
        except (Invitation.DoesNotExist, ValueError, TypeError):
            raise NotFound from None
        atelier = invitation.atelier
        if accept:
            atelier.facilitators.add(user)
        invitation.delete()
    return atelier


def cancel_invitation(atelier: Atelier, invitation_id: object) -> None:
    """A facilitator withdraws a pending invitation of their atelier."""
    try:
        deleted, _rows = Invitation.objects.filter(atelier=atelier, pk=invitation_id).delete()
    except (ValueError, TypeError):
        deleted = 0
    if not deleted:
        raise NotFound


def member_label(user) -> str:
    """How the team list names a facilitator: full name, else e-mail address,
    never the login name (which an invitation by e-mail does not reveal)."""
    return " ".join(user.get_full_name().split()) or user.email or _("compte sans nom ni e-mail")


def remove_facilitator(atelier: Atelier, user) -> None:
    with transaction.atomic():
        # Two facilitators removing each other at once: the atelier's row lock
        # makes the second one count the team after the first has committed.
        Atelier.objects.select_for_update().only("pk").get(pk=atelier.pk)
        if atelier.facilitators.count() <= 1:
            raise ValidationError(_("Un atelier garde au moins une personne à l'animation."))
        atelier.facilitators.remove(user)
        transaction.on_commit(lambda: publish.close_team_member(atelier.pk, user.pk))


def delete_atelier(atelier: Atelier) -> None:
    """Delete the atelier and everything in it; connected screens are told."""
    atelier_id = atelier.pk
    with transaction.atomic():
        Atelier.objects.filter(pk=atelier_id).update(spotlight=None)
        atelier.delete()
        transaction.on_commit(lambda: publish.close_atelier(atelier_id))


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
        event = Event.IMPOSSIBLE_HIDDEN if hidden else Event.IMPOSSIBLE_POSTED
        publish.on_commit(atelier_id, state.version, {"type": event, "impossible": impossible.pk})


def approve_impossible(atelier_id: int, impossible_id: int) -> None:
    """Publish an impossible that waited in the pre-moderation queue."""
    with transaction.atomic():
        state = begin_write(atelier_id)
        impossible = get_impossible(atelier_id, impossible_id, visible=False)
        if not impossible.pending:
            transaction.set_rollback(True)
            return
        Impossible.objects.filter(pk=impossible.pk).update(pending=False)
        publish.on_commit(atelier_id, state.version, {"type": Event.IMPOSSIBLE_POSTED, "impossible": impossible.pk})


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
        engine.refresh_on_commit(impossible.pk)  # compared on its new words from now on
        publish.on_commit(atelier_id, state.version, {"type": Event.IMPOSSIBLE_EDITED, "impossible": impossible.pk})


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
        publish.on_commit(atelier_id, state.version, {"type": Event.OFFERS_CHANGED, "impossible": offer.impossible_id})


def set_precision_hidden(atelier_id: int, precision_id: int, *, hidden: bool) -> None:
    """Hide a précision from the card (or bring it back), like an offer."""
    with transaction.atomic():
        state = begin_write(atelier_id)
        try:
            precision = Precision.objects.get(pk=precision_id, impossible__atelier_id=atelier_id)
        except (Precision.DoesNotExist, ValueError, TypeError):
            raise NotFound from None
        if precision.hidden == hidden:
            transaction.set_rollback(True)
            return
        Precision.objects.filter(pk=precision.pk).update(hidden=hidden)
        publish.on_commit(
            atelier_id, state.version, {"type": Event.PRECISIONS_CHANGED, "impossible": precision.impossible_id}
        )


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
        Precision.objects.filter(impossible=merged).update(impossible=kept)
        PlanAction.objects.filter(impossible=merged).update(impossible=kept)
        Impossible.objects.filter(pk=merged.pk).update(
            hidden=True, pending=False, merged_into=kept, me_too_count=0, offer_count=0
        )
        _recount(kept.pk)
        if state.spotlight_id == merged.pk:
            Atelier.objects.filter(pk=atelier_id).update(spotlight=kept)
        publish.on_commit(
            atelier_id, state.version, {"type": Event.IMPOSSIBLE_MERGED, "impossible": kept.pk, "merged": merged.pk}
        )


# --- Likely duplicates ------------------------------------------------------------------


def dismiss_duplicate(atelier_id: int, first_id: int, second_id: int, *, user=None) -> None:
    """« Pas un doublon »: the console's likely duplicates stop proposing this
    pair. Idempotent (the pair is stored once, lower id first). Nothing on a
    card changes, but every open console must drop the pair: the write bumps
    the version and publishes, and consoles fetch their panels again on any
    push (phones only apply the version and the stats)."""
    if str(first_id) == str(second_id):
        raise ValidationError(_("Choisissez deux impossibles différents."))
    with transaction.atomic():
        state = begin_write(atelier_id)
        first = get_impossible(atelier_id, first_id, visible=False)
        second = get_impossible(atelier_id, second_id, visible=False)
        low, high = sorted((first.pk, second.pk))
        try:
            with transaction.atomic():
                DismissedDuplicate.objects.create(
                    atelier_id=atelier_id,
                    first_id=low,
                    second_id=high,
                    dismissed_by=user if user is not None and user.is_authenticated else None,
                )
        except IntegrityError:
            # Already dismissed (a double click, two facilitators at once): the
            # unique constraint decides, not a prior SELECT; nothing to publish.
            transaction.set_rollback(True)
            return
        publish.on_commit(atelier_id, state.version, {"type": Event.DUPLICATE_DISMISSED, "pair": [low, high]})
