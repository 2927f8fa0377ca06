from __future__ import annotations

from django.urls import path

from boards.views import (
    accessibility,
    actions,
    facilitation,
    observatoire,
    observatoire_curation,
    participation,
    plan,
    privacy,
)

app_name = "boards"

urlpatterns = [
    # Participants
    path("", participation.home, name="home"),
    path("accessibilite/", accessibility.accessibility_statement, name="accessibility"),
    path("a/<str:code>/", participation.board, name="board"),
    path("a/<str:code>/join/", participation.join, name="join"),
    path("a/<str:code>/me/", participation.profile, name="profile"),
    path("a/<str:code>/me/data/", privacy.my_data, name="my_data"),
    path("a/<str:code>/me/data.json", privacy.my_data_download, name="my_data_download"),
    path("a/<str:code>/me/forget/", privacy.forget_me, name="forget_me"),
    path("a/<str:code>/impossibles/", participation.post_impossible, name="post_impossible"),
    path("a/<str:code>/impossibles/more/", participation.more_impossibles, name="more_impossibles"),
    path("a/<str:code>/impossibles/mine/", participation.my_impossibles, name="my_impossibles"),
    path("a/<str:code>/impossibles/<int:impossible_id>/", participation.impossible_detail, name="impossible"),
    path("a/<str:code>/impossibles/<int:impossible_id>/me-too/", participation.me_too, name="me_too"),
    path("a/<str:code>/impossibles/<int:impossible_id>/offers/", participation.offer_help, name="offer_help"),
    path("a/<str:code>/impossibles/<int:impossible_id>/same/", participation.same_impossible, name="same_impossible"),
    # The plan: actions written by an impossible's author (when allowed)
    path(
        "a/<str:code>/impossibles/<int:impossible_id>/actions/new/", actions.author_create, name="author_action_create"
    ),
    path("a/<str:code>/actions/<int:action_id>/", actions.author_edit, name="author_action_edit"),
    # Facilitators
    path("facilitate/", facilitation.facilitator_home, name="facilitator_home"),
    path("facilitate/new/", facilitation.atelier_create, name="atelier_create"),
    path("facilitate/invitations/<int:invitation_id>/", facilitation.answer_invitation, name="answer_invitation"),
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
    path(
        "a/<str:code>/console/precisions/<int:precision_id>/moderate/",
        facilitation.moderate_precision,
        name="moderate_precision",
    ),
    path("a/<str:code>/console/duplicates/merge/", facilitation.merge_duplicate, name="merge_duplicate"),
    path("a/<str:code>/console/duplicates/dismiss/", facilitation.dismiss_duplicate, name="dismiss_duplicate"),
    path("a/<str:code>/console/authors-plan/", facilitation.set_authors_can_plan, name="set_authors_can_plan"),
    path(
        "a/<str:code>/console/impossibles/<int:impossible_id>/actions/new/",
        actions.facilitator_create,
        name="action_create",
    ),
    path("a/<str:code>/console/actions/<int:action_id>/", actions.facilitator_edit, name="action_edit"),
    path("a/<str:code>/console/actions/<int:action_id>/delete/", actions.facilitator_delete, name="action_delete"),
    # The plan page, its exports and links (facilitators)
    path("a/<str:code>/plan/", plan.plan_page, name="plan"),
    path("a/<str:code>/plan/panels/", plan.plan_panels, name="plan_panels"),
    path("a/<str:code>/plan/export/<str:format>/", plan.plan_export, name="plan_export"),
    path("a/<str:code>/plan/share/", plan.plan_share, name="plan_share"),
    path("a/<str:code>/plan/import/", plan.import_actions, name="plan_import"),
    path("a/<str:code>/plan/pilots/<int:pilot_id>/renew/", plan.renew_pilot_link, name="renew_pilot_link"),
    path("a/<str:code>/projector/", facilitation.projector, name="projector"),
    path("a/<str:code>/projector/panels/", facilitation.projector_panels, name="projector_panels"),
    path("a/<str:code>/poster/", facilitation.poster, name="poster"),
    # Links without an account: the published plan, a pilot's follow-up
    path("plan/<str:token>/", plan.shared_plan, name="shared_plan"),
    path("plan/<str:token>/panels/", plan.shared_plan_panels, name="shared_plan_panels"),
    path("plan/<str:token>/export/<str:format>/", plan.shared_plan_export, name="shared_plan_export"),
    path("suivi/<str:token>/", plan.follow_up, name="follow_up"),
    path("suivi/<str:token>/panels/", plan.follow_up_panels, name="follow_up_panels"),
    path("suivi/<str:token>/actions/<int:action_id>/", plan.follow_up_action, name="follow_up_action"),
    path("suivi/<str:token>/observatoire/", plan.follow_up_consent, name="follow_up_consent"),
    # The observatoire, public
    path("observatoire/", observatoire.observatoire, name="observatoire"),
    path("observatoire/donnees.schema.json", observatoire.schema, name="observatoire_schema"),
    path("observatoire/donnees.csv", observatoire.data, {"format": "csv"}, name="observatoire_csv"),
    path("observatoire/donnees.json", observatoire.data, {"format": "json"}, name="observatoire_json"),
    path("observatoire/theme/<slug:slug>/", observatoire.theme, name="observatoire_theme"),
    path(
        "observatoire/region/<str:code>/",
        observatoire.territory,
        {"level": "region"},
        name="observatoire_region",
    ),
    path(
        "observatoire/departement/<str:code>/",
        observatoire.territory,
        {"level": "departement"},
        name="observatoire_departement",
    ),
    # The observatoire team's theme curation
    path("observatoire/themes/", observatoire_curation.theme_list, name="curation"),
    path("observatoire/themes/<int:theme_id>/", observatoire_curation.theme_detail, name="curation_theme"),
    path("observatoire/themes/<int:theme_id>/accept/", observatoire_curation.theme_accept, name="curation_accept"),
    path("observatoire/themes/<int:theme_id>/rename/", observatoire_curation.theme_rename, name="curation_rename"),
    path("observatoire/themes/<int:theme_id>/merge/", observatoire_curation.theme_merge, name="curation_merge"),
    path("observatoire/themes/<int:theme_id>/split/", observatoire_curation.theme_split, name="curation_split"),
    path(
        "observatoire/themes/<int:theme_id>/impossibles/<int:impossible_id>/detach/",
        observatoire_curation.theme_detach,
        name="curation_detach",
    ),
]
