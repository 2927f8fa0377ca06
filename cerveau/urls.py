from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from boards.views import health

urlpatterns = [
    # For load balancers and monitors: outside i18n, auth and rate limits.
    path("healthz", health.healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("boards.urls")),
]
