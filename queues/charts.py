"""Geometry for small SVG charts, computed here so templates only place shapes. Pure functions."""

from dataclasses import dataclass

WIDTH, HEIGHT, PAD = 640, 160, 24


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: float


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    line: str  # SVG polyline points, for series drawn as a line
    maximum: float
    width: int = WIDTH
    height: int = HEIGHT
    pad: int = PAD

    @property
    def baseline(self) -> int:
        return self.height - self.pad


def bar_chart(series: list[tuple[str, float]]) -> Chart:
    """Bars for ``(label, value)`` pairs scaled to the tallest value."""
    maximum = max((value for _, value in series), default=0) or 1
    slot = (WIDTH - 2 * PAD) / max(len(series), 1)
    bars = [
        Bar(
            x=round(PAD + index * slot + slot * 0.1, 1),
            y=round(HEIGHT - PAD - (value / maximum) * (HEIGHT - 2 * PAD), 1),
            width=round(slot * 0.8, 1),
            height=round((value / maximum) * (HEIGHT - 2 * PAD), 1),
            label=label,
            value=value,
        )
        for index, (label, value) in enumerate(series)
    ]
    return Chart(bars=bars, line="", maximum=maximum)


def line_chart(series: list[tuple[str, float]]) -> Chart:
    """A polyline for ``(label, value)`` pairs scaled to the tallest value."""
    maximum = max((value for _, value in series), default=0) or 1
    step = (WIDTH - 2 * PAD) / max(len(series) - 1, 1)
    points = " ".join(
        f"{round(PAD + index * step, 1)},{round(HEIGHT - PAD - (value / maximum) * (HEIGHT - 2 * PAD), 1)}"
        for index, (_, value) in enumerate(series)
    )
    return Chart(bars=[], line=points, maximum=maximum)
