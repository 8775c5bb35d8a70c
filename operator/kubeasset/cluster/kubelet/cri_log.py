"""Container log files in the CRI format (``<RFC3339Nano> <stream> <P|F> <content>`` per line), as
containerd writes them under /var/log/pods, and the kubelet's selection of lines for a log request
(tailLines, sinceSeconds/sinceTime, timestamps, limitBytes, stream)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

#: containerd splits longer lines into partial (P) records of this size.
MAX_RECORD_BYTES = 16 * 1024


@dataclass(frozen=True)
class LogRecord:
    timestamp: str
    stream: str
    partial: bool
    content: bytes

    @property
    def time(self) -> datetime:
        return parse_timestamp(self.timestamp)


@dataclass(frozen=True)
class LogQuery:
    """The options of GET /containerLogs (and of `kubectl logs`)."""

    tail_lines: int | None = None
    since: datetime | None = None
    timestamps: bool = False
    limit_bytes: int | None = None
    stream: str | None = None  # "stdout", "stderr" or None for both


def now_timestamp() -> str:
    """The current time in RFC3339Nano, the CRI record's first field."""
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}000Z"


def format_record(timestamp: str, stream: str, content: bytes, *, partial: bool = False) -> bytes:
    """One log file line; ``content`` excludes the newline."""
    return b"%s %s %s %s\n" % (timestamp.encode(), stream.encode(), b"P" if partial else b"F", content)


def parse_record(line: bytes) -> LogRecord | None:
    """The record of one log file line, None for a line that is not one (a torn write)."""
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3 or parts[2] not in (b"P", b"F"):
        return None
    content = parts[3] if len(parts) == 4 else b""
    return LogRecord(parts[0].decode(), parts[1].decode(), parts[2] == b"P", content)


def parse_timestamp(text: str) -> datetime:
    # Python keeps microseconds: cut the nanosecond digits.
    head, _, fraction = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(fraction + '000000')[:6]}+00:00")


def split_records(stream: str, data: bytes) -> tuple[list[bytes], bytes]:
    """Split fresh output into log file lines; returns them and the unterminated remainder to keep."""
    lines: list[bytes] = []
    *complete, rest = data.split(b"\n")
    for content in complete:
        lines.extend(_records(stream, content, final=True))
    while len(rest) >= MAX_RECORD_BYTES:
        lines.append(format_record(now_timestamp(), stream, rest[:MAX_RECORD_BYTES], partial=True))
        rest = rest[MAX_RECORD_BYTES:]
    return lines, rest


def final_records(stream: str, rest: bytes) -> list[bytes]:
    """The log file lines for output left without a newline when the stream closed."""
    return list(_records(stream, rest, final=True)) if rest else []


def _records(stream: str, content: bytes, *, final: bool) -> Iterator[bytes]:
    stamp = now_timestamp()
    while len(content) > MAX_RECORD_BYTES:
        yield format_record(stamp, stream, content[:MAX_RECORD_BYTES], partial=True)
        content = content[MAX_RECORD_BYTES:]
    yield format_record(stamp, stream, content, partial=not final)


def render(records: Iterable[LogRecord], query: LogQuery) -> Iterator[bytes]:
    """The bytes the kubelet answers for ``records`` (already read from the file), in order."""
    selected = [r for r in records if wanted(r, query)]
    if query.tail_lines is not None:
        selected = _tail(selected, query.tail_lines)
    for record in selected:
        yield render_one(record, query)


def render_one(record: LogRecord, query: LogQuery) -> bytes:
    text = record.content if record.partial else record.content + b"\n"
    if query.timestamps:
        text = record.timestamp.encode() + b" " + text
    return text


def wanted(record: LogRecord, query: LogQuery) -> bool:
    if query.stream is not None and record.stream != query.stream:
        return False
    return query.since is None or record.time >= query.since


def _tail(records: list[LogRecord], lines: int) -> list[LogRecord]:
    """The records of the last ``lines`` full lines (a partial record belongs to the line it starts)."""
    if lines <= 0:
        return []
    ends = [index for index, record in enumerate(records) if not record.partial]
    if len(ends) <= lines:
        return records
    first = ends[-lines - 1] + 1
    return records[first:]
