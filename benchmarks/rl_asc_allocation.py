"""What the RL-ASC agent learned: the level it picks and the bits it spends per class, and examples.

For each ``rl-asc`` model given, on the first ``--num-images`` frames of a split: per class of the
teacher, how often the class is a concept (present in ``s_d``), the mean level the allocation
chose (0 = one centre, nothing sent; Q-1 = finest), the mean bytes of its concept packet (header
included) and its share of the payload; plus the semantic packet's mean size. Prints Markdown
tables. With ``--figure PATH`` it also draws, for ``--example`` frames, the original, the
teacher's ``s_d``, each model's reconstruction (title: payload and level per class) and any
``--compare`` codec's (e.g. GOS-VAE* at a similar payload).

Usage::

    OMP_NUM_THREADS=2 python benchmarks/rl_asc_allocation.py --models rl-asc-camvid-n4 rl-asc-camvid-n4-simplified \
        --dataset camvid --root ../shared/datasets/camvid --size 288 384 --num-images 101 \
        [--compare vqvae:model=gos-vae-star-camvid-r8] [--figure docs/figures/rl-asc-examples.png --example 0 7]
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from typing import Any

import numpy as np
import torch


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", required=True, help="rl-asc zoo names or folders")
    parser.add_argument("--dataset", default="camvid")
    parser.add_argument("--root", default=None)
    parser.add_argument("--split", default="val")
    parser.add_argument("--size", nargs=2, type=int, default=[288, 384])
    parser.add_argument("--num-images", type=int, default=101)
    parser.add_argument("--compare", action="append", default=[], help="codec spec NAME:K=V,... for the figure")
    parser.add_argument("--figure", default=None, help="write an example figure (PNG)")
    parser.add_argument("--example", nargs="+", type=int, default=[0], help="frame indices of the figure")
    return parser.parse_args()


def allocation_table(codec: Any, images: torch.Tensor) -> tuple[str, dict[str, float]]:
    """Markdown rows (one per class) of level and bytes spent, and totals, for one rl-asc codec."""
    from gosvae.codecs.rl_asc_packets import parse_concept

    names = list(codec.teacher.class_names)
    present, levels, nbytes = defaultdict(int), defaultdict(list), defaultdict(list)
    semantic, total = [], []
    for start in range(0, len(images), 8):
        chunk = images[start:start + 8]
        _, labels_d, chosen = codec.analyse(chunk)
        for stream, s_d, lv in zip(codec.encode(chunk), labels_d, chosen):
            semantic.append(len(stream.packets[0]))
            total.append(stream.num_bytes)
            sizes = {parse_concept(p, model_id=codec.model_id).class_id: len(p) for p in stream.packets[1:]}
            for c in s_d.unique().tolist():
                present[c] += 1
                levels[c].append(int(lv[c]))
                nbytes[c].append(sizes.get(c, 0))
    payload = float(np.mean(total))
    rows = ["| class | concept in (% of frames) | mean level | mean bytes | share of payload |", "|---|---:|---:|---:|---:|"]
    for c, name in enumerate(names):
        if not present[c]:
            continue
        mean_bytes = float(np.sum(nbytes[c])) / len(images)
        rows.append(f"| {name} | {100 * present[c] / len(images):.0f} | {np.mean(levels[c]):.2f} | "
                    f"{np.mean(nbytes[c]):.0f} | {100 * mean_bytes / payload:.1f} % |")
    rows.append(f"| *semantic map* | 100 | – | {np.mean(semantic):.0f} | {100 * np.mean(semantic) / payload:.1f} % |")
    return "\n".join(rows), {"payload_bytes": payload, "semantic_bytes": float(np.mean(semantic))}


def main() -> None:
    args = parse_args()
    from gosvae.codecs import build_codec, parse_codec_spec
    from gosvae.datasets import build_dataset

    torch.manual_seed(0)
    dataset = build_dataset(name=args.dataset, split=args.split, root=args.root, num_images=args.num_images,
                            size=tuple(args.size))
    images = torch.stack([dataset[i][0] for i in range(len(dataset))])
    codecs = {name: build_codec("rl-asc", model=name) for name in args.models}
    for name, codec in codecs.items():
        table, totals = allocation_table(codec, images)
        print(f"\n### {name} (allocation: {codec.allocation}; {len(images)} frames; "
              f"payload {totals['payload_bytes']:.0f} B, semantic map {totals['semantic_bytes']:.0f} B)\n")
        print(table)
    if args.figure:
        draw_examples(args, images, codecs, [build_codec(*parse_codec_spec(spec)) for spec in args.compare])


def draw_examples(args: argparse.Namespace, images: torch.Tensor, codecs: dict[str, Any], others: list[Any]) -> None:
    """Original, s_d, and every codec's clean reconstruction of the ``--example`` frames."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = images[args.example]
    first = next(iter(codecs.values()))
    s_d = first.analyse(frames)[1]
    columns = 2 + len(codecs) + len(others)
    fig, axes = plt.subplots(len(frames), columns, figsize=(2.6 * columns, 2.1 * len(frames)), squeeze=False)
    panels = []
    for codec in [*codecs.values(), *others]:
        streams = codec.encode(frames)
        out = codec.decode([s.packets for s in streams], image_size=tuple(frames.shape[-2:])).images
        label = getattr(codec, "name", codec.describe().get("codec"))
        panels.append((label, out, [s.num_bytes for s in streams]))
    for row, frame in enumerate(frames):
        axes[row, 0].imshow(frame.permute(1, 2, 0).numpy())
        axes[row, 0].set_title("original", fontsize=7)
        axes[row, 1].imshow(s_d[row].numpy(), cmap="tab20", vmin=0, vmax=19, interpolation="nearest")
        axes[row, 1].set_title("s_d (teacher, /8)", fontsize=7)
        for col, (label, out, sizes) in enumerate(panels, start=2):
            axes[row, col].imshow(out[row].permute(1, 2, 0).clamp(0, 1).numpy())
            axes[row, col].set_title(f"{label}\n{sizes[row]} B", fontsize=7)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(args.figure, dpi=110)
    print(f"\nfigure: {args.figure}")


if __name__ == "__main__":
    main()
