"""Training from Python: stage 1 of the tiny model on the two clips of tests/data/tiny_clips, first step by
step, then to the end as `arl2 train` runs (progress lines, metrics.jsonl, checkpoints) with a callback per
step that keeps the losses; then resumed from its last checkpoint into a fresh trainer.

    PYTHONPATH=python python3 examples/train_from_python.py [--steps 12] [--out DIR]

Data-parallel over several processes: hand the Trainer a torch.distributed process group (README, Training).
"""
import argparse
import json
from pathlib import Path

import arl2  # noqa: F401  (loads the op library that arl2._C calls)
from arl2 import _C

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--out", default=str(ROOT / "runs/example-train"))
    args = parser.parse_args()

    # The overrides are `arl2 train --set`'s; a wrong key or type raises RuntimeError naming it.
    overrides = [
        f"train.steps={args.steps}",
        "train.warmup_steps=2",
        f"train.out={args.out}",
        f"train.checkpoint_every={args.steps // 2}",
        "train.log_every=4",
        f"data.path={ROOT / 'tests/data/tiny_clips'}",
    ]
    trainer = _C.Trainer(str(ROOT / "configs/tiny-train-stage1.yaml"), overrides)
    trainable = sum(p.numel() for p in trainer.trainable().values())
    print(f"{len(trainer.trainable())} trainable tensors, {trainable} parameters")

    for _ in range(3):  # one optimizer step per call; the C++ step runs without the GIL
        print("step()", trainer.step())

    losses = {}

    def on_step(result):  # called after every step, on every rank; raising here ends the run
        losses[result["step"]] = result["loss"]

    # From step 4 to train.steps; overwrite: a second run of this example replaces the first one's run folder.
    trainer.run(callback=on_step, overwrite=True)
    Path(args.out, "config.yaml").write_text(trainer.config.yaml)  # as `arl2 train` keeps it, for `arl2 export`
    print(f"run(): steps {min(losses)}-{max(losses)}, loss {losses[min(losses)]:.5f} -> {losses[max(losses)]:.5f}")
    logged = [json.loads(line)["step"] for line in Path(args.out, "metrics.jsonl").read_text().splitlines()]
    print(f"metrics.jsonl steps {logged}; last checkpoint {trainer.last_checkpoint}")

    resumed = _C.Trainer(str(ROOT / "configs/tiny-train-stage1.yaml"), overrides)
    resumed.resume(trainer.last_checkpoint)
    print(f"resumed at step {resumed.steps_done}")


if __name__ == "__main__":
    main()
