from __future__ import annotations

from django.urls import path

from boards import views

app_name = "boards"

urlpatterns = [
    path("", views.home, name="home"),
    path("a/<str:code>/", views.board, name="board"),
    path("a/<str:code>/join/", views.join, name="join"),
    path("a/<str:code>/me/", views.profile, name="profile"),
    path("a/<str:code>/impossibles/", views.post_impossible, name="post_impossible"),
    path("a/<str:code>/impossibles/<int:impossible_id>/", views.impossible_detail, name="impossible"),
    path("a/<str:code>/impossibles/<int:impossible_id>/me-too/", views.me_too, name="me_too"),
    path("a/<str:code>/impossibles/<int:impossible_id>/offers/", views.offer_help, name="offer_help"),
]
