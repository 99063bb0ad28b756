"""The project's registries of codecs, teachers and datasets (the generic :class:`Registry` is
:mod:`gosvae_core.registry`, shared with ``channels``).

A :class:`Registry` maps the names written in YAML (``codec: gos-vae``, ``teacher: urban-unet``,
``dataset: camvid``) to the classes or factories that build them. Third-party packages can add
entries through Python entry points (group given at construction), loaded lazily on first lookup.

Example
-------
>>> from gosvae.registry import DATASETS, register_dataset
>>> @register_dataset("my-data", description="my own scenes")
... class MyData: ...
>>> DATASETS.get("my-data") is MyData
True
"""

from __future__ import annotations

from typing import Callable, TypeVar

from gosvae_core.registry import Registry, RegistryEntry

__all__ = ["CODECS", "DATASETS", "TEACHERS", "Registry", "RegistryEntry", "register_codec", "register_dataset", "register_teacher"]

T = TypeVar("T")

CODECS = Registry("codec", entry_point_group="gosvae.codecs")
TEACHERS = Registry("teacher", entry_point_group="gosvae.teachers")
DATASETS = Registry("dataset", entry_point_group="gosvae.datasets")


def register_codec(name: str, *, description: str = "") -> Callable[[T], T]:
    """Register a codec class under ``name`` (see :data:`CODECS`)."""
    return CODECS.register(name, description=description)


def register_teacher(name: str, *, description: str = "") -> Callable[[T], T]:
    """Register a teacher class or factory under ``name`` (see :data:`TEACHERS`)."""
    return TEACHERS.register(name, description=description)


def register_dataset(name: str, *, description: str = "") -> Callable[[T], T]:
    """Register a dataset class under ``name`` (see :data:`DATASETS`)."""
    return DATASETS.register(name, description=description)
