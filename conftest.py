"""Loaded before Django's settings: tests run without a production secret."""

import os

os.environ.setdefault("CERVEAU_INSECURE_DEFAULTS", "1")
