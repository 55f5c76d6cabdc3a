"""Fast checks of the pieces the door depends on: ``train/.venv/bin/python -m unittest discover -s train/tests``."""

from __future__ import annotations

import json
import tempfile
import unittest
from pathlib import Path

import numpy as np
from PIL import Image

from maskgate_train.card import CROP_EXAMPLES, crop_examples
from maskgate_train.croprule import crop_box, door_crop
from maskgate_train.detect import nms
from maskgate_train.export import INPUT_NAME, OUTPUT_NAME, ort_session, self_test_input, sha256_file
from maskgate_train.images import UnreadableImage, load_rgb
from maskgate_train.synth import MODES, paint_mask

MODELS = Path(__file__).resolve().parents[2] / "models"


class CropRule(unittest.TestCase):
    def test_a_box_inside_the_frame_becomes_a_square_with_a_15_percent_margin(self):
        # w=100, h=140 -> expanded 130 x 182 around (250, 170) -> square side 182
        self.assertEqual(crop_box((200, 100, 300, 240), 640, 480), (159, 79, 341, 261))

    def test_a_box_at_the_border_is_clamped_not_padded(self):
        self.assertEqual(crop_box((10, 20, 110, 150), 640, 480), (0, 1, 145, 170))
        self.assertEqual(crop_box((580.5, 400.25, 639, 479), 640, 480), (559, 388, 640, 480))

    def test_a_whole_image_box_gives_the_whole_image(self):
        self.assertEqual(crop_box((0, 0, 100, 60), 100, 60), (0, 0, 100, 60))

    def test_a_degenerate_box_is_skipped(self):
        self.assertIsNone(crop_box((700, 10, 720, 30), 640, 480))

    def test_the_manifest_examples_follow_the_rule(self):
        for ex, (w, h, b) in zip(crop_examples(), CROP_EXAMPLES):
            self.assertEqual(tuple(ex["crop_ltrb"]), crop_box(b, w, h), ex)

    def test_door_crop_has_the_model_input_size(self):
        img = Image.new("RGB", (320, 240), (10, 20, 30))
        self.assertEqual(door_crop(img, (100, 50, 160, 130), 80).size, (80, 80))


class Images(unittest.TestCase):
    def test_a_png_named_jpg_is_read_by_its_content(self):
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "face.jpg"
            Image.new("RGBA", (20, 20), (1, 2, 3, 0)).save(p, format="PNG")
            img, fmt = load_rgb(p)
            self.assertEqual((fmt, img.mode, img.getpixel((0, 0))), ("PNG", "RGB", (1, 2, 3)))

    def test_garbage_is_reported_as_unreadable(self):
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "x.jpg"
            p.write_bytes(b"not an image at all")
            with self.assertRaises(UnreadableImage):
                load_rgb(p)


class Detector(unittest.TestCase):
    def test_nms_keeps_the_best_of_overlapping_boxes(self):
        boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=np.float32)
        self.assertEqual(nms(boxes, np.array([0.8, 0.9, 0.75]), 0.3), [1, 2])


class Synthetic(unittest.TestCase):
    def test_painting_keeps_the_size_and_changes_only_the_lower_face(self):
        img = Image.new("RGB", (100, 100), (200, 150, 120))
        for mode in MODES:
            out = paint_mask(img, (20, 10, 80, 80), mode, np.random.default_rng(0), [])
            self.assertEqual(out.size, img.size)
            diff = np.abs(np.asarray(out, np.int16) - np.asarray(img, np.int16)).sum(axis=2)
            rows = np.nonzero(diff.max(axis=1) > 30)[0]
            self.assertGreater(rows.min(), 10 + 0.4 * 70 - 1, mode)  # nothing painted above the eyes


@unittest.skipUnless((MODELS / "maskgate-cnn-v1.json").exists(), "no published model")
class PublishedModel(unittest.TestCase):
    def setUp(self):
        self.manifest = json.loads((MODELS / "maskgate-cnn-v1.json").read_text())
        self.onnx = MODELS / self.manifest["file"]

    def test_the_manifest_hash_matches_the_file(self):
        self.assertEqual(sha256_file(self.onnx), self.manifest["sha256"])

    def test_the_self_test_vector_gives_the_expected_output(self):
        out = ort_session(self.onnx).run([OUTPUT_NAME], {INPUT_NAME: self_test_input(self.manifest["input"]["size"])})
        np.testing.assert_allclose(out[0][0], self.manifest["self_test"]["expected_probabilities"], atol=1e-4)

    def test_the_model_is_small_and_a_single_file(self):
        self.assertLess(self.onnx.stat().st_size, 5 * 1024 * 1024)
        self.assertFalse((MODELS / (self.onnx.name + ".data")).exists())


if __name__ == "__main__":
    unittest.main()
