"""Uploads for the branding tests, good and hostile, made here from scratch."""

from __future__ import annotations

import io
import os
import struct
import zlib

from PIL import Image
from PIL.PngImagePlugin import PngInfo

PNG_END = b"IEND\xaeB`\x82"
SVG_WITH_SCRIPT = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(document.cookie)</script><rect width='10' height='10'/></svg>"
)
HTML_PAYLOAD = b"<html><body><script>alert(document.cookie)</script></body></html>"


def png(size: tuple[int, int] = (40, 20), color: tuple[int, int, int] = (0, 90, 200)) -> bytes:
    """A PNG with a text chunk (metadata that must not survive)."""
    info = PngInfo()
    info.add_text("Comment", "made-by-secret-tool")
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def jpeg_with_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "EvilCam Industries"  # Make
    exif[0x0131] = "secret-editor 9.1"  # Software
    out = io.BytesIO()
    Image.new("RGB", (64, 32), (200, 40, 40)).save(out, "JPEG", exif=exif.tobytes(), quality=90)
    return out.getvalue()


def gif_html_polyglot() -> bytes:
    out = io.BytesIO()
    Image.new("P", (8, 8)).save(out, "GIF")
    return out.getvalue() + HTML_PAYLOAD


def png_zip_polyglot() -> bytes:
    """A valid PNG with an HTML page and a ZIP archive appended after IEND."""
    archive = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("evil.html", HTML_PAYLOAD)
    return png() + HTML_PAYLOAD + archive.getvalue()


def noise_png(side: int) -> bytes:
    """Incompressible pixels: a PNG about 3 * side**2 bytes large."""
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, "PNG")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(side: int = 30_000) -> bytes:
    """A real decompression bomb: a 1-bit side×side PNG whose zeros compress ~1000:1
    (about 110 KB on the wire, 112 MB of pixel rows once inflated)."""
    row = b"\x00" * (1 + (side + 7) // 8)
    squeeze = zlib.compressobj(9)
    data = b"".join(squeeze.compress(row) for _ in range(side)) + squeeze.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", data)
        + _chunk(b"IEND", b"")
    )
