"""``python -m training train|evaluate`` -- see ``--help`` of each."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from server.model.factory import ARCHITECTURES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a detector on a folder of real/ and deepfake/ face crops")
    t.add_argument("--data-dir", type=Path, required=True, help="folder with real/ and deepfake/ (or fake/)")
    t.add_argument("--output", type=Path, required=True, help="output folder for weights, spec and history")
    t.add_argument("--model", choices=sorted(ARCHITECTURES), default="efficientnet_b0")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (cosine schedule with warmup)")
    t.add_argument("--optimizer", choices=["adam", "adamw"], default="adam")
    t.add_argument("--weight-decay", type=float, default=0.0)
    t.add_argument("--warmup-epochs", type=float, default=1.0)
    t.add_argument("--init", choices=["imagenet", "scratch"], default="imagenet",
                   help="imagenet: bundled Lite0 weights or --init-checkpoint; scratch: random init")
    t.add_argument("--init-checkpoint", type=Path, help="local ImageNet state dict (timm keys) for --init imagenet")
    t.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    t.add_argument("--workers", type=int, default=2, help="data-loading processes")
    t.add_argument("--seed", type=int, default=42)
    t.add_argument("--resume", type=Path, help="last.pt of an interrupted run")
    t.add_argument("--limit", type=int, default=0, help="use at most N training images (smoke runs)")
    t.add_argument("--val-fraction", type=float, default=0.1, help="val share when no manifest split exists")

    e = sub.add_parser("evaluate", help="metrics of trained weights on a folder of labelled face crops")
    e.add_argument("--data-dir", type=Path, required=True)
    e.add_argument("--weights", type=Path, required=True, help="folder with model.pt and model_spec.json")
    e.add_argument("--split", default="all", help="manifest split to use (train, val, ...) or all")
    e.add_argument("--device", default="cpu")
    e.add_argument("--batch-size", type=int, default=16, help="16 is fastest on a 2-core CPU")
    e.add_argument("--workers", type=int, default=2)
    e.add_argument("--output-dir", type=Path, help="where to save the ROC curve (default: the weights folder)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "train":
        from training.train import TrainConfig, train

        if args.init_checkpoint and args.init != "imagenet":
            print("--init-checkpoint needs --init imagenet", file=sys.stderr)
            return 2
        train(TrainConfig(
            data_dir=args.data_dir, output=args.output, model=args.model, epochs=args.epochs,
            batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer, weight_decay=args.weight_decay,
            warmup_epochs=args.warmup_epochs, init=args.init, init_checkpoint=args.init_checkpoint,
            device=args.device, workers=args.workers, seed=args.seed, resume=args.resume, limit=args.limit,
            val_fraction=args.val_fraction,
        ))
        return 0
    from training.evaluate import EvalConfig, evaluate, format_report

    metrics = evaluate(EvalConfig(
        data_dir=args.data_dir, weights=args.weights, split=args.split, device=args.device,
        batch_size=args.batch_size, workers=args.workers, output_dir=args.output_dir,
    ))
    print(format_report(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
