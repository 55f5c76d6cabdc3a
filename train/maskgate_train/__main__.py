"""One command for the whole pipeline: ``python -m maskgate_train [options]`` (see train/README.md).

Every step keeps its output under ``runs/``; a rerun skips finished steps and resumes training
from the last epoch's checkpoint. Changing the training options of an existing run is refused
(pass --fresh to start that run over, or pick another --name).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRAIN_DIR = HERE.parent
PROJECT = TRAIN_DIR.parent


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m maskgate_train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=PROJECT.parent / "shared" / "data" / "masks",
                    help="folder with train/ and test/, each with with_mask/ and without_mask/")
    ap.add_argument("--detector", type=Path, default=PROJECT.parent / "shared" / "models" / "ultraface-rfb-320.onnx")
    ap.add_argument("--runs", type=Path, default=TRAIN_DIR / "runs", help="work folder (gitignored)")
    ap.add_argument("--name", default="maskgate-cnn-v1", help="model name; also the run folder and file names")
    ap.add_argument("--run-id", default=None, help="run folder under --runs (default: --name)")
    ap.add_argument("--version", default="1.0.0")
    ap.add_argument("--input-size", type=int, default=80)
    ap.add_argument("--epochs", type=int, default=36)
    ap.add_argument("--widths", default="16,32,48,48,96,96,160,160")
    ap.add_argument("--synth-fraction", type=float, default=0.3)
    ap.add_argument("--lr", type=float, default=4e-3)
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--val-fraction", type=float, default=0.10)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    ap.add_argument("--threshold", type=float, default=0.5, help="PASS when P(with_mask) >= threshold")
    ap.add_argument("--publish", type=Path, nargs="?", const=PROJECT / "models", default=None,
                    help="copy model, manifest and MODEL_CARD.md here (default with no value: models/)")
    ap.add_argument("--fresh", action="store_true", help="delete this run's folder first (not the face cache)")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch  # after OMP_NUM_THREADS

    torch.set_num_threads(args.threads)
    from .card import write_card, write_manifest
    from .evaluate import evaluate_synthetic, evaluate_test, latency
    from .export import export, self_test, sha256_file
    from .prepare import load_samples, prepare
    from .train import TrainConfig, train

    t0 = time.time()
    prep_dir = args.runs / "prepare"
    report = prepare(args.data, prep_dir, args.detector, args.val_fraction, args.seed)
    if report["val_fraction"] != args.val_fraction or report["seed"] != args.seed:
        sys.exit(f"{prep_dir} was made with another --val-fraction/--seed; delete it to redo")
    samples = load_samples(prep_dir)

    cfg = TrainConfig(input_size=args.input_size, epochs=args.epochs,
                      widths=tuple(int(w) for w in args.widths.split(",")), synth_fraction=args.synth_fraction,
                      lr=args.lr, seed=args.seed, threads=args.threads)
    run_dir = args.runs / (args.run_id or args.name)
    if args.fresh and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = run_dir / "config.json"
    cfg_json = json.loads(json.dumps(asdict(cfg)))
    if cfg_path.exists() and json.loads(cfg_path.read_text()) != cfg_json:
        sys.exit(f"{run_dir} holds a run with other options (see {cfg_path}); use --fresh or another --name")
    cfg_path.write_text(json.dumps(cfg_json, indent=2))

    summary = train(cfg, samples, run_dir)

    onnx_path = run_dir / f"{args.name}.onnx"
    graph = export(run_dir / "final.pt", onnx_path)
    print(f"[export] {onnx_path} ({graph['bytes']} bytes, opset {graph['opset']}, ops {graph['ops']})")

    eval_path = run_dir / "eval.json"
    results = json.loads(eval_path.read_text()) if eval_path.exists() else {}
    if results.get("sha256") != graph["sha256"] or results.get("threshold") != args.threshold:
        pre = cfg.preprocess()
        results = {
            "sha256": graph["sha256"], "threshold": args.threshold,
            "test": evaluate_test(onnx_path, samples, pre, args.threshold),
            "synthetic_test": evaluate_synthetic(onnx_path, samples, "test", pre, args.threshold, args.seed + 2),
            "synthetic_val": evaluate_synthetic(onnx_path, samples, "val", pre, args.threshold, args.seed + 1),
            "latency": latency(onnx_path, cfg.input_size),
        }
        eval_path.write_text(json.dumps(results, indent=2))
    else:
        print(f"[evaluate] done already: {eval_path}")

    t = results["test"]["all"]
    print(f"[result] test accuracy {t['accuracy']:.4f}, false-pass {t['false_pass_rate']:.4f}, "
          f"false-reject {t['false_reject_rate']:.4f}, confusion {t['confusion']}")
    for m, r in results["synthetic_test"]["modes"].items():
        print(f"[result] SYNTHETIC {m}: {r['correct']}/{r['n']} judged {r['expected']} ({r['accuracy']:.3f})")
    print(f"[result] latency median {results['latency']['median_ms']:.3f} ms per face (onnxruntime, 1 thread)")

    defaults = vars(parse_args([]))
    training_opts = ("name", "version", "input_size", "epochs", "widths", "synth_fraction", "lr", "seed",
                     "val_fraction", "threads", "threshold")
    args_out = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    args_out["defaults_used"] = all(getattr(args, k) == defaults[k] for k in training_opts)
    ctx = {"args": args_out, "report": report,
           "summary": summary, "graph": graph, "results": results,
           "self_test": self_test(onnx_path, cfg.input_size)}
    manifest = write_manifest(ctx, run_dir / f"{args.name}.json", onnx_path.name)
    write_card(ctx, manifest, run_dir / "MODEL_CARD.md")
    if args.publish:
        dest = args.publish
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(onnx_path, dest / onnx_path.name)
        assert sha256_file(dest / onnx_path.name) == manifest["sha256"]
        shutil.copyfile(run_dir / f"{args.name}.json", dest / f"{args.name}.json")
        shutil.copyfile(run_dir / "MODEL_CARD.md", dest / "MODEL_CARD.md")
        print(f"[publish] {dest / onnx_path.name}, {dest / (args.name + '.json')}, {dest / 'MODEL_CARD.md'}")
    print(f"[done] {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
