"""The CRI log format: what the shim writes (shimlog) and what read_log gives back."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from pocketkube.runtime.process.logs import parse_record, read_log
from pocketkube.runtime.process.shim import encode
from pocketkube.runtime.process.shimlog import LogWriter, Timestamps, records, rotated_files

STAMP = "2016-10-06T00:17:09.669794202Z"


def test_timestamps_are_rfc3339_utc_with_nanoseconds() -> None:
    stamps = Timestamps()
    assert stamps.format(1475713029_669794202) == STAMP
    assert stamps.format(1475713029_000000005) == "2016-10-06T00:17:09.000000005Z"
    assert stamps.format(1475713030_000000000) == "2016-10-06T00:17:10.000000000Z"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"a\n", [b"F a"]),
        (b"a\nb\n", [b"F a", b"F b"]),
        (b"a\nbc", [b"F a", b"P bc"]),
        (b"partial", [b"P partial"]),
        (b"\n", [b"F "]),
        (b"", []),
    ],
)
def test_records_of_a_chunk(data: bytes, expected: list[bytes]) -> None:
    got = records("stdout", data, STAMP)
    assert got == [f"{STAMP} stdout ".encode() + e + b"\n" for e in expected]


def test_read_log_joins_partial_records_per_stream(tmp_path: Path) -> None:
    log = tmp_path / "0.log"
    log.write_bytes(
        f"{STAMP} stdout P hel\n"
        f"{STAMP} stderr F oops\n"
        f"{STAMP} stdout F lo world\n"
        f"{STAMP} stdout F \n"
        "garbage\n"
        f"{STAMP} stderr P unfinished\n".encode()
    )
    assert read_log(log) == [
        ("stderr", "oops"),
        ("stdout", "hello world"),
        ("stdout", ""),
        ("stderr", "unfinished"),
    ]
    assert read_log(tmp_path / "missing.log") == []


def test_parse_record() -> None:
    record = parse_record(f"{STAMP} stdout F a b  c".encode())
    assert record is not None
    assert (record.stream, record.partial, record.content) == ("stdout", False, b"a b  c")
    assert parse_record(b"nonsense") is None
    assert parse_record(f"{STAMP} stdin F x".encode()) is None


def test_writer_round_trip(tmp_path: Path) -> None:
    writer = LogWriter(str(tmp_path / "c" / "0.log"))
    writer.write("stdout", b"one\ntw")
    writer.write("stderr", b"err\n")
    writer.write("stdout", b"o\n")
    writer.close()
    assert read_log(tmp_path / "c" / "0.log") == [
        ("stdout", "one"),
        ("stderr", "err"),
        ("stdout", "two"),
    ]
    line = (tmp_path / "c" / "0.log").read_text().splitlines()[0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z stdout F one", line)


def test_rotation_keeps_max_files(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    writer = LogWriter(str(path), max_size=200, max_files=3)
    for i in range(40):
        writer.write("stdout", f"line {i:03d}\n".encode())
    writer.close()
    rotated = rotated_files(str(path))
    assert len(rotated) == 2  # plus the live file: 3
    for name in [*rotated, str(path)]:
        assert os.path.getsize(name) <= 200
    lines = [line for name in [*rotated, str(path)] for _, line in read_log(name)]
    assert lines[-1] == "line 039"
    assert lines == sorted(lines)  # oldest first, nothing out of order
    assert all(re.search(r"0\.log\.\d{8}-\d{6}(\.\d+)?$", name) for name in rotated)


def test_rotation_disabled_with_zero_size(tmp_path: Path) -> None:
    writer = LogWriter(str(tmp_path / "0.log"), max_size=0)
    writer.write("stdout", b"x\n" * 1000)
    writer.close()
    assert rotated_files(str(tmp_path / "0.log")) == []


@pytest.mark.parametrize(
    "record",
    [
        {"pid": 1, "start_ticks": 2},
        {"error": 'exec: "foo": executable file not found in $PATH'},
        {"error": "back\\slash\nnew line\ttab \x01 é"},
    ],
)
def test_shim_records_are_json(record: dict[str, object]) -> None:
    assert json.loads(encode(record)) == record
