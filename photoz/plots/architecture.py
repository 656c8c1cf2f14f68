"""Fig. 5 of the paper: the networks' architectures, drawn from the models themselves.

The drawing engine: :func:`layer_groups` walks a model's modules into groups of layers (one box
each), the forward pass of dummy inputs records their output shapes, and the ``_draw_*`` helpers
lay the boxes out as stacks (MLP, CNN), an inception block and the hybrid's two branches.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from photoz.plots.style import NET_COLORS, _new_figure

# --------------------------------------------------------------------------------------------
# Fig. 5: architectures, drawn from the models themselves
# --------------------------------------------------------------------------------------------
_STARTS_GROUP = (
    "Linear",
    "Conv1d",
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool2d",
)
_SHORT = {
    "BatchNorm1d": "BN",
    "BatchNorm2d": "BN",
    "ReLU": "ReLU",
    "LeakyReLU": "LeakyReLU",
    "Flatten": None,
    "Dropout": "Dropout",
    "Identity": None,
    "Sigmoid": "Sigmoid",
    "Tanh": "Tanh",
}
#: Dummy inputs for the forward pass that records shapes, by ``model.inputs`` entry.
_DUMMY_SHAPES = {"flux": (2, 20), "image": (2, 7, 32, 32)}


def _is_parallel(module) -> bool:
    """A block whose children run side by side (an inception block).

    Our own heuristic, since PyTorch modules do not declare their graph: the class name contains
    "Inception", or at least two children are named ``branch*``.
    """
    names = [n for n, _ in module.named_children()]
    return "inception" in type(module).__name__.lower() or (
        sum(n.startswith("branch") for n in names) >= 2
    )


def _leaves(module, prefix: str = ""):
    """Yield (qualified name, module) for leaf layers and parallel blocks, in registration order."""
    for name, child in module.named_children():
        full = f"{prefix}{name}"
        if _is_parallel(child) or not list(child.children()):
            yield full, child
        else:
            yield from _leaves(child, full + ".")


def _describe(layer) -> str | None:
    kind = type(layer).__name__
    if _is_parallel(layer):
        return "Inception block" if "inception" in kind.lower() else f"{kind} (parallel)"
    if kind == "Linear":
        return f"Dense {layer.out_features}"
    if kind.startswith("Conv"):
        k = layer.kernel_size[0] if isinstance(layer.kernel_size, tuple) else layer.kernel_size
        s = layer.stride[0] if isinstance(layer.stride, tuple) else layer.stride
        return f"Conv {k}×{k}/{layer.out_channels}" + (f", stride {s}" if s != 1 else "")
    if kind in ("AdaptiveAvgPool2d", "AdaptiveAvgPool1d"):
        return "Global average pool"
    if kind in ("MaxPool2d", "AvgPool2d"):
        k = layer.kernel_size if isinstance(layer.kernel_size, int) else layer.kernel_size[0]
        s = layer.stride if isinstance(layer.stride, int) else layer.stride[0]
        return f"{'Max' if kind.startswith('Max') else 'Avg'} pool {k}×{k}" + (
            f", stride {s}" if s != 1 else ""
        )
    return _SHORT.get(kind, kind)


def _shape_text(shape) -> str:
    if shape is None:
        return ""
    dims = list(shape[1:])
    if len(dims) == 3:  # (C, H, W) -> Keras's H x W x C
        return f"{dims[1]}×{dims[2]}×{dims[0]}"
    return "×".join(str(d) for d in dims)


def _record_shapes(model) -> dict[int, tuple]:
    """Output shape of every leaf/parallel module from one forward pass on zeros (id -> shape)."""
    import torch

    shapes: dict[int, tuple] = {}
    hooks = [
        m.register_forward_hook(lambda mod, _i, out: shapes.__setitem__(id(mod), tuple(out.shape)))
        for m in model.modules()
        if m is not model
    ]
    inputs = getattr(model, "inputs", None)
    was_training = model.training
    try:
        model.eval()
        if inputs:
            args = [torch.zeros(_DUMMY_SHAPES[i]) for i in inputs]
        else:
            args = [torch.zeros(_DUMMY_SHAPES["flux"])]
        with torch.no_grad():
            model(*args)
    except Exception as exc:  # noqa: BLE001 - a diagram without shapes beats no diagram
        warnings.warn(
            f"fig5: forward pass of {type(model).__name__} failed ({exc}); drawing without shapes",
            stacklevel=2,
        )
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return shapes


def layer_groups(module, shapes: Mapping[int, tuple] | None = None) -> list[dict]:
    """Group a module's layers the way the paper's Fig. 5 draws them.

    A new group starts at every Dense/Conv/pooling layer and every parallel (inception) block;
    BatchNorm and activations join the group before them. Consecutive identical groups are
    merged into one with a repeat count.

    Parameters
    ----------
    module : torch.nn.Module
    shapes : mapping, optional
        ``id(layer) -> output shape`` from a forward pass (:func:`_record_shapes`).

    Returns
    -------
    list of dict
        Each ``{"label": str, "shape": str, "repeat": int, "modules": list, "parallel": bool}``.
    """
    shapes = shapes or {}
    groups: list[dict] = []
    for _, layer in _leaves(module):
        desc = _describe(layer)
        kind = type(layer).__name__
        starts = _is_parallel(layer) or kind in _STARTS_GROUP or not groups
        if starts:
            groups.append(
                {
                    "parts": [desc] if desc else [],
                    "modules": [layer],
                    "parallel": _is_parallel(layer),
                }
            )
        else:
            if desc:
                groups[-1]["parts"].append(desc)
            groups[-1]["modules"].append(layer)
    out: list[dict] = []
    for g in groups:
        label = " + ".join(g["parts"]) if g["parts"] else "(reshape)"
        shape = ""
        for m in reversed(g["modules"]):
            if id(m) in shapes:
                shape = _shape_text(shapes[id(m)])
                break
        if out and out[-1]["label"] == label and out[-1]["shape_key"] == (label, g["parallel"]):
            out[-1]["repeat"] += 1
            out[-1]["shape"] = shape or out[-1]["shape"]
            out[-1]["modules"] += g["modules"]
            continue
        out.append(
            {
                "label": label,
                "shape": shape,
                "repeat": 1,
                "modules": list(g["modules"]),
                "parallel": g["parallel"],
                "shape_key": (label, g["parallel"]),
            }
        )
    for g in out:
        g.pop("shape_key")
    return out


def _group_text(g: dict, compact: bool = False) -> str:
    """Box text of a layer group: label, then the output shape on its own line.

    ``compact`` (narrow boxes) puts the main layer, its BatchNorm/activation and the shape on
    three lines and abbreviates (stride -> s, LeakyReLU -> LReLU).
    """
    label = g["label"]
    if compact:
        parts = label.split(" + ")
        label = parts[0].replace(", stride ", ", s")
        if len(parts) > 1:
            label += "\n" + " + ".join(parts[1:]).replace("LeakyReLU", "LReLU")
    text = label if g["repeat"] == 1 else f"{g['repeat']} × [{label}]"
    return text + (f"\n→ {g['shape']}" if g["shape"] else "")


def _count_parameters(model) -> int:
    """Parameters plus BatchNorm running mean and variance, as the paper's Keras counted."""
    try:
        from photoz.models.build import count_parameters

        return int(count_parameters(model))
    except ImportError:
        n = sum(p.numel() for p in model.parameters())
        return n + sum(
            b.numel()
            for name, b in model.named_buffers()
            if name.endswith(("running_mean", "running_var"))
        )


def _box(ax, x, y, w, h, text, color, fontsize=7.5, alpha=0.18, bold=False):
    patch = FancyBboxPatch(
        (x - w / 2, y - h / 2),
        w,
        h,
        boxstyle="round,pad=0.004,rounding_size=0.012",
        fc=matplotlib.colors.to_rgba(color, alpha),
        ec=color,
        lw=1.0,
    )
    ax.add_patch(patch)
    ax.text(
        x,
        y,
        text,
        ha="center",
        va="center",
        fontsize=fontsize,
        fontweight="bold" if bold else "normal",
    )
    return patch


def _arrow(ax, x0, y0, x1, y1):
    ax.annotate(
        "",
        xy=(x1, y1),
        xytext=(x0, y0),
        arrowprops={"arrowstyle": "-|>", "color": "0.3", "lw": 0.8, "shrinkA": 0, "shrinkB": 0},
    )


def _draw_stack(
    ax,
    items: list[tuple[str, str]],
    x: float,
    y_top: float,
    y_bottom: float,
    width: float,
    max_step: float = 0.11,
) -> list[float]:
    """Draw boxes (text, colour) top to bottom with arrows between; return their centres."""
    n = len(items)
    step = min(max_step, (y_top - y_bottom) / max(n, 1))
    h = step * 0.68
    ys = [y_top - step * (k + 0.5) for k in range(n)]
    for k, (text, color) in enumerate(items):
        _box(ax, x, ys[k], width, h, text, color)
        if k:
            _arrow(ax, x, ys[k - 1] - h / 2, x, ys[k] + h / 2)
    return ys


def _input_text(which: str) -> str:
    return {"flux": "Input: 20 flux features", "image": "Input: 7×32×32 stamp"}.get(which, which)


def _draw_sequential(ax, model, name: str, color: str) -> None:
    shapes = _record_shapes(model)
    groups = layer_groups(model, shapes)
    inputs = getattr(model, "inputs", ("flux",))
    items = [(_input_text(inputs[0]), "0.5")]
    items += [(_group_text(g), color) for g in groups]
    items[-1] = (items[-1][0].replace("\n", " (photo-z)\n", 1), color)
    _draw_stack(ax, items, 0.5, 0.93, 0.0, 0.92)
    ax.set_title(f"{name}: {_count_parameters(model):,} parameters", color=color, fontweight="bold")


def _draw_inception(ax, block, shapes: Mapping[int, tuple], color: str) -> None:
    """The parallel branches of one inception block side by side, then the concatenation."""
    branches = list(block.named_children())
    n = len(branches)
    _box(ax, 0.5, 0.9, 0.6, 0.07, "Previous layer", "0.5")
    width = 0.96 / n
    step = 0.2
    tops = []
    for k, (bname, branch) in enumerate(branches):
        x = 0.02 + width * (k + 0.5)
        groups = (
            layer_groups(branch, shapes)
            if list(branch.children())
            else layer_groups(_Wrap(branch), shapes)
        )
        items = [(_group_text(g, compact=True), color) for g in groups]
        ys = _draw_stack(ax, items, x, 0.8, 0.3, width * 0.94, max_step=step)
        ax.text(x, 0.81, bname, ha="center", va="bottom", fontsize=7, color="0.3")
        _arrow(ax, 0.5, 0.9 - 0.035, x, 0.8)
        tops.append((x, ys[-1] - step * 0.68 / 2 if ys else 0.8))
    out_shape = _shape_text(shapes.get(id(block)))
    _box(ax, 0.5, 0.12, 0.6, 0.08, "Concatenate" + (f" → {out_shape}" if out_shape else ""), color)
    for x, yb in tops:
        _arrow(ax, x, yb, 0.5, 0.16)
    ax.set_title("Inception block (CNN)", color=color, fontweight="bold")


class _Wrap:
    """Make a single layer look like a module with one child, for :func:`layer_groups`."""

    def __init__(self, layer):
        self.layer = layer

    def named_children(self):
        yield "layer", self.layer


def _draw_hybrid(ax, model, name: str, color: str) -> None:
    """Hybrid: its input branches side by side (collapsed), concatenated, then the head."""
    shapes = _record_shapes(model)
    inputs = list(getattr(model, "inputs", ()))
    children = list(model.named_children())
    branch_kids = [(n, c) for n, c in children if list(c.children())][: max(len(inputs), 2)]
    rest = [(n, c) for n, c in children if all(c is not b for _, b in branch_kids)]
    xs = np.linspace(0.255, 0.745, len(branch_kids)) if len(branch_kids) > 1 else [0.5]
    bottoms = []
    for k, (bname, branch) in enumerate(branch_kids):
        groups = layer_groups(branch, shapes)
        text = f"{bname.upper()} branch\n" + "\n".join(
            _group_text(g, compact=True).replace("\n→", " →").replace("\n", " + ") for g in groups
        )
        which = inputs[k] if k < len(inputs) else ""
        branch_color = (
            NET_COLORS["mlp"]
            if "mlp" in bname.lower()
            else (NET_COLORS["cnn"] if "cnn" in bname.lower() else color)
        )
        _box(ax, xs[k], 0.9, 0.46, 0.06, _input_text(which), "0.5")
        nlines = text.count("\n") + 1
        h = 0.034 * nlines + 0.02
        yc = 0.85 - 0.02 - h / 2
        _box(ax, xs[k], yc, 0.48, h, text, branch_color, fontsize=6.0)
        _arrow(ax, xs[k], 0.87, xs[k], yc + h / 2)
        bottoms.append((xs[k], yc - h / 2))
    y_low = min(b for _, b in bottoms) if bottoms else 0.85
    widths = [
        shapes.get(id(g["modules"][-1]))
        for _, c in branch_kids
        for g in layer_groups(c, shapes)[-1:]
    ]
    concat = sum(s[-1] for s in widths if s) if widths and all(widths) else None
    items = [("Concatenate" + (f"  → {concat}" if concat else ""), color)]

    class _Rest:
        def named_children(self_inner):
            yield from rest

    items += [(_group_text(g), color) for g in layer_groups(_Rest(), shapes)]
    items[-1] = (items[-1][0].replace("\n", " (photo-z)\n", 1), color)
    y_top = y_low - 0.03
    step = min(0.1, y_top / len(items))
    ys = _draw_stack(ax, items, 0.5, y_top, 0.0, 0.8, max_step=step)
    for x, yb in bottoms:
        _arrow(ax, x, yb, 0.5, ys[0] + step * 0.68 / 2)
    ax.set_title(f"{name}: {_count_parameters(model):,} parameters", color=color, fontweight="bold")


def fig5_architectures(build_model: Callable | None = None) -> Figure:
    """Fig. 5: the MLP, the CNN with its inception block, and the hybrid, drawn from the models.

    Parameters
    ----------
    build_model : callable, optional
        ``build_model(name) -> torch.nn.Module`` for ``"mlp"``, ``"cnn"``, ``"hybrid"``; default
        :func:`photoz.models.build_model`. The diagram walks each model's named children, groups
        Dense/Conv layers with the BatchNorm and activations that follow them, and labels each
        group with its output shape from one forward pass on zeros; so it always shows the
        networks that are actually trained.

    Returns
    -------
    matplotlib.figure.Figure
        Four panels: MLP, CNN, inception block, hybrid (each titled with its parameter count,
        BatchNorm running statistics included as in the paper).
    """
    if build_model is None:
        from photoz.models.build import build_model
    models = {n: build_model(n) for n in ("mlp", "cnn", "hybrid")}
    fig = _new_figure(16.0, 6.4)
    axes = fig.subplots(1, 4, gridspec_kw={"width_ratios": [0.9, 1.0, 1.45, 1.65], "wspace": 0.04})
    for ax in axes:
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.axis("off")
    _draw_sequential(axes[0], models["mlp"], "MLP", NET_COLORS["mlp"])
    _draw_sequential(axes[1], models["cnn"], "CNN", NET_COLORS["cnn"])
    cnn_shapes = _record_shapes(models["cnn"])
    block = next((m for _, m in _leaves(models["cnn"]) if _is_parallel(m)), None)
    if block is not None:
        _draw_inception(axes[2], block, cnn_shapes, NET_COLORS["cnn"])
    else:
        axes[2].text(0.5, 0.5, "(no parallel block found in the CNN)", ha="center")
    _draw_hybrid(axes[3], models["hybrid"], "Hybrid", NET_COLORS["hybrid"])
    fig.subplots_adjust(left=0.01, right=0.99, top=0.92, bottom=0.02)
    return fig


