"""Create a benchmark atelier straight through the ORM (run with Django configured).

    python -m bench.data --clients 500 --writers 40 --impossibles 30 --out atelier.json

N participants for the sockets and a few writer participants, each with a
database session holding ``boards.access.session_key(atelier.pk) -> participant.pk``
(what joining through the form stores), and a seeded board. Bulk inserts:
thousands of participants take a second, not thousands of HTTP joins.
"""

from __future__ import annotations

import argparse
import json
import os
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import django

from bench.procs import orphan_guard


def create(clients: int, writers: int, impossibles: int, seed: int) -> dict[str, Any]:
    from django.conf import settings
    from django.contrib.sessions.backends.base import VALID_KEY_CHARS
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.db import transaction
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    from boards import access
    from boards.access import session_key
    from boards.models import (
        Atelier,
        Category,
        HelpKind,
        HelpOffer,
        Impossible,
        MeToo,
        Participant,
        Role,
        new_join_code,
    )

    rng = random.Random(seed)
    with transaction.atomic():
        code = new_join_code()
        while Atelier.objects.filter(code=code).exists():
            code = new_join_code()
        fields = {f.name for f in Atelier._meta.get_fields()}
        extra: dict[str, Any] = {}
        if "phase" in fields:  # later versions have phases: pick the one where everything is open
            extra["phase"] = "impossibles"
        atelier = Atelier.objects.create(
            title=f"Atelier de l'impossible — banc d'essai {clients}", territory="Charente", code=code, **extra
        )
        roles = Role.values
        people = Participant.objects.bulk_create(
            Participant(
                atelier=atelier,
                name=f"{'Écrivain' if i >= clients else 'Personne'} {i}",
                organisation=f"Organisation {i % 97}",
                role=roles[i % len(roles)],
            )
            for i in range(clients + writers)
        )
        if any(person.pk is None for person in people):  # backends without RETURNING (old SQLite)
            people = list(Participant.objects.filter(atelier=atelier).order_by("pk"))
        store = SessionStore()
        expires = timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE)
        keys = [get_random_string(32, VALID_KEY_CHARS) for _ in people]
        Session.objects.bulk_create(
            Session(
                session_key=key,
                session_data=store.encode({session_key(atelier.pk): person.pk}),
                expire_date=expires,
            )
            for key, person in zip(keys, people, strict=True)
        )
        categories = Category.values
        seeded = Impossible.objects.bulk_create(
            Impossible(
                atelier=atelier,
                author=people[clients + i % max(writers, 1)] if writers else people[i % len(people)],
                statement=f"Impossible de trouver la solution n° {i} sans l'aide de la salle",
                details="Des détails sur deux lignes\npour que la carte ait une taille réaliste.",
                category=categories[i % len(categories)],
                anonymous=i % 7 == 0,
                submission_key=f"seed-{i}",
                me_too_count=0,
                offer_count=0,
            )
            for i in range(impossibles)
        )
        if any(impossible.pk is None for impossible in seeded):
            seeded = list(Impossible.objects.filter(atelier=atelier).order_by("pk"))
        # "Moi aussi" from socket participants only: the writer's own toggles start from "off".
        me_toos = []
        offers = []
        kinds = HelpKind.values
        for n, impossible in enumerate(seeded):
            voters = rng.sample(range(clients), k=min(clients, rng.randint(0, 6)))
            me_toos.extend(MeToo(impossible=impossible, participant=people[v]) for v in voters)
            impossible.me_too_count = len(voters)
            helpers = rng.sample(range(clients), k=min(clients, rng.randint(0, 2)))
            offers.extend(
                HelpOffer(
                    impossible=impossible,
                    author=people[h],
                    kind=kinds[(n + h) % len(kinds)],
                    message=f"Je peux aider sur le n° {n}",
                    submission_key=f"seed-{n}-{h}",
                )
                for h in helpers
            )
            impossible.offer_count = len(helpers)
        MeToo.objects.bulk_create(me_toos)
        HelpOffer.objects.bulk_create(offers)
        Impossible.objects.bulk_update(seeded, ["me_too_count", "offer_count"])
        atelier.refresh_from_db()
    return {
        "atelier_id": atelier.pk,
        "code": atelier.code,
        # What the room's QR code carries (older versions have no invitation).
        "invite": access.invitation(atelier) if hasattr(access, "invitation") else "",
        "version": atelier.version,
        "clients": keys[:clients],
        "writers": keys[clients:],
        "impossibles": [impossible.pk for impossible in seeded],
    }


def main() -> None:
    orphan_guard()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--writers", type=int, default=40)
    parser.add_argument("--impossibles", type=int, default=30)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cerveau.settings")
    django.setup()
    result = create(args.clients, args.writers, args.impossibles, args.seed)
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
