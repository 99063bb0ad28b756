"""Transmitter-side speed at 256x512 on one core: GOS-VAE encoder + quantizer + range coding,
side by side with Pillow JPEG encoding of the same images at a similar payload.

Prints frames per second of each stage and of the whole transmitter, and the JPEG quality whose
mean payload is closest to the codec's. The goal of the shallow r=4 encoder is >= 30 fps.

Run:
    OMP_NUM_THREADS=1 python benchmarks/encoder_speed.py --model gos-vae-star-r4 --num-images 32

A model missing from the zoo is replaced by an untrained one of the same architecture (speed does
not depend on the weights; the payload then does, so the JPEG match is only indicative).
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
import torch
from PIL import Image

from gosvae.codec import VQVAECodec, load_codec
from gosvae.datasets import build_dataset
from gosvae.errors import UserError
from gosvae.models import VQVAE


def _codec(name: str, ratio: int) -> VQVAECodec:
    try:
        return load_codec(name)
    except UserError as exc:
        print(f"note: {exc}; timing an untrained shallow r={ratio} model instead")
        return VQVAECodec(VQVAE(arch="shallow", ratio=ratio, codebook_size=512).eval(), name=name)


def _jpeg_bytes(arrays: list[np.ndarray], quality: int) -> list[bytes]:
    out = []
    for array in arrays:
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
        out.append(buffer.getvalue())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="gos-vae-star-r4")
    parser.add_argument("--ratio", type=int, default=4, help="ratio of the stand-in model if --model is not in the zoo")
    parser.add_argument("--num-images", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=1, help="images per encoder call (1: frame by frame)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    dataset = build_dataset(name="synthetic-urban", split="test", num_images=args.num_images, size=(256, 512), seed=0)
    images = torch.stack([dataset[i][0] for i in range(len(dataset))])
    codec = _codec(args.model, args.ratio)
    codec.batch_size = args.batch_size

    codec.encode(images[:2])  # warm-up (allocator, range-coder tables)
    t0 = time.perf_counter()
    indices = [codec.encode_indices(chunk) for chunk in images.split(args.batch_size)]
    t1 = time.perf_counter()
    from gosvae.source_coding import encode_index_map

    payloads = [
        sum(len(p) for p in encode_index_map(m, prior=codec.prior, coder="range", rows_per_slice=codec.rows_per_slice,
                                             model_id=codec.model_id))
        for chunk in indices for m in chunk.numpy()
    ]
    t2 = time.perf_counter()
    n = len(images)
    model_fps, coding_fps, total_fps = n / (t1 - t0), n / (t2 - t1), n / (t2 - t0)
    mean_payload = float(np.mean(payloads))

    arrays = [(img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for img in images]
    sizes = {q: float(np.mean([len(b) for b in _jpeg_bytes(arrays[:8], q)])) for q in range(5, 96, 5)}
    quality = min(sizes, key=lambda q: abs(sizes[q] - mean_payload))
    t3 = time.perf_counter()
    jpeg = _jpeg_bytes(arrays, quality)
    t4 = time.perf_counter()

    print(f"transmitter of {args.model} at 256x512, {n} images, batch {args.batch_size}, {args.threads} thread(s)")
    print(f"  encoder + quantizer : {model_fps:7.1f} fps")
    print(f"  range coding        : {coding_fps:7.1f} fps")
    print(f"  whole transmitter   : {total_fps:7.1f} fps   (goal >= 30 fps for shallow r=4)")
    print(f"  payload             : {mean_payload / 1000:7.2f} KB/image ({8 * mean_payload / (256 * 512):.3f} bpp)")
    print(f"Pillow JPEG quality {quality} (closest mean payload on 8 images):")
    print(f"  JPEG encoding       : {n / (t4 - t3):7.1f} fps, payload {np.mean([len(b) for b in jpeg]) / 1000:.2f} KB/image")


if __name__ == "__main__":
    main()
