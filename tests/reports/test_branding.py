"""Report branding: a logo is accepted only as a PNG or JPEG judged by its bytes,
bounded in bytes and pixels, and stored re-encoded; hostile uploads (SVG with
script, polyglots, bombs, text named .png) are refused or neutralised; each
tenant sees and changes only its own branding."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest
from PIL import Image

from app.reports.images import MAX_BYTES
from tests.reports import images
from tests.support.world import World

BRANDING = "/api/v1/reports/branding"
LOGO = "/api/v1/reports/branding/logo"


def upload(
    world: World,
    logo: bytes | None = None,
    footer: str | None = None,
    *,
    user: str = "alice",
    filename: str = "logo.png",
    content_type: str = "image/png",
) -> Any:
    data: dict[str, Any] = {}
    if logo is not None:
        data["logo"] = (io.BytesIO(logo), filename, content_type)
    if footer is not None:
        data["footer"] = footer
    return world.client.put(
        BRANDING, data=data, headers=world.headers(user), content_type="multipart/form-data"
    )


def stored_logo(world: World, user: str = "alice") -> bytes:
    answer = world.client.get(LOGO, headers=world.headers(user))
    assert answer.status_code == 200, answer.get_json()
    data: bytes = answer.data
    return data


def test_a_png_is_stored_re_encoded_without_its_metadata(world: World) -> None:
    uploaded = images.png()
    answer = upload(world, uploaded, "Acme Corporation — confidential")
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    stored = stored_logo(world)
    assert stored != uploaded
    assert stored.startswith(b"\x89PNG\r\n\x1a\n")
    assert stored.endswith(images.PNG_END)
    assert b"made-by-secret-tool" not in stored
    assert body["logo"] == {
        "sha256": hashlib.sha256(stored).hexdigest(), "bytes": len(stored),
        "width": 40, "height": 20, "content_type": "image/png",
    }  # fmt: skip
    assert (body["footer"], body["updated_by"]) == ("Acme Corporation — confidential", "alice")
    with Image.open(io.BytesIO(stored)) as image:
        assert (image.format, image.size, image.getpixel((0, 0))) == ("PNG", (40, 20), (0, 90, 200))
        assert "Comment" not in image.info


def test_a_jpeg_is_accepted_as_a_png_with_its_exif_stripped(world: World) -> None:
    uploaded = images.jpeg_with_exif()
    assert b"EvilCam" in uploaded
    answer = upload(world, uploaded, filename="photo.jpg", content_type="image/jpeg")
    assert answer.status_code == 200, answer.get_json()
    stored = stored_logo(world)
    assert stored != uploaded
    assert stored.startswith(b"\x89PNG")
    assert b"EvilCam" not in stored
    assert b"secret-editor" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert image.format == "PNG"
        assert image.size == (64, 32)
        assert not image.getexif()
        assert "exif" not in image.info


def test_the_logo_is_served_as_png_with_nosniff(world: World) -> None:
    upload(world, images.png())
    answer = world.client.get(LOGO, headers=world.headers("bob"))
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "image/png"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Content-Security-Policy"] == "default-src 'none'"


@pytest.mark.parametrize(
    ("logo", "filename", "content_type"),
    [
        (images.SVG_WITH_SCRIPT, "logo.svg", "image/svg+xml"),
        (images.SVG_WITH_SCRIPT, "logo.png", "image/png"),
        (b"just some text, honestly a PNG\n", "logo.png", "image/png"),
        (images.gif_html_polyglot(), "logo.png", "image/png"),
        (images.HTML_PAYLOAD, "logo.jpg", "image/jpeg"),
        (images.png()[:60], "logo.png", "image/png"),  # truncated
        (b"", "logo.png", "image/png"),
    ],
    ids=["svg-script", "svg-named-png", "text-named-png", "gif-html-polyglot", "html", "truncated",
         "empty"],
)  # fmt: skip
def test_what_is_not_a_png_or_jpeg_is_refused_whatever_its_name(
    world: World, logo: bytes, filename: str, content_type: str
) -> None:
    answer = upload(world, logo, "new footer", filename=filename, content_type=content_type)
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["error"]["code"] == "logo_not_accepted"
    # nothing half-written: not even the footer sent with it
    assert world.client.get(BRANDING, headers=world.headers("alice")).get_json()["footer"] == ""
    assert world.client.get(LOGO, headers=world.headers("alice")).status_code == 404


def test_a_png_with_html_and_a_zip_appended_is_stored_as_a_clean_png(world: World) -> None:
    uploaded = images.png_zip_polyglot()
    assert upload(world, uploaded).status_code == 200
    stored = stored_logo(world)
    assert stored.endswith(images.PNG_END)
    assert stored.count(b"IEND") == 1  # nothing after the image's end
    for payload in (b"<html", b"<script", b"PK\x03\x04", b"evil.html"):
        assert payload not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert image.size == (40, 20)
        assert image.getpixel((5, 5)) == (0, 90, 200)


def test_a_logo_over_the_byte_limit_is_413(world: World) -> None:
    big = images.noise_png(450)
    assert MAX_BYTES < len(big) < 1024 * 1024  # ours, not the server's body limit
    answer = upload(world, big)
    assert answer.status_code == 413
    assert answer.get_json()["error"]["code"] == "logo_too_large"
    huge = images.noise_png(700)  # over the server's body limit as well
    assert upload(world, huge).status_code == 413
    assert world.client.get(LOGO, headers=world.headers("alice")).status_code == 404


@pytest.mark.parametrize(
    "logo",
    [images.png((2001, 8)), images.png((8, 2001)), images.bomb_png(30_000),
     images.bomb_png(10_000)],
    ids=["too-wide", "too-tall", "bomb-900-megapixels", "bomb-100-megapixels"],
)  # fmt: skip
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # Pillow's, expected
def test_too_many_pixels_or_a_decompression_bomb_is_422(world: World, logo: bytes) -> None:
    assert len(logo) < MAX_BYTES
    answer = upload(world, logo)
    assert answer.status_code == 422, answer.get_json()
    assert "pixels" in answer.get_json()["error"]["message"]


def test_a_refused_logo_leaves_the_previous_branding_as_it_was(world: World) -> None:
    assert upload(world, images.png(), "first").status_code == 200
    before = stored_logo(world)
    assert upload(world, images.SVG_WITH_SCRIPT, "second").status_code == 422
    assert stored_logo(world) == before
    assert (
        world.client.get(BRANDING, headers=world.headers("alice")).get_json()["footer"] == "first"
    )


def test_footer_only_keeps_the_logo_and_bad_footers_are_400(world: World) -> None:
    assert upload(world, images.png(), "first").status_code == 200
    logo = stored_logo(world)
    assert upload(world, footer="second").status_code == 200
    assert stored_logo(world) == logo
    assert upload(world).status_code == 400  # neither logo nor footer
    assert upload(world, footer="x" * 501).status_code == 400
    assert upload(world, footer="bell\x07").status_code == 400
    assert upload(world, footer="two\nlines\tok").status_code == 200


def test_changes_are_audited_and_delete_resets(world: World) -> None:
    upload(world, images.png(), "audited")
    entries = world.client.get(
        "/api/v1/audit", query_string={"target": "branding"}, headers=world.headers("alice")
    ).get_json()["entries"]
    assert [e["action"] for e in entries] == ["branding.update"]
    assert entries[0]["payload"]["uploaded_format"] == "PNG"
    assert world.client.delete(BRANDING, headers=world.headers("alice")).status_code == 204
    assert world.client.get(LOGO, headers=world.headers("alice")).status_code == 404
    assert world.client.delete(BRANDING, headers=world.headers("alice")).status_code == 404


def test_roles_analysts_read_admins_change_operators_see_nothing(world: World) -> None:
    upload(world, images.png(), "acme footer")
    assert world.client.get(BRANDING, headers=world.headers("bob")).status_code == 200
    assert upload(world, footer="bob was here", user="bob").status_code == 403
    assert world.client.delete(BRANDING, headers=world.headers("bob")).status_code == 403
    for path in (BRANDING, LOGO, "/api/v1/reports/usage"):
        assert world.client.get(path, headers=world.headers("ops")).status_code == 403
    assert upload(world, footer="ops", user="ops").status_code == 403


def test_another_tenant_neither_sees_nor_replaces_the_branding(world: World) -> None:
    upload(world, images.png(color=(1, 2, 3)), "acme footer")
    acme_logo = stored_logo(world)
    theirs = world.client.get(BRANDING, headers=world.headers("carol")).get_json()
    assert theirs == {"footer": "", "logo": None, "updated_at": None, "updated_by": None}
    assert world.client.get(LOGO, headers=world.headers("carol")).status_code == 404
    assert world.client.delete(BRANDING, headers=world.headers("carol")).status_code == 404
    assert (
        upload(world, images.png(color=(9, 9, 9)), "globex footer", user="carol").status_code == 200
    )
    assert stored_logo(world) == acme_logo
    assert stored_logo(world, "carol") != acme_logo
    mine = world.client.get(BRANDING, headers=world.headers("alice")).get_json()
    assert mine["footer"] == "acme footer"
    report = world.client.get("/api/v1/reports/usage", headers=world.headers("carol"))
    assert b"acme footer" not in report.data
    assert b"globex footer" in report.data
