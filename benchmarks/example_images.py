"""Example figure: originals, reconstructions and their segmentations, one small PNG per image.

For each chosen image of a dataset split, one row of the original and of each codec's
reconstruction, and below it the teacher's segmentation of each (the ground truth first), in the
dataset's label space (a teacher of another space is seen through the shipped mapping). Images are
downscaled for the figure (``--scale``); the files are what a report may show, never the dataset.
Byte codecs may be set to another codec's payload with ``@LABEL`` (e.g. ``jpeg:quality=50@GOS-VAE*``).

Usage::

    python benchmarks/example_images.py --dataset camvid --root ../shared/datasets/camvid --size 288 384 \
        --teacher camvid-unet --indices 0 40 80 --out docs/figures \
        --codec 'GOS-VAE*=vqvae:model=gos-vae-star-camvid-r4' --codec 'VQ-VAE=vqvae:model=vq-vae-camvid-r4' \
        --codec 'JPEG=jpeg:quality=50@GOS-VAE*'
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from gosvae.codecs import build_codec, parse_codec_spec
from gosvae.datasets import build_dataset
from gosvae.labels import dataset_class_names, label_space_of, scoring_teacher
from gosvae.teachers import load_teacher

# SegNet's CamVid palette (11 classes); other spaces get a fixed pseudo-random palette.
CAMVID_PALETTE = [
    (128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222), (128, 128, 0),
    (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192),
]


def palette(num_classes: int) -> np.ndarray:
    if num_classes == len(CAMVID_PALETTE):
        colours = list(CAMVID_PALETTE)
    else:
        colours = [tuple(int(c) for c in np.random.default_rng(i).integers(0, 256, 3)) for i in range(num_classes)]
    return np.array(colours + [(0, 0, 0)] * (256 - num_classes), dtype=np.uint8)  # ignore (255) → black


def to_pil(image: torch.Tensor, scale: float) -> Image.Image:
    small = F.interpolate(image[None], scale_factor=scale, mode="bilinear", antialias=True, align_corners=False)[0]
    return Image.fromarray((small.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))


def labels_to_pil(labels: torch.Tensor, colours: np.ndarray, scale: float) -> Image.Image:
    h, w = labels.shape
    picture = Image.fromarray(colours[labels.numpy().astype(np.uint8)])
    return picture.resize((round(w * scale), round(h * scale)), Image.NEAREST)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="camvid")
    parser.add_argument("--split", default="val")
    parser.add_argument("--root", default=None)
    parser.add_argument("--size", nargs=2, type=int, default=[288, 384], metavar=("H", "W"))
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--codec", action="append", required=True, metavar="LABEL=SPEC[@LABEL]")
    parser.add_argument("--indices", nargs="+", type=int, default=[0, 40, 80])
    parser.add_argument("--scale", type=float, default=0.5, help="figure scale of each panel (default 0.5)")
    parser.add_argument("--out", default="docs/figures")
    parser.add_argument("--prefix", default="example")
    args = parser.parse_args()

    dataset = build_dataset(name=args.dataset, split=args.split, root=args.root, size=tuple(args.size))
    teacher, _ = scoring_teacher(load_teacher(args.teacher), dataset_space=label_space_of(dataset_class_names(dataset)))
    colours = palette(teacher.num_classes)
    entries = []
    for text in args.codec:
        label, _, spec = text.partition("=")
        spec, _, match = spec.partition("@")
        name, params = parse_codec_spec(spec)
        entries.append((label, build_codec(name, params, where=f"--codec {label}"), match or None))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for index in args.indices:
        image, truth = dataset[index]
        x = image[None]
        columns = [("original / ground truth", image, truth)]
        payloads: dict[str, int] = {}
        with torch.no_grad():
            columns.append(("original / teacher", image, teacher.predict(x)[0]))
            for label, codec, match in entries:
                budgets = [payloads[match]] if match else None
                stream = codec.encode(x, byte_budgets=budgets)[0]
                payloads[label] = stream.num_bytes
                x_hat = codec.decode([stream.packets], image_size=tuple(args.size)).images
                columns.append((f"{label} {stream.num_bytes / 1000:.1f} KB", x_hat[0], teacher.predict(x_hat)[0]))
        tiles = [(to_pil(img, args.scale), labels_to_pil(lab, colours, args.scale), title) for title, img, lab in columns]
        tw, th = tiles[0][0].size
        sheet = Image.new("RGB", (tw * len(tiles), 2 * th + 14), "white")
        draw = ImageDraw.Draw(sheet)
        for i, (picture, segmentation, title) in enumerate(tiles):
            draw.text((i * tw + 2, 1), title, fill=(0, 0, 0))
            sheet.paste(picture, (i * tw, 14))
            sheet.paste(segmentation, (i * tw, 14 + th))
        path = out / f"{args.prefix}_{args.split}_{index:03d}.png"
        sheet.convert("P", palette=Image.ADAPTIVE, colors=192).save(path, optimize=True)
        print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
