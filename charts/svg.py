"""Geometry for small SVG charts, computed here so templates only place shapes. Pure functions."""

from dataclasses import dataclass

WIDTH, HEIGHT, PAD = 640, 160, 24
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
class AxisTick:
    position: float  # y for the value axis, x for the label axis
    label: str


@dataclass(frozen=True)
class SeriesPoint:
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
    y_ticks: tuple[AxisTick, ...] = ()
    x_ticks: tuple[AxisTick, ...] = ()
    points: tuple[SeriesPoint, ...] = ()  # a line's points, drawn as dots too (a single point has no line)
    rows: tuple[tuple[str, float], ...] = ()  # the series itself, for the table that stands in for the picture

    @property
    def baseline(self) -> int:
        return self.height - BOTTOM

    @property
    def left(self) -> int:
        return LEFT


def _value_y(value: float, maximum: float) -> float:
    return round(HEIGHT - BOTTOM - (value / maximum) * (HEIGHT - BOTTOM - PAD), 1)


def _y_ticks(maximum: float) -> tuple[AxisTick, ...]:
    """0, half and the maximum, labelled without needless decimals."""
    return tuple(
        AxisTick(_value_y(v, maximum), f"{v:g}" if v != int(v) else f"{int(v)}") for v in (0, maximum / 2, maximum)
    )


def _x_ticks(xs: list[float], labels: list[str]) -> tuple[AxisTick, ...]:
    """The first, middle and last labels (times or names): enough to read the axis, never overlapping."""
    if not labels:
        return ()
    picks = sorted({0, len(labels) // 2, len(labels) - 1})
    return tuple(AxisTick(xs[i], labels[i]) for i in picks)


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
        SeriesPoint(round(LEFT + index * step, 1), _value_y(value, maximum), label, value)
        for index, (label, value) in enumerate(series)
    )
    return Chart(
        bars=[], line=" ".join(f"{p.x},{p.y}" for p in points), maximum=maximum, unit=unit,
        y_ticks=_y_ticks(maximum), x_ticks=_x_ticks([p.x for p in points], [p.label for p in points]),
        points=points, rows=tuple(series),
    )  # fmt: skip


# ---- model monitoring charts: fixed 0-1 scales, since they show rates and probabilities -------------


@dataclass(frozen=True)
class Line:
    name: str
    css: str  # a class from app.css: series-1, series-2, series-3
    segments: list[str]  # polyline point strings; a gap where a value is undefined


@dataclass(frozen=True)
class Tick:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class LinesChart:
    lines: list[Line]
    ticks: list[Tick]  # x-axis labels
    gridlines: list[Tick]  # y = 0.25, 0.5, 0.75, 1 with their labels
    width: int = WIDTH
    height: int = HEIGHT
    pad: int = PAD

    @property
    def baseline(self) -> int:
        return self.height - self.pad

    @property
    def empty(self) -> bool:
        return not any(line.segments for line in self.lines)


def _y(value: float, height: int = HEIGHT, pad: int = PAD) -> float:
    return round(height - pad - min(max(value, 0.0), 1.0) * (height - 2 * pad), 1)


def rate_lines_chart(labels: list[str], series: list[tuple[str, list[float | None]]], *, every: int = 7) -> LinesChart:
    """One line per ``(name, values)`` over the shared x ``labels``, on a 0-1 scale; None leaves a gap."""
    step = (WIDTH - 2 * PAD) / max(len(labels) - 1, 1)
    lines = []
    for index, (name, values) in enumerate(series):
        segments, current = [], []
        for position, value in enumerate(values):
            if value is None:
                if current:
                    segments.append(current)
                current = []
                continue
            current.append(f"{round(PAD + position * step, 1)},{_y(value)}")
        if current:
            segments.append(current)
        # A single point draws nothing as a polyline; doubling it makes a visible dot with round caps.
        lines.append(
            Line(name, f"series-{index + 1}", [" ".join(seg if len(seg) > 1 else seg * 2) for seg in segments])
        )
    ticks = [Tick(round(PAD + i * step, 1), HEIGHT - 6, label) for i, label in enumerate(labels) if i % every == 0]
    grid = [Tick(PAD, _y(v), f"{v:g}") for v in (0.25, 0.5, 0.75, 1.0)]
    return LinesChart(lines=lines, ticks=ticks, gridlines=grid)


@dataclass(frozen=True)
class Point:
    cx: float
    cy: float
    r: float
    label: str


@dataclass(frozen=True)
class ReliabilityChart:
    """Predicted probability (x) against observed rate (y); perfect calibration is the diagonal."""

    points: list[Point]
    line: str
    diagonal: tuple[float, float, float, float]
    size: int = 240
    pad: int = PAD

    @property
    def baseline(self) -> int:
        return self.size - self.pad


def reliability_chart(bins: list[dict]) -> ReliabilityChart:
    """From calibration bins (``mean_predicted``, ``observed_rate``, ``count``); dot area grows with count."""
    size, pad = 240, PAD
    span = size - 2 * pad
    most = max((b["count"] for b in bins), default=0) or 1
    points = [
        Point(
            cx=round(pad + b["mean_predicted"] * span, 1),
            cy=round(size - pad - b["observed_rate"] * span, 1),
            r=round(2 + 5 * (b["count"] / most) ** 0.5, 1),
            label=f"{b['low']:.1f}-{b['high']:.1f}: predicted {b['mean_predicted']:.2f}, "
            f"observed {b['observed_rate']:.2f} ({b['count']} labels)",
        )
        for b in bins
        if b["count"]
    ]
    line = " ".join(f"{p.cx},{p.cy}" for p in points)
    return ReliabilityChart(points=points, line=line, diagonal=(pad, size - pad, size - pad, pad))


@dataclass(frozen=True)
class PairedBars:
    """Two histograms over the same bins, as side-by-side bars of each bin's share."""

    reference: list[Bar]
    live: list[Bar]
    width: int = WIDTH
    height: int = HEIGHT
    pad: int = PAD

    @property
    def baseline(self) -> int:
        return self.height - self.pad


def paired_histogram(reference: list[int], live: list[int]) -> PairedBars:
    bins = max(len(reference), len(live), 1)
    shares = [[c / (sum(counts) or 1) for c in counts] for counts in (reference, live)]
    maximum = max((v for row in shares for v in row), default=0) or 1
    slot = (WIDTH - 2 * PAD) / bins
    sides = []
    for side, row in enumerate(shares):
        sides.append(
            [
                Bar(
                    x=round(PAD + i * slot + slot * (0.1 + 0.4 * side), 1),
                    y=round(HEIGHT - PAD - (v / maximum) * (HEIGHT - 2 * PAD), 1),
                    width=round(slot * 0.38, 1),
                    height=round((v / maximum) * (HEIGHT - 2 * PAD), 1),
                    label=f"{i / bins:.1f}-{(i + 1) / bins:.1f}",
                    value=round(v * 100, 1),
                )
                for i, v in enumerate(row)
            ]
        )
    return PairedBars(reference=sides[0], live=sides[1])
