"""A daphne process loads its views, its first pages' templates and its
languages when it starts (cerveau/warmup.py), not when the first phone of
the evening asks for a page. Checked in a fresh interpreter: in this one,
other tests have long loaded all of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.once

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys
from django.template import engines
from django.utils.translation import trans_real
import cerveau.asgi
# django-template-partials' loader, around Django's cached one.
(loader,) = engines["django"].engine.template_loaders[0].loaders
print(json.dumps({
    "modules": sorted(name for name in sys.modules if name.startswith(("boards.views", "boards.exporters"))),
    "templates": sorted(key.split(":")[0] for key in loader.get_template_cache),
    "languages": sorted(trans_real._translations),
}))
"""


def test_starting_the_asgi_application_loads_what_the_first_requests_need():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "cerveau.settings", "CERVEAU_INSECURE_DEFAULTS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.splitlines()[-1])
    # The URL conf's views, and what they import (the exports among them).
    assert {"boards.views.participation", "boards.views.plan", "boards.exporters.pdf"} <= set(loaded["modules"])
    assert {"base.html", "boards/join.html", "boards/board.html"} <= set(loaded["templates"])
    assert {"fr", "en"} <= set(loaded["languages"])
