"""Step 2: train MaskNet with fixed seeds; a checkpoint after every epoch, so a rerun resumes."""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .data import EvalSet, Preprocess, TrainSet, synthetic_eval_items, texture_pool
from .model import MaskNet, count_params
from .prepare import Sample


@dataclass
class TrainConfig:
    input_size: int = 80
    widths: tuple[int, ...] = (16, 32, 48, 48, 96, 96, 160, 160)
    epochs: int = 36
    batch_size: int = 64
    lr: float = 4e-3
    weight_decay: float = 5e-4
    label_smoothing: float = 0.05
    dropout: float = 0.2
    synth_fraction: float = 0.3
    synth_mix: dict = field(default_factory=lambda: {"wrong_nose": 0.35, "wrong_chin": 0.2, "correct": 0.45})
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    seed: int = 20261126
    threads: int = 1

    def preprocess(self) -> Preprocess:
        return Preprocess(self.input_size, tuple(self.mean), tuple(self.std))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


@torch.no_grad()
def predict(net: nn.Module, ds, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(probability of with_mask, true label index) for every item of ``ds``."""
    net.eval()
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=0)
    probs, labels = [], []
    for x, y in loader:
        probs.append(torch.softmax(net(x), dim=1)[:, 0].numpy())
        labels.append(y.numpy())
    return np.concatenate(probs), np.concatenate(labels)


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(cfg: TrainConfig, samples: list[Sample], run_dir: Path) -> dict:
    """Train (or resume, or skip when finished). Returns the training summary."""
    torch.set_num_threads(cfg.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set in this process
    ckpt_dir = run_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    final_path = run_dir / "final.pt"
    summary_path = run_dir / "train_summary.json"
    if final_path.exists() and summary_path.exists():
        print(f"[train] done already: {final_path}")
        return json.loads(summary_path.read_text())

    pre = cfg.preprocess()
    train_s = [s for s in samples if s.split == "train"]
    val_s = [s for s in samples if s.split == "val"]
    textures = texture_pool(train_s)
    val_textures = texture_pool(val_s)
    val_real = EvalSet(val_s, pre, [(i, None) for i in range(len(val_s))])
    val_syn = EvalSet(val_s, pre, synthetic_eval_items(val_s), val_textures, seed=cfg.seed + 1)

    seed_everything(cfg.seed)
    net = MaskNet(tuple(cfg.widths), cfg.dropout)
    steps_per_epoch = -(-int(len(train_s) * (1 + cfg.synth_fraction)) // cfg.batch_size)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch + 10,
                                                pct_start=0.15)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    history: list[dict] = []
    start_epoch = 0
    last = ckpt_dir / "last.pt"
    if last.exists():
        st = torch.load(last, weights_only=False)
        net.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        sched.load_state_dict(st["sched"])
        history = st["history"]
        start_epoch = st["epoch"] + 1
        print(f"[train] resuming after epoch {start_epoch}")
    print(f"[train] {count_params(net)} parameters, {len(train_s)} real train faces, {len(textures)} mask textures, "
          f"input {cfg.input_size}px, epochs {cfg.epochs}")

    t_start = time.time()
    for epoch in range(start_epoch, cfg.epochs):
        torch.manual_seed(cfg.seed * 1000 + epoch)  # dropout, identical on resume
        ds = TrainSet(train_s, pre, cfg.seed, epoch, cfg.synth_fraction, cfg.synth_mix, textures)
        gen = torch.Generator().manual_seed(cfg.seed + epoch)
        loader = torch.utils.data.DataLoader(ds, batch_size=cfg.batch_size, shuffle=True, generator=gen,
                                             num_workers=0, drop_last=False)
        net.train()
        t0 = time.time()
        tot, correct, loss_sum = 0, 0, 0.0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", leave=False)
        for x, y in bar:
            opt.zero_grad(set_to_none=True)
            out = net(x)
            loss = loss_fn(out, y)
            loss.backward()
            opt.step()
            sched.step()
            tot += len(y)
            correct += int((out.argmax(1) == y).sum())
            loss_sum += float(loss) * len(y)
            bar.set_postfix(loss=f"{loss_sum / tot:.3f}", acc=f"{correct / tot:.3f}")
        p, y = predict(net, val_real)
        pred_mask = p >= 0.5
        acc = float((pred_mask == (y == 0)).mean())
        without = y == 1
        false_pass = float(pred_mask[without].mean())
        ps, ys = predict(net, val_syn)
        syn_acc = float(((ps >= 0.5) == (ys == 0)).mean())
        rec = {"epoch": epoch + 1, "train_loss": loss_sum / tot, "train_acc": correct / tot, "val_acc": acc,
               "val_false_pass": false_pass, "val_synthetic_acc": syn_acc, "seconds": time.time() - t0,
               "lr": sched.get_last_lr()[0]}
        history.append(rec)
        tqdm.write(f"[train] epoch {epoch + 1:>3}: loss {rec['train_loss']:.3f} train {rec['train_acc']:.3f} "
                   f"val {acc:.4f} false-pass {false_pass:.4f} synthetic {syn_acc:.3f} ({rec['seconds']:.0f}s)")
        _atomic_save({"model": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                      "epoch": epoch, "history": history, "config": asdict(cfg)}, last)

    summary = {"config": asdict(cfg), "parameters": count_params(net), "history": history,
               "train_faces": len(train_s), "val_faces": len(val_s), "val_synthetic_items": len(val_syn),
               "mask_textures": len(textures),
               "train_seconds_total": sum(h["seconds"] for h in history),
               "this_run_seconds": time.time() - t_start}
    _atomic_save({"model": net.state_dict(), "config": asdict(cfg)}, final_path)
    summary_path.write_text(json.dumps(summary, indent=2))
    return summary
