"""Scenario spellings that older versions accepted, rewritten to today's before validation.

:func:`move_receiver_params`: the OFDM receiver settings (channel estimation, interpolation,
equalizer) were parameters of the ``tdl`` / ``cdl`` channel models before they became the link's
(``link.receiver``); a scenario that still gives them under ``channel.params`` (or sweeps them
there) is rewritten, with one ``DeprecationWarning`` line per moved field.

Example
-------
>>> data = {"channel": {"model": "tdl", "params": {"equalizer": "zf"}}, "sweep": {}}   # doctest: +SKIP
>>> move_receiver_params(data, source="s.yaml")["link"]["receiver"]
{'equalizer': 'zf'}
"""

from __future__ import annotations

import warnings
from typing import Any

from gosvae.errors import ConfigError, UserError
from simulation.link.config import ReceiverSettings

__all__ = ["DEPRECATED_RECEIVER_PARAMS", "move_receiver_params"]


#: Receiver settings that were parameters of the OFDM channel models (``channel.params.<name>``)
#: before they moved to ``link.receiver.<name>``; still read from there, with a warning.
DEPRECATED_RECEIVER_PARAMS = tuple(ReceiverSettings.model_fields)


def move_receiver_params(data: dict[str, Any], *, source: str) -> dict[str, Any]:
    """``data`` with the deprecated OFDM receiver parameters moved to ``link.receiver``.

    ``channel.params.channel_estimation`` / ``interpolation`` / ``equalizer`` of an OFDM model
    (``tdl``, ``cdl`` or a subclass) become ``link.receiver.<name>``, and a sweep axis
    ``channel.params.<name>`` becomes ``link.receiver.<name>``; each emits one
    ``DeprecationWarning`` line naming the new field. Giving a setting in both places is a
    :class:`ConfigError`. Anything else (another model, a malformed section) is left as it is,
    for the validation to report.
    """
    from channels import OFDMChannelModel, channel_class

    channel = data.get("channel")
    if not isinstance(channel, dict) or not isinstance(channel.get("model", "awgn"), str):
        return data
    try:
        is_ofdm = issubclass(channel_class(channel.get("model", "awgn")), OFDMChannelModel)
    except UserError:
        return data
    params, sweep, link = channel.get("params"), data.get("sweep"), data.get("link")
    moved_params = [n for n in DEPRECATED_RECEIVER_PARAMS if isinstance(params, dict) and n in params]
    moved_axes = [n for n in DEPRECATED_RECEIVER_PARAMS if isinstance(sweep, dict) and f"channel.params.{n}" in sweep]
    if not is_ofdm or not (moved_params or moved_axes) or not isinstance(link if link is not None else {}, dict):
        return data
    link = dict(link or {})
    receiver = link.get("receiver", {})
    if not isinstance(receiver, dict):
        return data
    receiver = dict(receiver)
    for name in moved_params:
        if name in receiver:
            raise ConfigError(f"{source}: channel.params.{name}: given as link.receiver.{name} too; keep that one only")
        receiver[name] = params[name]
        _deprecated(f"channel.params.{name}", f"link.receiver.{name}", source=source)
    new_sweep = sweep
    if moved_axes:
        new_sweep = {}
        for path, values in sweep.items():
            name = path.removeprefix("channel.params.")
            if path.startswith("channel.params.") and name in moved_axes:
                if f"link.receiver.{name}" in sweep:
                    raise ConfigError(f"{source}: sweep.{path}: swept as link.receiver.{name} too; keep that one only")
                _deprecated(f"sweep.{path}", f"sweep.link.receiver.{name}", source=source)
                path = f"link.receiver.{name}"
            new_sweep[path] = values
    if receiver:
        link["receiver"] = receiver
    kept = {k: v for k, v in params.items() if k not in moved_params} if isinstance(params, dict) else params
    out = {**data, "link": link, "channel": {**channel, "params": kept} if "params" in channel else channel}
    if moved_axes:
        out["sweep"] = new_sweep
    return out


def _deprecated(old: str, new: str, *, source: str) -> None:
    warnings.warn(f"{source}: {old} is deprecated: write {new} (the receiver is the link's)", DeprecationWarning,
                  stacklevel=3)
