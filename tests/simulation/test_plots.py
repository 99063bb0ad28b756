"""Plots of ``simulate``: a distinct colour per curve for any number of curves, and a payload plot
that never collapses to a single x."""

from __future__ import annotations

import pytest
from matplotlib.colors import to_hex

import simulation.plots
from simulation.plot_styles import curve_colors, curve_styles
from simulation.plots import write_plots


def row(codec: str, snr: float, *, payload: float, miou: float = 0.5, **extra) -> dict:
    return {"codec": codec, "channel": "awgn", "snr_db": snr, "payload_bytes": payload, "miou_gt": miou,
            "miou_gt_ci_low": miou - 0.05, "miou_gt_ci_high": miou + 0.05, "miou_gt_clean": 0.6,
            "ber": 1e-3, "raw_ber": 1e-2, "packet_loss_rate": 0.1, "packet_error_rate": 0.1, **extra}


@pytest.fixture
def drawn(monkeypatch) -> dict:
    """The axes of every plot written, by file name."""
    axes_by_name: dict = {}
    finish = simulation.plots._finish

    def capture(figure, axes, path, **options):
        axes_by_name[path.name] = axes
        return finish(figure, axes, path, **options)

    monkeypatch.setattr(simulation.plots, "_finish", capture)
    return axes_by_name


@pytest.mark.parametrize("count", [1, 10, 11, 20, 21, 60, 256])
def test_curve_colors_are_distinct_for_any_count(count):
    colors = curve_colors(count)
    assert len(colors) == count and len(set(colors)) == count


def test_curve_colors_keep_tab10_then_tab20():
    assert curve_colors(3) == ["#1f77b4", "#ff7f0e", "#2ca02c"]  # matplotlib's first default colours
    assert curve_colors(12)[:2] == ["#1f77b4", "#aec7e8"]  # tab20
    styles = curve_styles(30)
    assert len({(s.color, s.marker) for s in styles}) == 30 and len({s.marker for s in styles}) > 10


def test_more_than_ten_curves_get_distinct_colours(tmp_path, drawn):
    rows = [row(f"codec-{i:02d}", snr, payload=100.0 * (i + 1)) for i in range(14) for snr in (0, 10)]
    write_plots(rows, tmp_path, swept_paths=["snr_db"], log=lambda _: None)
    for name in ("miou_vs_snr.png", "ber_vs_snr.png"):
        lines = [line for line in drawn[name].get_lines() if line.get_label().startswith("codec-")]
        colors = {to_hex(line.get_color()) for line in lines if "(raw)" not in line.get_label()}
        assert len(colors) == 14, name


def test_payload_plot_of_one_codec_is_left_out_with_a_note(tmp_path, drawn):
    notes: list[str] = []
    rows = [row("only", snr, payload=1234.0) for snr in (0, 5, 10)]
    (tmp_path / "miou_vs_payload.png").write_bytes(b"a plot of an earlier session")
    written = write_plots(rows, tmp_path, swept_paths=["snr_db"], log=notes.append)
    assert [p.name for p in written] == ["miou_vs_snr.png", "ber_vs_snr.png", "packet_loss_vs_snr.png"]
    assert not (tmp_path / "miou_vs_payload.png").exists()
    assert notes == ["plots: miou_vs_payload.png not drawn: every point has the same payload (1.23 kB per image), "
                     "so mIoU against payload is a single x; see miou_vs_snr.png"]


def test_payload_plot_draws_error_bars_at_each_codecs_payload(tmp_path, drawn):
    notes: list[str] = []
    rows = [row(codec, snr, payload=payload, miou=miou)
            for codec, payload in (("small", 500.0), ("large", 2000.0)) for snr, miou in ((0, 0.2), (10, 0.5))]
    write_plots(rows, tmp_path, swept_paths=["snr_db"], log=notes.append)
    assert notes == [] and (tmp_path / "miou_vs_payload.png").read_bytes()[:4] == b"\x89PNG"
    bars = drawn["miou_vs_payload.png"].containers
    assert len(bars) == 2 and all(b.has_yerr for b in bars)  # one curve per SNR, each through both codecs
    xs = sorted(tuple(b.lines[0].get_xdata()) for b in bars)
    assert xs == [(0.5, 2.0), (0.5, 2.0)]
    labels = {b.get_label() for b in bars}
    assert labels == {"snr_db=0 dB | awgn", "snr_db=10 dB | awgn"}


def test_codecs_sharing_a_payload_are_points_without_a_line(tmp_path, drawn):
    rows = [row(codec, 10, payload=payload, miou=miou)
            for codec, payload, miou in (("a", 500.0, 0.3), ("b", 500.0, 0.4), ("c", 900.0, 0.5))]
    write_plots(rows, tmp_path, swept_paths=["snr_db"], log=lambda _: None)
    (bars,) = drawn["miou_vs_payload.png"].containers
    assert bars.lines[0].get_linestyle() == "None" and sorted(bars.lines[0].get_xdata()) == [0.5, 0.5, 0.9]
