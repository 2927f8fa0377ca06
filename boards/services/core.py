"""What every action shares: the version bump that opens a write, the rule
checks, and the errors actions raise."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.db.models import F
from django.utils.translation import gettext as _

from boards import phases
from boards.models import Atelier, Impossible


class NotFound(Exception):
    """The target does not exist for this atelier (unknown, hidden or foreign id)."""


class Refused(ValidationError):
    """A rule of the atelier refuses the action (phase, lock). The message is
    for the person who tried, so it is a ValidationError: forms show it."""


@dataclass(frozen=True)
class AtelierState:
    id: int
    version: int
    phase: str
    locked: bool
    premoderation: bool
    spotlight_id: int | None


def begin_write(atelier_id: int) -> AtelierState:
    """Bump the atelier's version; return it with the rules in force.

    Called first in every write transaction: on PostgreSQL the UPDATE takes
    the atelier row lock, so writes to one atelier commit in version order
    ("version N+1 follows N") and the phase read here cannot change before
    this write commits: once a closing phase commits, no write slips in.
    """
    Atelier.objects.filter(pk=atelier_id).update(version=F("version") + 1)
    version, phase, locked, premoderation, spotlight_id = Atelier.objects.values_list(
        "version", "phase", "locked", "premoderation", "spotlight_id"
    ).get(pk=atelier_id)
    return AtelierState(atelier_id, version, phase, locked, premoderation, spotlight_id)


def refused_now(atelier_id: int, action: phases.Action) -> Refused | None:
    """The refusal the committed rules give `action` now, read without the
    write lock, or None.

    A participant's write first asks this: once a closing phase commits, a
    room's last taps are answered at once instead of each queueing for the
    write lock only to be refused (on SQLite, one writer at a time, that
    queue starved some taps past the busy timeout). A None settles nothing:
    `begin_write` + `require` stay the authority.
    """
    phase, locked = Atelier.objects.values_list("phase", "locked").get(pk=atelier_id)
    if phases.allows(phase, locked, action):
        return None
    return Refused(phases.refusal(locked, action), code="phase")


def require(state: AtelierState, action: phases.Action) -> None:
    if not phases.allows(state.phase, state.locked, action):
        raise Refused(phases.refusal(state.locked, action), code="phase")


_NO_NUL = ProhibitNullCharactersValidator()


def clean(instance, exclude: list[str] | None = None) -> None:
    # Model validation is the authority for lengths, blanks and choices, so a
    # request that bypasses the HTML form gets the same rules. Forms also
    # refuse NUL characters, models do not: PostgreSQL cannot store them (an
    # error, not a refusal) where SQLite would, so refuse them here too.
    errors = {}
    for field in instance._meta.concrete_fields:
        value = getattr(instance, field.attname, None)
        if isinstance(value, str) and field.name not in (exclude or ()):
            try:
                _NO_NUL(value)
            except ValidationError as error:
                errors[field.name] = error.error_list
    if errors:
        raise ValidationError(errors)
    instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)


SUBMISSION_KEY_MAX = 64


def check_submission_key(key: str) -> str:
    key = (key or "").strip()
    if not key or len(key) > SUBMISSION_KEY_MAX:
        raise ValidationError({"submission_key": _("Formulaire expiré : rechargez la page et réessayez.")})
    return key


def get_impossible(atelier_id: int, impossible_id: object, *, visible: bool = True) -> Impossible:
    queryset = Impossible.objects.visible() if visible else Impossible.objects.all()
    try:
        return queryset.get(pk=impossible_id, atelier_id=atelier_id)
    except (Impossible.DoesNotExist, ValueError, TypeError):
        raise NotFound from None
