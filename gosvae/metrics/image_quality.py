"""Pixel-fidelity scores of reconstructed images: mean squared error and PSNR, one value per image.

Both are plain torch expressions (differentiable, any device) on images ``(B, C, H, W)`` whose
values lie in ``[0, data_range]`` (``[0, 1]`` throughout the project). Values are not clipped
here: clip reconstructions first if the codec can leave the range.

Example
-------
>>> x = torch.rand(2, 3, 32, 32)
>>> psnr(x, (x + 0.1).clamp(0, 1))       # doctest: +SKIP
tensor([20.6, 20.5])
"""

from __future__ import annotations

import torch

__all__ = ["mse", "psnr"]


def _check_images(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape:
        raise ValueError(f"images must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.dim() != 4:
        raise ValueError(f"images must be (B, C, H, W), got shape {tuple(x.shape)}")
    if not (x.is_floating_point() and y.is_floating_point()):
        raise TypeError(f"images must be floating point (values in [0, 1]), got {x.dtype} and {y.dtype}")


def mse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error of each image, averaged over channels and pixels.

    Input
    -----
    x, y : [B, C, H, W], floating point
        Reference and reconstructed images.

    Output
    ------
    : [B], dtype of the inputs (promoted)
        ``mean((x - y)**2)`` over ``C, H, W``.

    Example
    -------
    >>> mse(torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.5))
    tensor([0.2500])
    """
    _check_images(x, y)
    return (x - y).square().flatten(start_dim=1).mean(dim=1)


def psnr(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    r"""Peak signal-to-noise ratio of each image, :math:`10 \log_{10}(\text{data\_range}^2 / \text{MSE})` dB.

    Identical images have ``MSE = 0`` and a PSNR of ``+inf`` (returned as such, not capped);
    average PSNR over a data set with care (e.g. average the MSE first, or report the count of
    lossless images).

    Parameters
    ----------
    data_range : float
        Peak-to-peak range of the pixel values: 1.0 for ``[0, 1]`` images, 255.0 for 8-bit ones.

    Input
    -----
    x, y : [B, C, H, W], floating point
        Reference and reconstructed images.

    Output
    ------
    : [B], dtype of the inputs (promoted)
        PSNR in dB per image; ``+inf`` where ``x`` and ``y`` are equal.

    Example
    -------
    >>> psnr(torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.1))
    tensor([20.])
    """
    if not data_range > 0:
        raise ValueError(f"data_range must be positive, got {data_range}")
    # data_range**2 / 0 = inf and log10(inf) = inf: the lossless case needs no special branch.
    return 10.0 * torch.log10(data_range**2 / mse(x, y))
