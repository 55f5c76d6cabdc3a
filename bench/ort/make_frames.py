#!/usr/bin/env python3
"""Make synthetic door-camera frames from labelled face photos, for the onnxruntime baseline.

Photos are taken from ``PHOTOS/with_mask`` and ``PHOTOS/without_mask`` in sorted file-name
order, alternating (with, without, with, ...), each scaled so that its longer side is
``--photo-side`` pixels, pasted in the centre of a mid-grey ``--width`` x ``--height`` frame,
and saved as JPEG. The same inputs and options always give the same frames.

The frames are derived from the shared test data: generate them on the fly (for example into
/tmp) and never commit them.

    python make_frames.py --photos ../shared/data/masks/test --out /tmp/ort-frames --count 40
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

LABELS = ("with_mask", "without_mask")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, required=True,
                        help="folder holding with_mask/ and without_mask/ (such as the test split)")
    parser.add_argument("--out", type=Path, required=True, help="where to write the frames")
    parser.add_argument("--count", type=int, default=40, help="how many frames (default 40)")
    parser.add_argument("--width", type=int, default=640, help="frame width (default 640)")
    parser.add_argument("--height", type=int, default=480, help="frame height (default 480)")
    parser.add_argument("--photo-side", type=int, default=240,
                        help="longer side of the pasted photo in pixels (default 240)")
    parser.add_argument("--grey", type=int, default=128,
                        help="background grey level 0..255 (default 128)")
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality (default 90)")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    if not 0 < args.photo_side <= min(args.width, args.height):
        parser.error("--photo-side must be positive and fit in the frame")
    return args


def sorted_files(folder: Path) -> list[Path]:
    """The regular files directly in ``folder``, sorted by name."""
    if not folder.is_dir():
        raise SystemExit(f"no folder {folder}")
    return sorted(p for p in folder.iterdir() if p.is_file())


def load_photo(path: Path) -> Image.Image | None:
    """An RGB photo (format sniffed from the content, EXIF orientation applied, alpha
    dropped), or None when the file is not a readable image."""
    try:
        with Image.open(path) as image:
            return ImageOps.exif_transpose(image).convert("RGB")
    except (UnidentifiedImageError, OSError) as error:
        print(f"skipped {path}: {error}", file=sys.stderr)
        return None


def frame_from(photo: Image.Image, args: argparse.Namespace) -> Image.Image:
    """``photo`` scaled to a longer side of ``args.photo_side``, centred on a grey frame."""
    scale = args.photo_side / max(photo.size)
    size = (max(1, round(photo.width * scale)), max(1, round(photo.height * scale)))
    scaled = photo.resize(size, Image.Resampling.BILINEAR)
    frame = Image.new("RGB", (args.width, args.height), (args.grey,) * 3)
    frame.paste(scaled, ((args.width - size[0]) // 2, (args.height - size[1]) // 2))
    return frame


def main(argv: list[str] | None = None) -> int:
    """Writes ``--count`` frames and prints one line per frame: frame, label, source photo."""
    args = parse_args(argv)
    queues = [iter(sorted_files(args.photos / label)) for label in LABELS]
    args.out.mkdir(parents=True, exist_ok=True)
    written = 0
    for label_index in itertools.cycle(range(len(LABELS))):
        if written == args.count:
            break
        photo, source = None, None
        for source in queues[label_index]:
            photo = load_photo(source)
            if photo is not None:
                break
        if photo is None:
            raise SystemExit(f"ran out of readable photos in {args.photos / LABELS[label_index]}")
        label = LABELS[label_index]
        target = args.out / f"frame-{written:03d}-{label}-{source.stem}.jpg"
        frame_from(photo, args).save(target, "JPEG", quality=args.quality)
        print(f"{target}\t{label}\t{source}")
        written += 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
