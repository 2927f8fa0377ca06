from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from boards.views import accounts, health

urlpatterns = [
    # For load balancers and monitors: outside i18n, auth and rate limits.
    path("healthz", health.healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    # Rate limited (boards/ratelimit.py): before the views they wrap.
    path("admin/login/", accounts.admin_login),
    path("admin/", admin.site.urls),
    path("accounts/login/", accounts.login, name="login"),
    path("accounts/password_reset/", accounts.password_reset, name="password_reset"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("boards.urls")),
]
