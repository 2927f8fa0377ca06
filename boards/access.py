"""Who may see and do what. Views and consumers both call these helpers
first; nobody re-derives access inline."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import wraps
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.signing import Signer
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.crypto import constant_time_compare

from boards import ratelimit
from boards.locale import atelier_locale
from boards.models import Atelier, Participant, Pilot
from boards.observatoire.models import CURATE_PERMISSION
from cerveau.prepared import Prepared

if TYPE_CHECKING:
    from collections.abc import Callable

    from django.http import HttpRequest, HttpResponse


def normalise_code(raw: str) -> str:
    # People type "cgnc-16" or "CGNC 16" from a slide: accept both.
    return re.sub(r"[\s\-]", "", raw or "").upper()


class TooManyAttempts(Exception):
    """Too many wrong join codes from this visitor's network lately."""


# Every page, form and socket of a room starts with these look-ups.
atelier_by_code = Prepared(lambda code: Atelier.objects.filter(code=code))
_participant_by_code = Prepared(
    lambda pks, code: Participant.objects.select_related("atelier").filter(pk__in=pks, atelier__code=code)
)


def get_atelier_or_404(code: str) -> Atelier:
    atelier = atelier_by_code.one(normalise_code(code))
    if atelier is None:
        raise Http404
    return atelier


def invitation(atelier: Atelier) -> str:
    """The token the room's QR codes and links carry: proof that the visitor
    read the code off the room's screens, so the guess limiter lets them in.
    It follows the join code: a new code makes new invitations."""
    return Signer(salt="boards.invitation").signature(atelier.code)[:INVITATION_LENGTH]


INVITATION_LENGTH = 16
INVITATION_PARAM = "invite"


def invited_join_path(atelier: Atelier) -> str:
    """The join page's address with the room's invitation."""
    return f"{reverse('boards:join', args=[atelier.code])}?{urlencode({INVITATION_PARAM: invitation(atelier)})}"


def _invited(request: HttpRequest, atelier: Atelier | None) -> bool:
    """Whether the visitor came through the room's invitation. Nothing is
    written for it: the join page's form posts to the page's own address,
    invitation included, and a page that sends a visitor to the join page
    passes it on (participant_required)."""
    if atelier is None:
        return False
    given = request.GET.get(INVITATION_PARAM, "")
    return bool(given) and constant_time_compare(given, invitation(atelier))


def find_by_code(request: HttpRequest, code: str) -> tuple[Atelier, Participant | None]:
    """The atelier a visitor's code names, and who they are in it (None: not
    joined yet).

    Members are never slowed by the join-code limiter, whatever others do
    from their network: it only refuses look-ups by people who have not
    joined, from a network that tried too many wrong codes (TooManyAttempts,
    the same answer for a right code as for a wrong one), unless they came
    through an invitation link. Wrong codes are counted (Http404).
    """
    code = normalise_code(code)
    participant = participant_by_code(request.session, code)
    if participant is not None:
        return participant.atelier, participant
    atelier = atelier_by_code.one(code)
    if not _invited(request, atelier) and ratelimit.guessing_blocked(request):
        raise TooManyAttempts
    if atelier is None:
        ratelimit.record_wrong_code(request)
        raise Http404
    return atelier, None


def too_many_attempts(request: HttpRequest) -> HttpResponse:
    response = render(request, "boards/too_many_attempts.html", status=429)
    response["Retry-After"] = str(ratelimit.guessing_retry_after())
    return response


SESSION_PREFIX = "cerveau.participant."


def session_key(atelier_id: int) -> str:
    return f"{SESSION_PREFIX}{atelier_id}"


def joined_atelier_ids(session: Any) -> list[int]:
    # Sessions have keys() but are not iterable themselves.
    keys = session.keys()
    return [int(key.removeprefix(SESSION_PREFIX)) for key in keys if key.startswith(SESSION_PREFIX)]


def participant_by_code(session: Any, code: str) -> Participant | None:
    """Who this browser speaks for in the atelier of `code` (normalised),
    with that atelier, in one query: members' pages, writes and sockets ask
    it at every request."""
    if session is None:
        return None
    joined = [session[session_key(atelier_id)] for atelier_id in joined_atelier_ids(session)]
    if not joined:
        return None
    # One atelier per code, one participant per atelier in a session: at most one row.
    participant = _participant_by_code.one(joined, code)
    if participant is None:
        return None
    return participant if session.get(session_key(participant.atelier_id)) == participant.pk else None


def remember_participant(request: HttpRequest, participant: Participant) -> None:
    request.session[session_key(participant.atelier_id)] = participant.pk
    ratelimit.mark_browser(request.session)
    # A new session key whenever the session starts speaking for someone else:
    # a cookie planted in this browser beforehand must not become the participant.
    # A session that is not stored yet (no cookie, or one naming no session)
    # gets a new key when it is saved: nothing to cycle.
    if request.session.session_key is not None:
        request.session.cycle_key()


def forget_participant(request: HttpRequest, atelier_id: int) -> None:
    """This browser no longer speaks for its participant of that atelier."""
    request.session.pop(session_key(atelier_id), None)
    request.session.cycle_key()


def participant_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Resolve the atelier from the URL code and the participant from the
    session; send people who have not joined yet to the join page."""

    @wraps(view)
    def wrapper(request: HttpRequest, code: str, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            atelier, participant = find_by_code(request, code)
        except TooManyAttempts:
            return too_many_attempts(request)
        if participant is None:
            # A visitor who came with the invitation keeps it on the join page.
            invited = _invited(request, atelier)
            return redirect(invited_join_path(atelier) if invited else reverse("boards:join", args=[atelier.code]))
        with atelier_locale(atelier, room=False):
            return view(request, participant, *args, **kwargs)

    return wrapper


def facilitator_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Only the atelier's facilitators get through. Anonymous visitors are
    sent to the login page; anyone else gets a 404, as if the atelier's
    facilitation pages did not exist."""

    @wraps(view)
    @login_required
    def wrapper(request: HttpRequest, code: str, *args: Any, **kwargs: Any) -> HttpResponse:
        atelier = get_atelier_or_404(code)
        if not atelier.is_facilitated_by(request.user):
            raise Http404
        with atelier_locale(atelier, room=False):
            return view(request, atelier, *args, **kwargs)

    return wrapper


def curator_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Only the « observatoire » team (the curation permission, given with
    the group of that name in the admin) gets through; everyone else,
    signed in or not, gets a 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.has_perm(CURATE_PERMISSION):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


@dataclass(frozen=True)
class Viewer:
    atelier: Atelier
    participant: Participant | None
    facilitator: bool


def viewer_for_scope(scope: dict, code: str) -> Viewer | None:
    """The WebSocket counterpart: a participant of the atelier or one of its
    facilitators; None means refuse the connection."""
    code = normalise_code(code)
    participant = participant_by_code(scope.get("session"), code)
    if participant is not None:
        atelier = participant.atelier
    else:
        atelier = atelier_by_code.one(code)
        if atelier is None:
            return None
    facilitator = atelier.is_facilitated_by(scope.get("user"))
    if participant is None and not facilitator:
        return None
    return Viewer(atelier=atelier, participant=participant, facilitator=facilitator)


# --- Links without an account: the published plan, a pilot's follow-up ---------------------

LINK_MAX = 64


def shared_atelier(token: str) -> Atelier | None:
    """The atelier whose published plan this link opens (None: unknown or revoked)."""
    if not token or len(token) > LINK_MAX:
        return None
    return Atelier.objects.filter(share_token=token).first()


def working_pilot(token: str) -> Pilot | None:
    """The pilot whose follow-up link this is (None: unknown, renewed or expired)."""
    if not token or len(token) > LINK_MAX:
        return None
    pilot = Pilot.objects.select_related("atelier", "participant").filter(token=token).first()
    return None if pilot is None or pilot.link_expired() else pilot


def link_gone(request: HttpRequest, kind: str) -> HttpResponse:
    """« Ce lien ne fonctionne plus… », as the link's open pages say it too."""
    return render(request, "boards/plan/link_gone.html", {"kind": kind}, status=404)


def shared_plan_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The published plan's pages: the atelier from the link in the URL, in
    its language and time zone (it is read by the room and the territory)."""

    @wraps(view)
    def wrapper(request: HttpRequest, token: str, *args: Any, **kwargs: Any) -> HttpResponse:
        atelier = shared_atelier(token)
        if atelier is None:
            return link_gone(request, "plan")
        with atelier_locale(atelier):
            return view(request, atelier, *args, **kwargs)

    return wrapper


def pilot_link_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A pilot's follow-up pages: the pilot from the link in the URL, in the
    atelier's language and time zone."""

    @wraps(view)
    def wrapper(request: HttpRequest, token: str, *args: Any, **kwargs: Any) -> HttpResponse:
        pilot = working_pilot(token)
        if pilot is None:
            return link_gone(request, "suivi")
        with atelier_locale(pilot.atelier):
            return view(request, pilot, *args, **kwargs)

    return wrapper


def viewer_for_link(kind: str, token: str) -> Viewer | None:
    """The socket of a page opened through the plan's public link ("plan") or
    a pilot's follow-up link ("suivi"); None when the link no longer works."""
    if kind == "plan":
        atelier = shared_atelier(token)
    elif kind == "suivi":
        pilot = working_pilot(token)
        atelier = pilot.atelier if pilot else None
    else:
        atelier = None
    if atelier is None:
        return None
    return Viewer(atelier=atelier, participant=None, facilitator=False)
