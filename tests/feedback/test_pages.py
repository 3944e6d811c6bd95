"""The thumbs on /search and the /feedback page, through the Flask test client
with a real session cookie and CSRF tokens."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

from flask.testing import FlaskClient

from app.feedback.pages import CHART_HEIGHT, CHART_WIDTH, chart_bars
from app.feedback.service import DayTally
from tests.feedback.helpers import hit_id, vote
from tests.support.web import web_login
from tests.support.world import World

TENANT_OF = {"alice": "acme", "bob": "acme", "carol": "globex", "ops": "", "synthetic": "acme"}


def logged_in(world: World, username: str) -> FlaskClient:
    client = world.app.test_client()
    assert web_login(client, TENANT_OF[username], username).status_code == 302
    return client


def thumbs(page: str, name: str) -> str:
    """The rating form of the result called ``name``."""
    found = re.search(rf'<form [^>]*aria-label="Rate {re.escape(name)}">(.*?)</form>', page, re.S)
    assert found, page
    return found.group(1)


def csrf(form: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert found
    return found.group(1)


def test_each_search_result_has_thumbs_that_record_a_vote(world: World) -> None:
    bob = logged_in(world, "bob")
    page = bob.get("/search?q=rocket").get_data(as_text=True)
    assert re.search(r'<a href="/entities/[0-9a-f-]+">Acme Rocket Works</a>', page)
    form = thumbs(page, "Acme Rocket Works")
    assert 'aria-label="Thumbs up" aria-pressed="false"' in form
    assert 'aria-label="Thumbs down" aria-pressed="false"' in form
    entity_id = hit_id(world, "rocket", "Acme Rocket Works")
    assert f'name="entity_id" value="{entity_id}"' in form
    posted = bob.post(
        "/feedback/vote",
        data={"csrf_token": csrf(form), "query": "rocket", "entity_id": entity_id, "vote": "up"},
    )
    assert posted.status_code == 302
    assert posted.headers["Location"] == f"/search?q=rocket#result-{entity_id}"
    back = bob.get("/search?q=rocket").get_data(as_text=True)
    assert "recorded for this result" in back
    again = thumbs(back, "Acme Rocket Works")
    assert 'aria-label="Thumbs up" aria-pressed="true"' in again
    assert 'aria-label="Thumbs down" aria-pressed="false"' in again
    summary = world.client.get("/api/v1/feedback/summary", headers=world.headers("alice"))
    assert summary.get_json()["totals"]["up"] == 1


def test_the_vote_form_needs_its_csrf_token(world: World) -> None:
    bob = logged_in(world, "bob")
    entity_id = hit_id(world, "rocket", "Acme Rocket Works")
    refused = bob.post("/feedback/vote", data={"query": "rocket", "entity_id": entity_id,
                                               "vote": "up"})  # fmt: skip
    assert refused.status_code == 400
    summary = world.client.get("/api/v1/feedback/summary", headers=world.headers("alice"))
    assert summary.get_json()["totals"]["total"] == 0


def test_a_bad_or_foreign_vote_form_gets_a_plain_error_page(world: World) -> None:
    bob = logged_in(world, "bob")
    form = thumbs(bob.get("/search?q=rocket").get_data(as_text=True), "Acme Rocket Works")
    token = csrf(form)
    globex = hit_id(world, "rocket", "Globex Rocket Testing Range", user="carol")
    foreign = bob.post(
        "/feedback/vote",
        data={"csrf_token": token, "query": "rocket", "entity_id": globex, "vote": "up"},
    )
    assert foreign.status_code == 404
    assert "Globex" not in foreign.get_data(as_text=True)
    bad = bob.post(
        "/feedback/vote",
        data={"csrf_token": token, "query": "rocket", "entity_id": globex, "vote": "meh"},
    )
    assert bad.status_code == 400
    assert "vote: Must be one of: up, down." in bad.get_data(as_text=True)


def test_roles_that_may_not_vote_see_no_thumbs(world: World) -> None:
    probe = logged_in(world, "synthetic").get("/search?q=summit").get_data(as_text=True)
    assert "Summit Probe Target" in probe
    assert "Thumbs up" not in probe
    assert logged_in(world, "synthetic").get("/feedback").status_code == 403


def test_the_feedback_page_shows_datasets_days_chart_and_export(world: World) -> None:
    rocket = hit_id(world, "rocket", "Acme Rocket Works")
    assert vote(world, "bob", query="rocket", entity_id=rocket, vote="up").status_code == 201
    assert vote(world, "alice", query="rocket", entity_id=rocket, vote="down").status_code == 201
    alice = logged_in(world, "alice")
    response = alice.get("/feedback")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<strong>2</strong> votes: 1 up, 1 down · 50 % positive" in page
    table = re.search(r'<table aria-label="Feedback by dataset">(.*?)</table>', page, re.S)
    assert table
    cells = re.findall(r"<td>([^<]*)", table.group(1))
    assert ">registry</a>" in table.group(1)
    assert cells[:3] == ["1", "1", "2"]
    assert 'role="img" aria-label="Votes per day' in page
    assert page.count('class="fb-up"') >= 2  # the day's bar and the dataset's ratio
    assert 'aria-current="page">Feedback</a>' in page
    link = re.search(r'href="(/feedback/export\.csv[^"]*)"', page)
    assert link
    download = alice.get(link.group(1))
    assert download.status_code == 200
    assert download.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(download.get_data(as_text=True))))
    assert sorted(r["voter"] for r in rows) == ["alice", "bob"]


def test_the_feedback_page_filters_and_keeps_them_in_the_export_link(world: World) -> None:
    rocket = hit_id(world, "rocket", "Acme Rocket Works")
    vote(world, "bob", query="rocket", entity_id=rocket, vote="up")
    alice = logged_in(world, "alice")
    page = alice.get("/feedback?dataset=osint&since=2026-01-01").get_data(as_text=True)
    assert "No votes yet for these filters" in page
    assert 'href="/feedback/export.csv?dataset=osint&amp;since=2026-01-01"' in page
    bad = alice.get("/feedback?since=yesterday").get_data(as_text=True)
    assert "Filters ignored: since not valid" in bad
    assert "<strong>1</strong> vote:" in bad


def test_an_empty_feedback_page_says_so(world: World) -> None:
    page = logged_in(world, "bob").get("/feedback").get_data(as_text=True)
    assert "No votes yet" in page
    assert "Nothing to chart yet." in page


def test_the_operator_and_other_tenants_see_no_feedback(world: World) -> None:
    rocket = hit_id(world, "rocket", "Acme Rocket Works")
    vote(world, "bob", query="rocket", entity_id=rocket, vote="up")
    ops = logged_in(world, "ops")
    for path in ("/feedback", "/feedback/export.csv"):
        refused = ops.get(path)
        assert refused.status_code == 403
        assert "registry" not in refused.get_data(as_text=True)
    carol = logged_in(world, "carol").get("/feedback").get_data(as_text=True)
    assert "No votes yet" in carol
    assert "registry" not in carol


def test_the_navigation_offers_feedback_to_tenant_users_only(world: World) -> None:
    assert ">Feedback</a>" in logged_in(world, "bob").get("/search").get_data(as_text=True)
    assert ">Feedback</a>" not in logged_in(world, "ops").get("/ops").get_data(as_text=True)


def test_the_chart_keeps_days_without_votes_as_gaps_and_scales_to_the_busiest() -> None:
    first, third = date(2026, 11, 1), date(2026, 11, 3)
    every = chart_bars([DayTally(up=1, down=1, day=first), DayTally(up=4, down=0, day=third)])
    # At least two weeks wide, ending on the last day with votes.
    assert [bar.day for bar in every] == [third - timedelta(n) for n in range(13, -1, -1)]
    bars = every[-3:]
    assert [bar.day for bar in bars] == [first, date(2026, 11, 2), third]
    assert all(bar.up_height == bar.down_height == 0 for bar in every[:-3])
    assert bars[1].up_height == bars[1].down_height == 0
    assert bars[2].up_height == CHART_HEIGHT  # the busiest day is full height
    assert bars[0].up_height == bars[0].down_height == CHART_HEIGHT / 4
    assert bars[0].up_y == CHART_HEIGHT / 2  # ups stacked on the downs
    assert bars[2].width < CHART_WIDTH / 10  # one day of votes is a bar, not a wall
    assert chart_bars([]) == []
