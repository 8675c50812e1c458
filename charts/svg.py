"""Geometry for small SVG charts, computed here so templates only place shapes. Pure functions."""

from dataclasses import dataclass

WIDTH, HEIGHT, PAD = 640, 180, 24
# Room on the left for the value axis's labels, and below for the time (or category) labels.
LEFT, BOTTOM = 44, 30


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: float


@dataclass(frozen=True)
class Tick:
    position: float  # y for the value axis, x for the label axis
    label: str


@dataclass(frozen=True)
class Point:
    x: float
    y: float
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
    unit: str = ""  # what the values count, shown on the value axis ("items", "decisions per hour")
    y_ticks: tuple[Tick, ...] = ()
    x_ticks: tuple[Tick, ...] = ()
    points: tuple[Point, ...] = ()  # a line's points, drawn as dots too (a single point has no line)
    rows: tuple[tuple[str, float], ...] = ()  # the series itself, for the table that stands in for the picture

    @property
    def baseline(self) -> int:
        return self.height - BOTTOM

    @property
    def left(self) -> int:
        return LEFT


def _value_y(value: float, maximum: float) -> float:
    return round(HEIGHT - BOTTOM - (value / maximum) * (HEIGHT - BOTTOM - PAD), 1)


def _y_ticks(maximum: float) -> tuple[Tick, ...]:
    """0, half and the maximum, labelled without needless decimals."""
    return tuple(
        Tick(_value_y(v, maximum), f"{v:g}" if v != int(v) else f"{int(v)}") for v in (0, maximum / 2, maximum)
    )


def _x_ticks(xs: list[float], labels: list[str]) -> tuple[Tick, ...]:
    """The first, middle and last labels (times or names): enough to read the axis, never overlapping."""
    if not labels:
        return ()
    picks = sorted({0, len(labels) // 2, len(labels) - 1})
    return tuple(Tick(xs[i], labels[i]) for i in picks)


def bar_chart(series: list[tuple[str, float]], *, maximum: float | None = None, unit: str = "") -> Chart:
    """Bars for ``(label, value)`` pairs scaled to the tallest value, or to a fixed ``maximum``."""
    maximum = maximum or max((value for _, value in series), default=0) or 1
    slot = (WIDTH - LEFT - PAD) / max(len(series), 1)
    bars = [
        Bar(
            x=round(LEFT + index * slot + slot * 0.1, 1),
            y=_value_y(value, maximum),
            width=round(slot * 0.8, 1),
            height=round(HEIGHT - BOTTOM - _value_y(value, maximum), 1),
            label=label,
            value=value,
        )
        for index, (label, value) in enumerate(series)
    ]
    return Chart(
        bars=bars, line="", maximum=maximum, unit=unit, y_ticks=_y_ticks(maximum),
        x_ticks=_x_ticks([round(b.x + b.width / 2, 1) for b in bars], [b.label for b in bars]), rows=tuple(series),
    )  # fmt: skip


def line_chart(series: list[tuple[str, float]], *, unit: str = "") -> Chart:
    """A polyline for ``(label, value)`` pairs scaled to the tallest value."""
    maximum = max((value for _, value in series), default=0) or 1
    step = (WIDTH - LEFT - PAD) / max(len(series) - 1, 1)
    points = tuple(
        Point(round(LEFT + index * step, 1), _value_y(value, maximum), label, value)
        for index, (label, value) in enumerate(series)
    )
    return Chart(
        bars=[], line=" ".join(f"{p.x},{p.y}" for p in points), maximum=maximum, unit=unit,
        y_ticks=_y_ticks(maximum), x_ticks=_x_ticks([p.x for p in points], [p.label for p in points]),
        points=points, rows=tuple(series),
    )  # fmt: skip
