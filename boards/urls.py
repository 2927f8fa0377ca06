from __future__ import annotations

from django.urls import path

from boards.views import facilitation, participation

app_name = "boards"

urlpatterns = [
    # Participants
    path("", participation.home, name="home"),
    path("a/<str:code>/", participation.board, name="board"),
    path("a/<str:code>/join/", participation.join, name="join"),
    path("a/<str:code>/me/", participation.profile, name="profile"),
    path("a/<str:code>/impossibles/", participation.post_impossible, name="post_impossible"),
    path("a/<str:code>/impossibles/more/", participation.more_impossibles, name="more_impossibles"),
    path("a/<str:code>/impossibles/<int:impossible_id>/", participation.impossible_detail, name="impossible"),
    path("a/<str:code>/impossibles/<int:impossible_id>/me-too/", participation.me_too, name="me_too"),
    path("a/<str:code>/impossibles/<int:impossible_id>/offers/", participation.offer_help, name="offer_help"),
    # Facilitators
    path("facilitate/", facilitation.facilitator_home, name="facilitator_home"),
    path("facilitate/new/", facilitation.atelier_create, name="atelier_create"),
    path("a/<str:code>/console/", facilitation.console, name="console"),
    path("a/<str:code>/console/panels/", facilitation.console_panels, name="console_panels"),
    path("a/<str:code>/console/settings/", facilitation.atelier_settings, name="atelier_settings"),
    path("a/<str:code>/console/team/", facilitation.team, name="team"),
    path("a/<str:code>/console/delete/", facilitation.atelier_delete, name="atelier_delete"),
    path("a/<str:code>/console/code/", facilitation.regenerate_code, name="regenerate_code"),
    path("a/<str:code>/console/phase/", facilitation.set_phase, name="set_phase"),
    path("a/<str:code>/console/lock/", facilitation.set_lock, name="set_lock"),
    path("a/<str:code>/console/premoderation/", facilitation.set_premoderation, name="set_premoderation"),
    path("a/<str:code>/console/timer/", facilitation.timer, name="timer"),
    path("a/<str:code>/console/spotlight/", facilitation.spotlight, name="spotlight"),
    path(
        "a/<str:code>/console/impossibles/<int:impossible_id>/moderate/",
        facilitation.moderate_impossible,
        name="moderate_impossible",
    ),
    path(
        "a/<str:code>/console/impossibles/<int:impossible_id>/edit/",
        facilitation.edit_impossible,
        name="edit_impossible",
    ),
    path(
        "a/<str:code>/console/impossibles/<int:impossible_id>/merge/",
        facilitation.merge_impossible,
        name="merge_impossible",
    ),
    path("a/<str:code>/console/offers/<int:offer_id>/moderate/", facilitation.moderate_offer, name="moderate_offer"),
    path("a/<str:code>/projector/", facilitation.projector, name="projector"),
    path("a/<str:code>/projector/panels/", facilitation.projector_panels, name="projector_panels"),
    path("a/<str:code>/poster/", facilitation.poster, name="poster"),
]
