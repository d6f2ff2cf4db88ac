"""Go duration text, as time.ParseDuration reads it (unsigned)."""

from __future__ import annotations

import pytest

from pocketkube.api.goduration import duration_seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("300ms", 0.3),
        ("2m3.5s", 123.5),
        ("10us", 1e-5),
        ("10µs", 1e-5),
        ("7ns", 7e-9),
        (".5m", 30.0),
        ("8760h", 8760 * 3600.0),
        ("0", 0.0),
        ("0s", 0.0),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert duration_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "00", "1x", "h", "1h 30m", "-1s", "1h30", " 1s"])
def test_not_durations(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        duration_seconds(text)
