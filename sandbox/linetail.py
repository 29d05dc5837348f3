"""Following a JSONL file that another process appends to (``wsb watch`` reads run logs so)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson


class LineTail:
    """Follows a JSONL file that another process appends to, by byte offset.

    Attributes:
        path: The file (it may not exist yet).
        offset: Bytes consumed so far (complete lines, plus the buffered partial line).
        bad_lines: Complete lines that did not parse as a record (skipped).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.bad_lines = 0
        self._partial = b""
        self._inode: int | None = None

    def read(self) -> tuple[list[dict[str, Any]], bool]:
        """New complete records since the last read, and whether the file was replaced.

        When the file was replaced or truncated, reading starts over from its beginning and the
        second value is true (the caller must drop what it built from the old file).
        """
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return [], False
        restarted = False
        if self._inode is not None and (st.st_ino != self._inode or st.st_size < self.offset):
            self.offset, self._partial, restarted = 0, b"", True
        self._inode = st.st_ino
        if st.st_size <= self.offset:
            return [], restarted
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            data = fh.read(st.st_size - self.offset)
        self.offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()  # b"" after a complete line; else a line still being written
        records = []
        for line in lines:
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                self.bad_lines += 1
                continue
            if isinstance(record, dict) and "type" in record:
                records.append(record)
            else:
                self.bad_lines += 1
        return records, restarted
