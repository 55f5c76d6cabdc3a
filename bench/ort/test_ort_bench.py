"""Checks that the Python pipeline follows edge-agent's rules (crop, NMS, UltraFace decoding).

    python -m unittest discover -s bench/ort
"""

import json
import os
import unittest
from pathlib import Path

import numpy as np

import ort_bench as ob

# The project's classifier manifest (bench/ort/ is two levels below the project root).
MANIFEST = Path(os.environ.get(
    "MASKGATE_MANIFEST",
    Path(__file__).resolve().parents[2] / "models" / "maskgate-cnn-v1.json"))


def face(x1, y1, x2, y2, confidence=1.0) -> ob.Face:
    """A face from plain numbers."""
    return ob.Face(*np.array([x1, y1, x2, y2, confidence], dtype=np.float32))


class CropRect(unittest.TestCase):
    def test_the_cases_of_edge_agents_unit_tests(self):
        self.assertEqual(ob.crop_rect(face(100, 100, 200, 150), 0.15, 640, 480), (85, 60, 215, 190))
        self.assertEqual(ob.crop_rect(face(0, 0, 50, 50), 0.15, 640, 480), (0, 0, 58, 58))
        self.assertEqual(ob.crop_rect(face(0, 0, 640, 480), 0.15, 640, 480), (0, 0, 640, 480))
        left, top, right, bottom = ob.crop_rect(face(639, 479, 639, 479), 0.0, 640, 480)
        self.assertTrue(right - left >= 1 and bottom - top >= 1 and right <= 640 and bottom <= 480)

    @unittest.skipUnless(MANIFEST.exists(),
                         "needs models/maskgate-cnn-v1.json (or MASKGATE_MANIFEST)")
    def test_the_examples_of_the_manifest(self):
        crop = json.loads(MANIFEST.read_text())["crop"]
        for example in crop["examples"]:
            got = ob.crop_rect(face(*example["box"]), crop["margin"], *example["frame"])
            self.assertEqual(list(got), example["crop_ltrb"], example)


class Detection(unittest.TestCase):
    def test_nms_keeps_the_best_of_overlapping_boxes_and_all_separate_ones(self):
        kept = ob.non_max_suppression(
            [face(0, 0, 10, 10, 0.8), face(1, 0, 11, 10, 0.9), face(50, 0, 60, 10, 0.7)], 0.3)
        self.assertEqual([float(f.x1) for f in kept], [1.0, 50.0])

    def test_decoding_scales_boxes_to_the_frame_and_drops_weak_and_overlapping_ones(self):
        detector = ob.UltraFace.__new__(ob.UltraFace)  # decoding needs no model
        detector.score_threshold, detector.nms_iou = np.float32(0.7), np.float32(0.3)
        scores = np.array([0.1, 0.9, 0.2, 0.8, 0.5, 0.5, 0.05, 0.95], dtype=np.float32)
        boxes = np.array([0.1, 0.1, 0.3, 0.4, 0.11, 0.1, 0.31, 0.4,
                          0.5, 0.5, 0.6, 0.6, 0.6, 0.2, 0.8, 0.5], dtype=np.float32)
        faces = detector.decode(scores, boxes, 640, 480)
        self.assertEqual(len(faces), 2)
        self.assertAlmostEqual(float(faces[0].confidence), 0.95, places=6)
        self.assertEqual([round(float(v), 3) for v in (faces[1].x1, faces[1].y1, faces[1].x2,
                                                       faces[1].y2)], [64, 48, 192, 192])


if __name__ == "__main__":
    unittest.main()
