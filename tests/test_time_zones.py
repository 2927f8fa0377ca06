"""Each atelier lives in its own time zone: its pages, forms and exports
read and write times as the clock on the wall of the room."""

from __future__ import annotations

import datetime
import zoneinfo

from boards.models import Atelier

REUNION = zoneinfo.ZoneInfo("Indian/Reunion")


def test_the_board_shows_the_start_time_where_the_atelier_happens(atelier, alice):
    Atelier.objects.filter(pk=atelier.pk).update(
        time_zone="Indian/Reunion", starts_at=datetime.datetime(2031, 6, 5, 18, 30, tzinfo=REUNION)
    )
    page = alice.get(f"/a/{atelier.code}/").content.decode()
    assert "18:30" in page
    assert "2031-06-05T18:30:00+04:00" in page


def test_the_form_reads_the_start_time_in_the_chosen_zone_and_shows_it_back(facilitator):
    data = {
        "title": "Atelier de l'impossible — Saint-Denis",
        "starts_at": "2031-06-05T18:30",
        "venue": "",
        "commune": "Saint-Denis",
        "departement": "La Réunion",
        "region": "",
        "insee_code": "97411",
        "territory": "",
        "language": "fr",
        "time_zone": "Indian/Reunion",
        "categories": ["recrutement"],
    }
    response = facilitator.post("/facilitate/new/", data)
    assert response.status_code == 302
    atelier = Atelier.objects.get(title=data["title"])
    assert atelier.time_zone == "Indian/Reunion"
    assert atelier.starts_at == datetime.datetime(2031, 6, 5, 18, 30, tzinfo=REUNION)
    form = facilitator.get(f"/a/{atelier.code}/console/settings/").content.decode()
    assert 'value="2031-06-05T18:30"' in form


def test_an_unknown_time_zone_is_refused(facilitator):
    response = facilitator.post(
        "/facilitate/new/", {"title": "X", "language": "fr", "time_zone": "Mars/Olympus", "categories": ["autre"]}
    )
    assert response.status_code == 422
    assert not Atelier.objects.filter(title="X").exists()
