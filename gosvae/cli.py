"""``gosvae``: train models, list the zoo, evaluate codecs, encode and decode image files.

Sub-commands
------------
``gosvae train CONFIG.yaml [--resume] [--export-zoo [DIR]] [--threads N] [--device cuda]``
    Train a teacher or a codec from a committed config; checkpoints and a CSV log go to the
    config's ``run.out_dir``. ``--export-zoo`` writes the result into the package zoo,
    ``--export-zoo DIR`` into the folder DIR (``NAME.safetensors`` + ``NAME.json``), which a
    scenario's ``params.model``, ``gosvae eval --models`` and ``GOSVAE_ZOO_PATH`` accept.
``gosvae zoo``
    List the pretrained models with the command that made them and their measured quality.
``gosvae eval [--models A B ...] [--codec NAME:KEY=VALUE,... ...] [--dataset synthetic-urban] [--out DIR]``
    Clean-channel table (paper's Table I shape) of codecs: ``--models`` names ``vqvae`` models
    (zoo names or model folders), ``--codec`` (repeatable) any registered codec with its
    parameters (``--codec jpeg:quality=30``); printed, and written as ``DIR/eval.md`` and
    ``DIR/eval.json`` (CompressAI-style).
``gosvae encode IMAGE -o FILE.gosv [--codec SPEC | --model NAME --coder C --rows-per-slice N]`` / ``gosvae decode FILE.gosv -o IMAGE.png [--allow-model-paths]``
    Code a real image file into a ``.gosv`` container with any registered codec and back
    (:mod:`gosvae.image_files`); the container stores the codec spec, the image and coded sizes and
    the packets. A file naming a model by path decodes only with ``--allow-model-paths``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Sequence

from gosvae import DEFAULT_TEACHER
from gosvae.cli_common import run_cli
from gosvae.errors import ConfigError, UserError


def _train(args: argparse.Namespace) -> int:
    from gosvae.yaml_config import read_yaml, validate_model

    data = read_yaml(args.config)
    task = data.get("task") if isinstance(data, dict) else None
    if args.threads and isinstance(data, dict) and isinstance(data.get("run"), dict):
        data["run"]["num_threads"] = args.threads  # a runtime choice: the recipe is unchanged
    if args.device and isinstance(data, dict) and isinstance(data.get("run"), dict):
        data["run"]["device"] = args.device  # likewise
    command = "gosvae train " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if sys.argv[1:2] == ["train"] else f"gosvae train {args.config}"
    if task == "teacher":
        from gosvae.training.config import TeacherTrainingConfig
        from gosvae.training.teacher import train_teacher

        config = validate_model(data, TeacherTrainingConfig, source=args.config)
        result = train_teacher(config, config_path=args.config, command=command, resume=args.resume,
                               export_zoo=args.export_zoo is not None, zoo_dir=_export_dir(args.export_zoo))
        print(f"{config.name}: val mIoU {result['miou']:.4f}, pixel accuracy {result['pixel_accuracy']:.4f}")
        return 0
    if task == "codec":
        from gosvae.training.codec import train_codec_from_yaml

        return train_codec_from_yaml(data, config_path=args.config, command=command, resume=args.resume,
                                     export_zoo=args.export_zoo is not None, zoo_dir=_export_dir(args.export_zoo))
    raise ConfigError(f"{args.config}: task: must be 'teacher' or 'codec', got {task!r}")


#: value of a bare ``--export-zoo`` (no DIR): the package zoo
PACKAGE_ZOO = ""


def _export_dir(value: str | None):
    """``--export-zoo`` → None (package zoo); ``--export-zoo DIR`` → Path(DIR)."""
    from pathlib import Path

    return Path(value) if value else None


def _zoo(args: argparse.Namespace) -> int:
    from gosvae.zoo import list_entries

    entries = list_entries()
    if not entries:
        print("the zoo is empty")
        return 0
    for e in entries:
        q = e.quality
        quality = ", ".join(
            f"{k} {v:.4g}" for k, v in q.items() if isinstance(v, (int, float)) and k not in ("num_images", "train_seconds_this_run")
        )
        print(f"{e.name:24s} {e.kind:8s} {e.arch:12s} steps {e.steps:<6d} {quality}")
        if args.verbose:
            print(f"    config: {e.config}\n    command: {e.command}\n    data: {e.data}")
            int8 = e.extra.get("int8_calibration")
            quality = int8.get("quality") if isinstance(int8, dict) else None
            if isinstance(quality, dict) and isinstance(quality.get("miou_int8"), (int, float)):
                print(f"    int8 calibration (teacher_precision: int8): mIoU {quality['miou_int8']:.4f} against "
                      f"{quality.get('miou_float32', float('nan')):.4f} in float32 on {quality.get('num_images')} {quality.get('dataset')} images")
    return 0


def _eval(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from gosvae.eval_table import compressai_json, evaluate_models, markdown_table
    from gosvae.training.config import DatasetSpec
    from gosvae.training.teacher import materialize

    if not args.models and not args.codec and not args.curve:
        raise UserError("eval: give --models NAME ..., --codec NAME:KEY=VALUE,... and/or --curve LABEL=MODEL,... (see gosvae eval --help)")
    from gosvae.codecs import parse_codec_spec, validate_codec_params
    from gosvae.labels import dataset_class_names
    from gosvae.rate_curves import expand_codec_spec, parse_curve

    for codec_spec in args.codec or []:  # checked before any data is rendered
        for point in expand_codec_spec(codec_spec)[1]:
            validate_codec_params(*parse_codec_spec(point), where=f"codec {point!r}")
    for text in args.curve or []:
        for name in parse_curve(text)[1]:
            validate_codec_params("vqvae", {"model": name}, where=f"--curve {text!r}")
    from gosvae.labels import check_declared_spaces

    check_declared_spaces(teacher=args.teacher, dataset=args.dataset, mapping=args.label_mapping)
    torch_threads(args.threads)
    spec = DatasetSpec(name=args.dataset, split=args.split, root=args.root, num_images=args.num_images,
                       size=tuple(args.size) if args.size else None, seed=args.seed)
    data, dataset = materialize(spec, cache_dir=args.cache_dir, desc=f"{args.dataset}/{args.split}")
    lpips = None
    if args.lpips:
        from gosvae.perceptual import load_lpips, resolve_lpips_weight_paths

        paths = resolve_lpips_weight_paths(vgg16_weights=args.vgg16_weights, lpips_weights=args.lpips_weights)
        lpips = load_lpips(vgg16_weights=paths.vgg16_weights, lpips_weights=paths.lpips_weights)
    rows = evaluate_models(args.models or [], teacher=args.teacher, data=data, coder=args.coder,
                           rows_per_slice=args.rows_per_slice, lpips=lpips, codecs=args.codec or [],
                           curves=args.curve or [], dataset_classes=dataset_class_names(dataset),
                           label_mapping=args.label_mapping)
    table = markdown_table(rows)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    coding = f", {args.coder} coding of vqvae models" if args.models or args.curve else ""
    space = rows[0].get("label_space", "")
    title = f"{args.dataset}/{args.split}, {len(data)} images, teacher {args.teacher}, mIoU in {space}{coding}"
    report = f"Clean-channel evaluation on {title}.\n\n{table}\n"
    result = compressai_json(rows, name="gosvae-eval", description=f"Clean-channel evaluation on {title}")
    report += _rate_curves_report(rows, args=args, out=out, title=title, result=result)
    (out / "eval.md").write_text(report)
    (out / "eval.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out / 'eval.md'} and {out / 'eval.json'}")
    return 0


def _rate_curves_report(rows: list, *, args: argparse.Namespace, out, title: str, result: dict) -> str:
    """Plots of the curves and, with ``--bd-reference``, the BD table (printed, added to the report
    and to ``result``). Returns the markdown to append to eval.md."""
    from gosvae.rate_curves import bd_markdown, bd_table, group_curves, plot_rate_curves

    curves = group_curves(rows)
    if not curves:
        if args.bd_reference:
            raise UserError("--bd-reference: no curve to compare (give --codec 'NAME:KEY=a|b|c' or --curve LABEL=MODEL,...)")
        return ""
    result["curves"] = {name: [{"codec": p["codec"], "bpp": p["bpp"], "miou_gt": p["miou_gt"], "psnr_db": p["psnr_db"]}
                               for p in points] for name, points in curves.items()}
    plots = plot_rate_curves(curves, out / "plots", title=title)
    text = "\n" + "\n".join(f"![{p.stem}](plots/{p.name})" for p in plots) + "\n"
    if args.bd_reference:
        table = bd_table(curves, reference=args.bd_reference, method=args.bd_method, max_bpp=args.bd_max_bpp)
        markdown = bd_markdown(table, reference=args.bd_reference, method=args.bd_method, max_bpp=args.bd_max_bpp)
        print(markdown)
        result["bd"] = {"reference": args.bd_reference, "method": args.bd_method, "max_bpp": args.bd_max_bpp, "rows": table}
        text += "\n" + markdown + "\n"
    return text


def _encode(args: argparse.Namespace) -> int:
    from gosvae.image_files import encode_image_file

    torch_threads(args.threads)
    report = encode_image_file(args.image, args.output, codec_spec=args.codec, model=args.model, coder=args.coder,
                               rows_per_slice=args.rows_per_slice)
    h, w = report.image_size
    print(f"{args.image} ({h}x{w}) -> {args.output}: {report.file_bytes} bytes "
          f"({report.payload_bytes} payload, {report.bpp:.3f} bpp), codec {report.codec_spec}")
    if report.model_paths:
        print(f"note: the file names the model path {', '.join(report.model_paths)}; decoding it needs "
              "gosvae decode --allow-model-paths")
    return 0


def _decode(args: argparse.Namespace) -> int:
    from gosvae.image_files import decode_image_file

    torch_threads(args.threads)
    report = decode_image_file(args.file, args.output, allow_model_paths=args.allow_model_paths)
    note = (f", DAMAGED: {len(report.damaged_packets)} of {report.num_packets} packets fail their checksum "
            "(decoded as lost)" if report.damaged_packets else "")
    note += f", {100 * report.concealed_fraction:.1f}% concealed" if report.concealed_fraction else ""
    note += ", decoding FAILED: the image is the codec's fallback" if report.failed else ""
    if report.format_version < 3:
        note += f" (format {report.format_version} file: no checksums, damage shows only where the codec notices it)"
    h, w = report.image_size
    print(f"{args.file} -> {args.output} ({h}x{w}): {report.payload_bytes} payload bytes, {report.bpp:.3f} bpp, "
          f"codec {report.codec_spec}{note}")
    return 0


def _calibrate_int8(args: argparse.Namespace) -> int:
    from gosvae.teachers.int8_calibration import calibrate_zoo_teacher

    torch_threads(args.threads)
    command = "gosvae " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["calibrate-int8"] else ""
    report = calibrate_zoo_teacher(args.teacher, num_images=args.num_images, val_images=args.val_images, root=args.root,
                                   write=args.write, command=command)
    q = report.calibration.quality
    print(f"{args.teacher}: int8 on {q['num_images']} {q['dataset']} scenes: mIoU {q['miou_int8']:.6f} against "
          f"{q['miou_float32']:.6f} in float32 ({q['miou_change']:+.6f}); {q['labels_changed']} of {q['pixels']} labels changed")
    print(f"written into {report.written}" if report.written else "not written (add --write to store it in the zoo entry)")
    return 0


def torch_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gosvae", description="GOS-VAE semantic image codec: training, zoo, evaluation, files.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train a teacher or a codec from a YAML config")
    p.add_argument("config", help="training config (YAML), e.g. configs/teacher_urban_unet.yaml")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    p.add_argument("--export-zoo", nargs="?", const=PACKAGE_ZOO, default=None, metavar="DIR",
                   help="write the trained model into the package zoo, or into folder DIR (a scenario's "
                        "params.model, --models and GOSVAE_ZOO_PATH accept DIR)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (overrides run.num_threads)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (overrides run.device)")
    p.set_defaults(func=_train)
    p = sub.add_parser("calibrate-int8", help="calibrate a zoo teacher's int8 copy (simulate's teacher_precision: int8)")
    p.add_argument("teacher", help="zoo teacher (urban-unet architecture), e.g. urban-unet-xlf8k-cpu")
    p.add_argument("--num-images", type=int, default=32, help="calibration images: the first N of its training split (default: 32)")
    p.add_argument("--val-images", type=int, default=100, help="validation scenes on which float32 and int8 are compared (default: 100)")
    p.add_argument("--root", default=None, help="dataset root folder (real datasets)")
    p.add_argument("--write", action="store_true", help="store the calibration in the teacher's zoo entry (int8_calibration)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.set_defaults(func=_calibrate_int8)
    p = sub.add_parser("zoo", help="list the pretrained models")
    p.add_argument("-v", "--verbose", action="store_true", help="also show config, command and data")
    p.set_defaults(func=_zoo)

    p = sub.add_parser("eval", help="clean-channel table of codecs (payload, mIoU, PSNR, ...)")
    p.add_argument("--models", nargs="+", metavar="NAME", help="vqvae models: zoo names or exported model folders")
    p.add_argument("--codec", action="append", metavar="SPEC",
                   help="any registered codec as NAME[:KEY=VALUE,...], e.g. jpeg:quality=30 (repeatable; "
                        "simulate --list-codecs lists codecs and parameters)")
    p.add_argument("--dataset", default="synthetic-urban", help="registered dataset name (default: synthetic-urban)")
    p.add_argument("--split", default="val", help="dataset split (default: val)")
    p.add_argument("--root", default=None, help="dataset root folder (real datasets)")
    p.add_argument("--num-images", type=int, default=100, help="images to evaluate (default: 100)")
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=[256, 512], help="image size (default: 256 512)")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (synthetic data)")
    p.add_argument("--teacher", default=DEFAULT_TEACHER, help=f"zoo teacher or local folder (default: {DEFAULT_TEACHER})")
    p.add_argument("--curve", action="append", metavar="LABEL=MODEL,...",
                   help="vqvae models forming one rate curve (repeatable), e.g. VQ-VAE=vq-vae-r4,vq-vae-r8,vq-vae-r16")
    p.add_argument("--bd-reference", default=None, metavar="CURVE",
                   help="curve the others are compared with: BD-rate, BD-mIoU, BD-PSNR (curves come from --curve and "
                        "from --codec specs with alternatives, e.g. 'jpeg:quality=5|10|20' is the curve 'jpeg:quality=*')")
    p.add_argument("--bd-max-bpp", type=float, default=None, help="BD-mIoU / BD-PSNR over rates up to this bpp only")
    p.add_argument("--bd-method", default="pchip", choices=["pchip", "cubic"], help="BD interpolation (default pchip)")
    p.add_argument("--label-mapping", default=None, metavar="FILE|NAME",
                   help="maps the teacher's classes onto the dataset's (default: identity or the shipped mapping of the pair)")
    p.add_argument("--coder", default="range", choices=["range", "huffman", "fixed"], help="index coder of --models")
    p.add_argument("--rows-per-slice", type=int, default=4, help="index rows per packet of --models (default: 4)")
    p.add_argument("--lpips", action="store_true", help="add LPIPS (needs the VGG16 and LPIPS weight files)")
    p.add_argument("--vgg16-weights", default=None, help="VGG16 ImageNet state dict (or $GOSVAE_VGG16_WEIGHTS)")
    p.add_argument("--lpips-weights", default=None, help="LPIPS v0.1 vgg.pth (or $GOSVAE_LPIPS_WEIGHTS)")
    p.add_argument("--cache-dir", default="runs/cache", help="cache of rendered synthetic splits")
    p.add_argument("--out", default="runs/eval", help="output folder for eval.md and eval.json")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.set_defaults(func=_eval)

    p = sub.add_parser("encode", help="code an image file into a .gosv container (any registered codec)")
    p.add_argument("image", help="input image (PNG, JPEG, ...)")
    p.add_argument("-o", "--output", required=True, help="output .gosv file")
    p.add_argument("--codec", default=None, metavar="SPEC",
                   help="any registered codec as NAME[:KEY=VALUE,...], e.g. jpeg:quality=30 or "
                        "vqvae:model=gos-vae-star-r4,coder=huffman (default: vqvae with --model)")
    p.add_argument("--model", default=None, help="vqvae shorthand: zoo name or model folder (default: gos-vae-star-r4; "
                   "a folder is stored as a path, whose decoding needs --allow-model-paths)")
    p.add_argument("--coder", default=None, choices=["range", "huffman", "fixed"], help="vqvae shorthand: index coder (default: range)")
    p.add_argument("--rows-per-slice", type=int, default=None, help="vqvae shorthand: index rows per slice (default: 4)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.set_defaults(func=_encode)

    p = sub.add_parser("decode", help="rebuild an image from a .gosv container")
    p.add_argument("file", help="input .gosv file (format version 1, 2 or 3)")
    p.add_argument("-o", "--output", required=True, help="output image (.png keeps the decoded pixels exactly)")
    p.add_argument("--allow-model-paths", action="store_true",
                   help="let the file's codec spec name model folders by path (only for files you trust)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.set_defaults(func=_decode)
    return parser


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
