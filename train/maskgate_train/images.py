"""Loading photos whose file extension may lie: Pillow sniffs the content (magic bytes)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps

# Formats we expect in the data; anything else is reported and skipped.
ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "BMP", "MPO"}


class UnreadableImage(Exception):
    """The file is not an image we can decode (reason in the message)."""


def load_rgb(path: str | Path) -> tuple[Image.Image, str]:
    """Decode ``path`` by its content, apply the EXIF orientation, return (RGB image, format).

    Alpha is dropped (not composited), as ``DynamicImage::to_rgb8`` does in Rust's ``image``.
    """
    try:
        with Image.open(path) as im:
            fmt = im.format or "?"
            if fmt not in ALLOWED_FORMATS:
                raise UnreadableImage(f"unsupported format {fmt}")
            im.load()
            im = ImageOps.exif_transpose(im)
            if im.mode == "P" and "transparency" in im.info:
                im = im.convert("RGBA")
            rgb = im.convert("RGB")
    except UnreadableImage:
        raise
    except Exception as exc:  # Pillow raises many kinds; all mean "cannot use this file"
        raise UnreadableImage(f"{type(exc).__name__}: {exc}") from exc
    if rgb.width < 8 or rgb.height < 8:
        raise UnreadableImage(f"too small: {rgb.width}x{rgb.height}")
    return rgb, fmt
