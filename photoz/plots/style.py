"""Shared style of the paper's figures: colours, rc settings, a fresh Agg figure, atomic saving."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from photoz.errors import PhotozConfigError
from photoz.io import atomic_path
from photoz.names import NETWORKS

matplotlib.use("Agg", force=False)


#: One colour per network, used in every figure.
NET_COLORS: dict[str, str] = {
    "mlp": "#1f77b4",  # blue
    "cnn": "#ff7f0e",  # orange
    "hybrid": "#2ca02c",  # green
    "hybrid_transfer": "#d62728",  # red
}
#: One colour per band, blue to red.
BAND_COLORS: dict[str, str] = {
    "NUV": "#6a3d9a",
    "u": "#1f4e9c",
    "g": "#1b9e77",
    "r": "#b8a000",
    "i": "#ff7f00",
    "z": "#e31a1c",
    "y": "#7f0000",
}


_RC = {
    "font.size": 9,
    "axes.labelsize": 9,
    "axes.titlesize": 10,
    "legend.fontsize": 8,
    "xtick.direction": "in",
    "ytick.direction": "in",
    "xtick.top": True,
    "ytick.right": True,
    "savefig.dpi": 150,
}


# --------------------------------------------------------------------------------------------
# Input helpers
# --------------------------------------------------------------------------------------------
def _need(inputs: Mapping, name: str, key: str):
    if key not in inputs or inputs[key] is None:
        raise PhotozConfigError(f"plot_figure({name!r}): missing input {key!r}")
    return inputs[key]


def _ordered_nets(mapping: Mapping[str, object]) -> list[str]:
    unknown = sorted(set(mapping) - set(NETWORKS))
    if unknown:
        raise PhotozConfigError(f"unknown network(s) {unknown}; known {list(NETWORKS)}")
    return [n for n in NETWORKS if n in mapping]


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path, fmt: str, dpi: float | None = None) -> None:
    """Save ``fig`` to ``path`` atomically (temporary file in the same directory + os.replace).

    ``dpi`` None takes rc ``savefig.dpi`` (150 under :data:`_RC`).
    """
    meta = {"Creator": "photoz"} if fmt == "png" else {"Creator": "photoz", "CreationDate": None}
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, metadata=meta, **({} if dpi is None else {"dpi": dpi}))

