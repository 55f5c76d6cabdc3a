"""MaskGate training pipeline: labelled face photos -> small ONNX mask classifier + manifest + model card.

Steps (each resumable, see ``pipeline.py``): prepare (detect faces, cache crops) -> train ->
export (ONNX + manifest) -> evaluate (test set, synthetic wrong-wear set, latency) -> publish.
"""

__version__ = "1.0.0"
