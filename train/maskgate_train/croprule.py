"""The crop rule shared with the door (edge-agent). Keep this and the manifest's text in step.

Given an image W x H and a face box (x1, y1, x2, y2) in pixels:
  1. expand by MARGIN (15 %) of the box width on the left and right, of the box height on top
     and bottom;
  2. make it square around its centre, side = the longer side of the expanded box;
  3. round each edge to the nearest integer (half up: floor(v + 0.5)) and clamp to [0, W] x [0, H]
     (the crop may then be non-square at an image border: no padding);
  4. crop columns [left, right) and rows [top, bottom) and resize to S x S with bilinear
     (triangle) filtering, antialiased when shrinking (Pillow ``Image.BILINEAR``;
     Rust ``image::imageops::resize(.., FilterType::Triangle)``).
"""

from __future__ import annotations

import math

from PIL import Image

MARGIN = 0.15

CROP_RULE_TEXT = (
    "Face box (x1,y1,x2,y2) in pixels of the W x H frame (UltraFace gives 0..1: multiply x by W, "
    "y by H). w=x2-x1, h=y2-y1. Expand: x1-=0.15*w, x2+=0.15*w, y1-=0.15*h, y2+=0.15*h. Square "
    "around the centre: cx=(x1+x2)/2, cy=(y1+y2)/2, s=max(x2-x1, y2-y1); box=(cx-s/2, cy-s/2, "
    "cx+s/2, cy+s/2). Round each edge with floor(v+0.5) and clamp x to [0,W], y to [0,H] (no "
    "padding: at a border the crop is not square). Skip the face if right-left<2 or bottom-top<2. "
    "Crop columns [left,right), rows [top,bottom); resize to input_size x input_size with "
    "bilinear/triangle filtering, antialiased when shrinking (Pillow Image.BILINEAR == Rust "
    "image::imageops::resize FilterType::Triangle)."
)


def square_box(box: tuple[float, float, float, float], margin: float = MARGIN) -> tuple[float, float, float, float]:
    """Steps 1-2: the expanded square (float, unclamped)."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    x1, x2 = x1 - margin * w, x2 + margin * w
    y1, y2 = y1 - margin * h, y2 + margin * h
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    s = max(x2 - x1, y2 - y1)
    return cx - s / 2.0, cy - s / 2.0, cx + s / 2.0, cy + s / 2.0


def _round_half_up(v: float) -> int:
    return int(math.floor(v + 0.5))


def crop_box(box: tuple[float, float, float, float], width: int, height: int,
             margin: float = MARGIN) -> tuple[int, int, int, int] | None:
    """Steps 1-3: integer crop (left, top, right, bottom), or None if degenerate."""
    sx1, sy1, sx2, sy2 = square_box(box, margin)
    left = min(max(_round_half_up(sx1), 0), width)
    right = min(max(_round_half_up(sx2), 0), width)
    top = min(max(_round_half_up(sy1), 0), height)
    bottom = min(max(_round_half_up(sy2), 0), height)
    if right - left < 2 or bottom - top < 2:
        return None
    return left, top, right, bottom


def door_crop(img: Image.Image, box: tuple[float, float, float, float], size: int,
              resample: int = Image.BILINEAR) -> Image.Image | None:
    """Steps 1-4 exactly as the door does them."""
    cb = crop_box(box, img.width, img.height)
    if cb is None:
        return None
    return img.resize((size, size), resample, box=cb)
