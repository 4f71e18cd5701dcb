"""``python -m training train|evaluate|speed`` -- see ``--help`` of each."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from server.model.factory import ARCHITECTURES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    common = argparse.ArgumentParser(add_help=False)
    t = common
    t.add_argument("--data-dir", type=Path, required=True, help="face crops: real/ and fake/ (or deepfake/)")
    t.add_argument("--synthetic-dir", type=Path, help="fully synthetic portraits with real ones (synthetic-faces)")
    t.add_argument("--photos-dir", type=Path, help="real photos: faces called Deepfake are reported as false positives")
    t.add_argument("--faces-cache", type=Path, default=Path("var/data"), help="where found faces are kept")
    t.add_argument("--no-self-blend", dest="self_blend", action="store_false",
                   help="train without self-blended fakes (DFDC fakes only)")
    t.add_argument("--portrait-repeat", type=int, default=2, help="times each portrait is seen per epoch")
    t.add_argument("--model", choices=sorted(ARCHITECTURES), default="efficientnet_lite0")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (cosine schedule with warmup)")
    t.add_argument("--optimizer", choices=["adam", "adamw"], default="adamw")
    t.add_argument("--weight-decay", type=float, default=0.01)
    t.add_argument("--warmup-epochs", type=float, default=0.3)
    t.add_argument("--freeze-stages", type=int, default=0,
                   help="keep the stem and this many first stages at their ImageNet weights (faster on a CPU)")
    t.add_argument("--init", choices=["imagenet", "scratch"], default="imagenet",
                   help="imagenet: the architecture's bundled weights or --init-checkpoint; scratch: random init")
    t.add_argument("--init-checkpoint", type=Path, help="local ImageNet state dict (timm keys) for --init imagenet")
    t.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    t.add_argument("--workers", type=int, default=2, help="data-loading processes")
    t.add_argument("--threads", type=int, default=0, help="torch threads for the model (0: torch's default)")
    t.add_argument("--seed", type=int, default=42)
    t.add_argument("--resume", type=Path, help="last.pt of an interrupted run (it is written every few minutes)")
    t.add_argument("--checkpoint-minutes", type=float, default=10.0, help="how often last.pt is written")
    t.add_argument("--limit", type=int, default=0, help="use at most N training images (smoke runs)")

    t = sub.add_parser("train", parents=[common],
                       help="train a detector: face crops + self-blended fakes (+ synthetic portraits)")
    t.add_argument("--output", type=Path, required=True, help="output folder for weights, spec and history")

    sp = sub.add_parser("speed", parents=[common], add_help=False,
                        help="training speed: the model alone against the whole data pipeline")
    sp.add_argument("--steps", type=int, default=20, help="optimisation steps measured for each")

    e = sub.add_parser("evaluate", help="metrics of trained weights on a split, by source, with proxies")
    e.add_argument("--data-dir", type=Path, required=True, help="face crops (dfdc-faces layout)")
    e.add_argument("--weights", type=Path, required=True, help="folder with model.pt and model_spec.json")
    e.add_argument("--split", default="test", help="val, calib or test (see training/splits.py), or all")
    e.add_argument("--synthetic-dir", type=Path, help="synthetic portraits, reported per generator")
    e.add_argument("--photos-dir", type=Path, help="real photos: faces called Deepfake are false positives")
    e.add_argument("--faces-cache", type=Path, default=Path("var/data"))
    e.add_argument("--device", default="cpu")
    e.add_argument("--workers", type=int, default=2)
    e.add_argument("--output-dir", type=Path, help="where to save the plots (default: the weights folder)")
    return parser

def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command in ("train", "speed"):
        from training.train import TrainConfig, train

        if args.init_checkpoint and args.init != "imagenet":
            print("--init-checkpoint needs --init imagenet", file=sys.stderr)
            return 2
        cfg = TrainConfig(
            data_dir=args.data_dir, output=getattr(args, "output", Path("unused")), synthetic_dir=args.synthetic_dir,
            photos_dir=args.photos_dir, faces_cache=args.faces_cache, self_blend=args.self_blend,
            portrait_repeat=args.portrait_repeat,
            model=args.model, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
            optimizer=args.optimizer, weight_decay=args.weight_decay, warmup_epochs=args.warmup_epochs,
            freeze_stages=args.freeze_stages, init=args.init, init_checkpoint=args.init_checkpoint,
            device=args.device, workers=args.workers, threads=args.threads, seed=args.seed, resume=args.resume,
            checkpoint_minutes=args.checkpoint_minutes, limit=args.limit,
        )
        if args.command == "speed":
            from training.speed import format_speed, measure

            print(format_speed(cfg, measure(cfg, args.steps), args.steps))
            return 0
        train(cfg)
        return 0
    from training.evaluate import EvalConfig, evaluate, format_report

    metrics = evaluate(EvalConfig(
        data_dir=args.data_dir, weights=args.weights, split=args.split, synthetic_dir=args.synthetic_dir,
        photos_dir=args.photos_dir, faces_cache=args.faces_cache, device=args.device, workers=args.workers,
        output_dir=args.output_dir,
    ), progress=lambda line: print(line, file=sys.stderr))
    print(format_report(metrics))
    return 0

if __name__ == "__main__":
    sys.exit(main())
