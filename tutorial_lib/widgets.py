"""Interactive figures that also work where no widget frontend runs.

In JupyterLab, Jupyter Notebook, Colab or VS Code :func:`interactive_figure` shows ipywidgets
sliders and redraws the figure as you move them. Executed anywhere else — papermill, nbval, CI,
smoke mode, or with ``TUTORIAL_HEADLESS=1`` — the same call draws one static figure over a few
values of each slider instead, so a notebook never hangs or errors for want of a browser
(see :func:`tutorial_lib.runtime.headless`).

    def draw(fig, theta):                      # draw into the (sub)figure you are given
        ax = fig.add_subplot()
        ax.plot(...)

    widgets.interactive_figure(draw, theta=(-2.0, 2.0, 0.1, 0.5))   # (min, max, step, start)
"""
from __future__ import annotations

from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np

from tutorial_lib import runtime

SliderSpec = tuple  # (min, max, step, start)


def _is_int(spec: SliderSpec) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in spec)


def _check(name: str, spec: SliderSpec) -> None:
    if len(spec) != 4:
        raise ValueError(f"slider {name!r} must be (min, max, step, start), got {spec!r}")
    lo, hi, step, start = spec
    if not lo < hi or not step > 0 or not lo <= start <= hi:
        raise ValueError(f"slider {name!r}: need min < max, step > 0 and min <= start <= max, got {spec!r}")


def static_values(spec: SliderSpec, n: int = 3) -> list:
    """``n`` evenly spaced values across a slider's range (for the headless figure)."""
    lo, hi, _, _ = spec
    values = np.linspace(lo, hi, n)
    return [int(round(v)) for v in values] if _is_int(spec) else [float(v) for v in values]


def interactive_figure(draw: Callable[..., None], *, static: dict[str, Sequence] | None = None,
                       panel_size: tuple[float, float] = (4.0, 3.0), **sliders: SliderSpec):
    """Sliders in a live notebook; a static grid of panels when headless.

    ``draw(fig, **values)`` draws into ``fig`` (a Figure or SubFigure). Headless, each row
    varies one slider over ``static[name]`` (default: min, middle, max) with the others at
    their start values. Returns the ipywidgets object, or the static Figure.
    """
    if not sliders:
        raise ValueError("interactive_figure needs at least one slider")
    for name, spec in sliders.items():
        _check(name, spec)
    static = dict(static or {})
    if runtime.headless() or not _widgets_available():
        return _static_grid(draw, sliders, static, panel_size)
    return _live(draw, sliders, panel_size)


def _widgets_available() -> bool:
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None


def _static_grid(draw, sliders, static, panel_size):
    starts = {name: spec[3] for name, spec in sliders.items()}
    rows = [(name, list(static.get(name, static_values(spec)))) for name, spec in sliders.items()]
    ncols = max(len(values) for _, values in rows)
    fig = plt.figure(figsize=(panel_size[0] * ncols, panel_size[1] * len(rows)), layout="constrained")
    subfigs = fig.subfigures(len(rows), ncols, squeeze=False)
    for r, (name, values) in enumerate(rows):
        for c in range(ncols):
            sub = subfigs[r][c]
            if c >= len(values):
                continue
            chosen = {**starts, name: values[c]}
            draw(sub, **chosen)
            label = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in chosen.items())
            sub.suptitle(label, fontsize=8)
    plt.show()
    return fig


def _live(draw, sliders, panel_size):
    import ipywidgets
    from IPython.display import display

    controls = {}
    for name, (lo, hi, step, start) in sliders.items():
        cls = ipywidgets.IntSlider if _is_int((lo, hi, step, start)) else ipywidgets.FloatSlider
        controls[name] = cls(min=lo, max=hi, step=step, value=start, description=name,
                             continuous_update=False)

    def update(**values):
        fig = plt.figure(figsize=panel_size, layout="constrained")
        draw(fig, **values)
        plt.show()

    panel = ipywidgets.interactive(update, **controls)
    display(panel)
    return panel
