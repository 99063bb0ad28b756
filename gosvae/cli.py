"""``gosvae``: train models, list the zoo, evaluate codecs, encode and decode image files.

Sub-commands
------------
``gosvae train CONFIG.yaml [--resume] [--export-zoo]``
    Train a teacher or a codec from a committed config; checkpoints and a CSV log go to the
    config's ``run.out_dir``. ``--export-zoo`` writes the result into the package zoo.
``gosvae zoo``
    List the pretrained models with the command that made them and their measured quality.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Sequence

from gosvae.cli_common import run_cli
from gosvae.errors import ConfigError


def _train(args: argparse.Namespace) -> int:
    from gosvae.yaml_config import read_yaml, validate_model

    data = read_yaml(args.config)
    task = data.get("task") if isinstance(data, dict) else None
    command = "gosvae train " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if sys.argv[1:2] == ["train"] else f"gosvae train {args.config}"
    if task == "teacher":
        from gosvae.training.config import TeacherTrainingConfig
        from gosvae.training.teacher import train_teacher

        config = validate_model(data, TeacherTrainingConfig, source=args.config)
        result = train_teacher(config, config_path=args.config, command=command, resume=args.resume, export_zoo=args.export_zoo)
        print(f"{config.name}: val mIoU {result['miou']:.4f}, pixel accuracy {result['pixel_accuracy']:.4f}")
        return 0
    if task == "codec":
        from gosvae.training.codec import train_codec_from_yaml

        return train_codec_from_yaml(data, config_path=args.config, command=command, resume=args.resume, export_zoo=args.export_zoo)
    raise ConfigError(f"{args.config}: task: must be 'teacher' or 'codec', got {task!r}")


def _zoo(args: argparse.Namespace) -> int:
    from gosvae.zoo import list_entries

    entries = list_entries()
    if not entries:
        print("the zoo is empty")
        return 0
    for e in entries:
        q = e.quality
        quality = ", ".join(f"{k} {v}" for k, v in q.items() if isinstance(v, (int, float)) and k != "num_images")
        print(f"{e.name:24s} {e.kind:8s} {e.arch:12s} steps {e.steps:<6d} {quality}")
        if args.verbose:
            print(f"    config: {e.config}\n    command: {e.command}\n    data: {e.data}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gosvae", description="GOS-VAE semantic image codec: training, zoo, evaluation, files.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train a teacher or a codec from a YAML config")
    p.add_argument("config", help="training config (YAML), e.g. configs/teacher_urban_unet.yaml")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    p.add_argument("--export-zoo", action="store_true", help="write the trained model into the package zoo")
    p.set_defaults(func=_train)
    p = sub.add_parser("zoo", help="list the pretrained models")
    p.add_argument("-v", "--verbose", action="store_true", help="also show config, command and data")
    p.set_defaults(func=_zoo)
    return parser


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
