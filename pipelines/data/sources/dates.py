"""A generated sequence-to-sequence source: dates in many human formats -> ISO 8601.

``dates`` draws seeded random days between 1950 and 2049 and writes each in
one of ``FORMATS`` ("3 March 2021", "03/03/21", "Wednesday, March 3, 2021",
"2021 Mar 3", ...); the target is the ISO date "2021-03-03". Solving it means
finding the day, month and year wherever each format puts them (and reading
month names), which a fixed-size summary of the input does poorly and
attention does well. Nothing is downloaded; the same seed gives the same data.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from ..types import DataInfo, Dataset, register_source

DATES_SEED = 1234
DATES_COUNT = 12_000
FIRST_DAY = dt.date(1950, 1, 1)
DAYS = (dt.date(2049, 12, 31) - FIRST_DAY).days + 1

FORMATS: tuple[str, ...] = (
    "{d} {B} {Y}",  # 3 March 2021
    "{dd} {B} {Y}",  # 03 March 2021
    "{d} {b} {Y}",  # 3 Mar 2021
    "{B} {d}, {Y}",  # March 3, 2021
    "{b} {d}, {Y}",  # Mar 3, 2021
    "{A}, {B} {d}, {Y}",  # Wednesday, March 3, 2021
    "{a}, {d} {b} {Y}",  # Wed, 3 Mar 2021
    "{A} {d} {B} {Y}",  # Wednesday 3 March 2021
    "{Y} {b} {d}",  # 2021 Mar 3
    "{Y} {B} {dd}",  # 2021 March 03
    "{dd}/{mm}/{yy}",  # 03/03/21 (day first)
    "{dd}/{mm}/{Y}",  # 03/03/2021
    "{dd}.{mm}.{Y}",  # 03.03.2021
    "{d}.{m}.{Y}",  # 3.3.2021
    "{Y}/{mm}/{dd}",  # 2021/03/03
    "{Y}.{mm}.{dd}",  # 2021.03.03
    "{d} {b} {yy}",  # 3 Mar 21
    "{b} {d} {Y}",  # Mar 3 2021
    "{B} {Y}, {d}",  # March 2021, 3
    "{d}-{b}-{Y}",  # 3-Mar-2021
    "{dd}{b}{Y}",  # 03Mar2021
    "{d}th of {B} {Y}",  # 3th of March 2021 (as people type it)
    "{BB} {d} {Y}",  # MARCH 3 2021
    "{bl} {d} {Y}",  # mar 3 2021
)
"""Day-first for numeric day/month formats (no ambiguity with month-first)."""
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")  # fmt: skip
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
"""English names, whatever the process locale (``strftime`` would follow it)."""


def format_date(day: dt.date, pattern: str) -> str:
    """``day`` written in ``pattern`` (one of ``FORMATS``)."""
    return pattern.format(
        d=day.day,
        dd=f"{day.day:02d}",
        m=day.month,
        mm=f"{day.month:02d}",
        Y=day.year,
        yy=f"{day.year % 100:02d}",
        B=MONTHS[day.month - 1],
        BB=MONTHS[day.month - 1].upper(),
        b=MONTHS[day.month - 1][:3],
        bl=MONTHS[day.month - 1][:3].lower(),
        A=WEEKDAYS[day.weekday()],
        a=WEEKDAYS[day.weekday()][:3],
    )


def generate_dates(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` seeded (human date, ISO date) pairs, as two arrays of Python strings.

    Two-digit years are read as 1950-2049, the range the days are drawn from,
    so every input names exactly one date.
    """
    rng = np.random.default_rng(seed)
    offsets = rng.integers(0, DAYS, size=count)
    styles = rng.integers(0, len(FORMATS), size=count)
    days = [FIRST_DAY + dt.timedelta(days=int(o)) for o in offsets]
    x = np.array([format_date(d, FORMATS[s]) for d, s in zip(days, styles, strict=True)], object)
    y = np.array([d.isoformat() for d in days], dtype=object)
    return x, y


@register_source(inputs="text", targets="text")
def dates() -> Dataset:
    """12,000 generated dates in 24 human formats; targets are ISO 8601 dates (seeded)."""
    x, y = generate_dates(DATES_COUNT, DATES_SEED)
    return Dataset(x, y, DataInfo("dates", "text", "text"))
