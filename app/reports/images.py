"""Logo uploads: sniffed, bounded, decoded and re-encoded. Imports no Flask.

Nothing the client says about the file counts (name, extension, Content-Type):
Pillow identifies it from its bytes, and only its PNG and JPEG decoders are
allowed to try. The size in bytes is checked before anything is parsed, the
pixel dimensions from the header before anything is decoded (a decompression
bomb never reaches the decoder), and the decoded pixels are written afresh as
a PNG: metadata (EXIF, text chunks, ICC profiles) and whatever rode along after
the image data (an HTML or ZIP polyglot's payload) stay behind.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Final

from PIL import Image, ImageOps, UnidentifiedImageError

from app.core.errors import DomainError

MAX_BYTES: Final = 512 * 1024
MAX_SIDE: Final = 2000
FORMATS: Final = ("PNG", "JPEG")


class LogoTooLarge(DomainError):
    status = 413
    code = "logo_too_large"


class LogoRefused(DomainError):
    status = 422
    code = "logo_not_accepted"


@dataclass(frozen=True, slots=True)
class CleanLogo:
    png: bytes
    width: int
    height: int
    source_format: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.png).hexdigest()


def clean_logo(raw: bytes) -> CleanLogo:
    """The upload as a fresh PNG, or LogoTooLarge (bytes) / LogoRefused (anything else)."""
    if len(raw) > MAX_BYTES:
        raise LogoTooLarge(f"the logo is {len(raw):,} bytes; at most {MAX_BYTES:,} are accepted")
    if not raw:
        raise LogoRefused("the logo is empty")
    try:
        return _reencode(raw)
    except LogoRefused:
        raise
    except Image.DecompressionBombError:
        # Past twice Pillow's own pixel limit, opening the header already refuses;
        # below that, _check_size does, still before any decoding.
        raise LogoRefused(
            f"the logo's dimensions are too large (at most {MAX_SIDE}×{MAX_SIDE} pixels)"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise LogoRefused(_why(exc)) from None


def _why(exc: Exception) -> str:
    if isinstance(exc, UnidentifiedImageError):
        return "the logo is not a PNG or JPEG image (its content was checked, not its name)"
    return f"the logo is not a valid PNG or JPEG image: {type(exc).__name__}"


def _reencode(raw: bytes) -> CleanLogo:
    with Image.open(io.BytesIO(raw), formats=FORMATS) as probe:
        source_format = str(probe.format)
        _check_size(*probe.size)
        probe.verify()  # structure and checksums, before any pixel is decoded
    with Image.open(io.BytesIO(raw), formats=FORMATS) as image:
        image.load()  # a truncated or corrupt image fails here, not later
        upright = ImageOps.exif_transpose(image)
    mode = "RGBA" if _has_alpha(upright) else "RGB"
    pixels = upright.convert(mode)
    # A new image from the pixels alone: no info dict (EXIF, ICC, text) carried over.
    fresh = Image.frombytes(mode, pixels.size, pixels.tobytes())
    out = io.BytesIO()
    fresh.save(out, format="PNG", optimize=True)
    return CleanLogo(out.getvalue(), fresh.width, fresh.height, source_format)


def _check_size(width: int, height: int) -> None:
    if width > MAX_SIDE or height > MAX_SIDE or width < 1 or height < 1:
        raise LogoRefused(
            f"the logo is {width}×{height} pixels; at most {MAX_SIDE}×{MAX_SIDE} are accepted"
        )


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
