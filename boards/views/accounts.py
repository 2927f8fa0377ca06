"""Facilitators' login (the site's and the admin's) and password reset,
behind the rate limits of `boards.ratelimit`: Django's own views, wrapped.
Wrong passwords are counted by `boards.signals` (`user_login_failed`)."""

from __future__ import annotations

from functools import wraps
from typing import TYPE_CHECKING

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.shortcuts import render
from django.views.decorators.debug import sensitive_post_parameters

from boards import ratelimit

if TYPE_CHECKING:
    from collections.abc import Callable

    from django.http import HttpRequest, HttpResponse


def _throttled_login(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Refuse the attempt (429, on the login page) while the account or the
    network is blocked; mark the browser as known after a login."""

    @wraps(view)
    @sensitive_post_parameters()
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method != "POST":
            return view(request, *args, **kwargs)
        username = request.POST.get("username", "")
        refusal = ratelimit.login_refusal(request, username)
        if refusal is not None:
            form = AuthenticationForm(request, initial={"username": username})
            context = {"form": form, "next": request.POST.get("next", request.GET.get("next", "")), "refusal": refusal}
            return refusal.respond(render(request, "registration/login.html", context))
        response = view(request, *args, **kwargs)
        user = request.user
        logged_in = user.is_authenticated and user.get_username().casefold() == username.strip().casefold()
        if response.status_code == 302 and logged_in:
            ratelimit.remember_device(response, username)
        return response

    return wrapper


login = _throttled_login(auth_views.LoginView.as_view())
admin_login = _throttled_login(admin.site.login)


_password_reset = auth_views.PasswordResetView.as_view()


def password_reset(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = PasswordResetForm(request.POST)
        if form.is_valid():
            refusal = ratelimit.password_reset_refusal(request, form.cleaned_data["email"])
            if refusal is not None:
                context = {"form": form, "refusal": refusal}
                return refusal.respond(render(request, "registration/password_reset_form.html", context))
    return _password_reset(request)
