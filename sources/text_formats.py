"""Text-level details of input files: encodings, CSV quoting problems, null markers, separators.

Produces the helpers `sources.extract` uses so that validation always sees plain
UTF-8 text and plain decimals:

- `resolve_encoding` / `is_utf8`: the configured codec, checked once.
- `survey_utf8`: one cheap pass over a UTF-8 file in 1 MiB chunks (memchr-speed
  byte counts): its quote count, whether it may hold decomposed (combining)
  accents, and a strict decode of the first chunk, where the header lives.
- `transcode_to_utf8`: decodes a file in another encoding chunk by chunk into a
  UTF-8 file, normalised to NFC (windows-1258 writes most Vietnamese tones as
  combining marks: "Hà Nội" must equal the precomposed UTF-8 text).
- `find_encoding_problem`, `diagnose_csv`: slower, error-path only scans that say
  where a file is broken (first undecodable byte, unbalanced quote, a record with
  more fields than the header).
- `null_marker_exprs`, `separator_exprs`: polars expressions turning configured
  null markers into nulls and "1.234,5" into "1234.5" in numeric columns.
"""

from __future__ import annotations

import codecs
import csv
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

CHUNK_BYTES = 1 << 20
QUOTE = '"'
UTF8_BOM = codecs.BOM_UTF8
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# Lead bytes of U+0300-U+036F (combining diacritical marks) in UTF-8: a file without them
# holds no decomposed Latin/Vietnamese accents and needs no NFC pass.
_COMBINING_LEAD_BYTES = (b"\xcc", b"\xcd")
_UTF8_NAMES = frozenset({"utf-8", "utf-8-sig"})
# Characters accepted as the configured thousands separator " ": space, no-break space,
# narrow no-break space (what spreadsheets and French/Vietnamese locales write).
_THOUSANDS_CLASS = {",": ",", ".": r"\.", "'": "'", " ": "[ \u00a0\u202f]"}
_DECIMAL_CLASS = {".": r"\.", ",": ","}


class EncodingProblem(ValueError):
    """A byte the configured codec cannot decode, with where it is."""

    def __init__(self, path: Path, offset: int, byte: bytes) -> None:
        self.path = path
        self.offset = offset
        self.byte = byte
        self.line = _line_at(path, offset)
        super().__init__(f"byte 0x{byte.hex().upper()} at line {self.line}, byte offset {offset}")


def resolve_encoding(name: str) -> str:
    """The codec's canonical Python name (`UTF8` → `utf-8`, `windows-1258` → `cp1258`).

    Raises:
        LookupError: no text codec has that name.
    """
    info = codecs.lookup(name)
    if not getattr(info, "_is_text_encoding", True):  # base64, rot13 …: not text encodings
        raise LookupError(name)
    return info.name


def is_utf8(codec: str) -> bool:
    """True for UTF-8 with or without a BOM, which polars reads directly."""
    return codec in _UTF8_NAMES


@dataclass(frozen=True)
class TextFacts:
    """What one pass over a file learned about it."""

    quotes: int
    maybe_decomposed: bool
    # A CR not followed by LF: classic Mac line endings, which polars does not split on.
    lone_carriage_returns: bool = False

    @property
    def unbalanced_quotes(self) -> bool:
        """An odd number of quote characters: some quoted value never closes."""
        return self.quotes % 2 == 1


def survey_utf8(path: Path) -> TextFacts:
    """Count quotes and look for combining marks in a UTF-8 file; strictly decode its start.

    The whole file is read once in chunks, but only byte searches run over it
    (no decoding), so it costs about as much as reading the file. Invalid bytes
    after the first chunk are found by polars when the rows are parsed.

    Raises:
        EncodingProblem: the first chunk (the header and first rows) is not UTF-8.
    """
    quotes = 0
    decomposed = False
    carriage_returns = crlf = 0
    previous_ended_in_cr = False
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        first = handle.read(CHUNK_BYTES)
        try:
            decoder.decode(first, final=len(first) < CHUNK_BYTES)
        except UnicodeDecodeError as exc:
            raise EncodingProblem(path, exc.start, exc.object[exc.start : exc.start + 1]) from None
        chunk = first
        while chunk:
            quotes += chunk.count(b'"')
            decomposed = decomposed or any(lead in chunk for lead in _COMBINING_LEAD_BYTES)
            returns = chunk.count(b"\r")
            if returns or previous_ended_in_cr:  # most files have none: one search, not two
                carriage_returns += returns
                crlf += chunk.count(b"\r\n") + (previous_ended_in_cr and chunk.startswith(b"\n"))
            previous_ended_in_cr = chunk.endswith(b"\r")
            chunk = handle.read(CHUNK_BYTES)
    return TextFacts(
        quotes=quotes,
        maybe_decomposed=decomposed,
        lone_carriage_returns=carriage_returns > crlf,
    )


def find_encoding_problem(path: Path, codec: str) -> EncodingProblem | None:
    """The first byte of the file `codec` cannot decode, or None (error path: decodes it all)."""
    try:
        for _ in _decoded_chunks(path, codec):
            pass
    except EncodingProblem as problem:
        return problem
    return None


def transcode_to_utf8(path: Path, codec: str, target: Path) -> TextFacts:
    """Decode `path` from `codec` into the UTF-8 file `target`, normalised to NFC, chunk by
    chunk, with every line ending (CRLF, or a classic-Mac CR alone) written as LF.

    Raises:
        EncodingProblem: a byte `codec` cannot decode.
    """
    quotes = 0
    carry = ""
    first = True
    with target.open("w", encoding="utf-8", newline="") as out:
        for text in _decoded_chunks(path, codec):
            if first:
                text = text.removeprefix("\ufeff")  # a UTF-16/32 BOM
                first = False
            text = carry + text
            # Combining marks attach to the preceding starter: keep the last starter and its
            # marks back until the next chunk, so NFC never sees half a character.
            cut = len(text) - 1
            while cut > 0 and unicodedata.combining(text[cut]):
                cut -= 1
            if text[:cut].endswith("\r"):  # its LF may open the next chunk
                cut -= 1
            carry = text[cut:]
            complete = _lf_endings(unicodedata.normalize("NFC", text[:cut]))
            quotes += complete.count(QUOTE)
            out.write(complete)
        tail = _lf_endings(unicodedata.normalize("NFC", carry))
        quotes += tail.count(QUOTE)
        out.write(tail)
    return TextFacts(quotes=quotes, maybe_decomposed=False)


def _lf_endings(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decoded_chunks(path: Path, codec: str) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(codec)(errors="strict")
    offset = 0  # bytes of the file handed to the decoder before this chunk
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(CHUNK_BYTES)
            final = not chunk
            pending = len(decoder.getstate()[0])  # bytes of a character split across chunks
            try:
                text = decoder.decode(chunk, final)
            except UnicodeDecodeError as exc:
                bad = offset - pending + exc.start
                raise EncodingProblem(path, bad, exc.object[exc.start : exc.start + 1]) from None
            if text:
                yield text
            if final:
                return
            offset += len(chunk)


def _line_at(path: Path, offset: int) -> int:
    """1-based line of the byte at `offset` (counting LF bytes before it)."""
    newlines = 0
    remaining = offset
    with path.open("rb") as handle:
        while remaining > 0:
            chunk = handle.read(min(CHUNK_BYTES, remaining))
            if not chunk:
                break
            newlines += chunk.count(b"\n")
            remaining -= len(chunk)
    return newlines + 1


def diagnose_csv(path: Path, delimiter: str) -> str | None:
    """Where a UTF-8 CSV file's quoting or field count is broken, or None if no problem is found.

    Error path only: reads the whole file with Python's csv module (strict quoting),
    which is much slower than polars. The message follows the file name, e.g.
    "has an unbalanced quote: …" or "has 4 fields on line 3 but 3 in the header: …".
    """
    limit = csv.field_size_limit(2**31 - 1)  # a runaway quoted value can be the whole file
    width: int | None = None
    start = 1  # line on which the current record starts
    try:
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
            reader = csv.reader(handle, delimiter=delimiter, strict=True)
            try:
                for row in reader:
                    if width is None:
                        width = len(row)
                    elif len(row) > width:
                        return (
                            f"has {len(row)} fields on line {start} but {width} in the header: "
                            f"is a value containing {delimiter!r} not quoted?"
                        )
                    start = reader.line_num + 1
            except csv.Error as exc:
                if "unexpected end of data" in str(exc):
                    return (
                        f"has an unbalanced quote: the quoted value in the record starting on "
                        f'line {start} is never closed (a " inside a quoted value is written "")'
                    )
                return (
                    f"has an unbalanced quote in the record starting on line {start} ({exc}); "
                    f'a " inside a quoted value is written ""'
                )
    finally:
        csv.field_size_limit(limit)
    return _odd_quote_line(path)


def _odd_quote_line(path: Path) -> str | None:
    # Quotes inside an unquoted value ('1,x"y') pass Python's csv module but not polars.
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.count(b'"') % 2:
                return (
                    f"has an unbalanced quote on line {number}: quote the whole value and "
                    f'write a " inside it as ""'
                )
    return None


def null_marker_exprs(columns: list[str], markers: tuple[str, ...]) -> list[pl.Expr]:
    """Each column with cells equal (spaces stripped) to one of `markers` set to null."""
    wanted = sorted({marker.strip() for marker in markers} - {""})
    if not wanted:
        return []
    return [
        pl.when(pl.col(column).str.strip_chars().is_in(wanted))
        .then(pl.lit(None, dtype=pl.String))
        .otherwise(pl.col(column))
        .alias(column)
        for column in columns
    ]


NOT_IN_FORMAT = " (not in the configured number format)"


def separator_pattern(decimal: str, thousands: str) -> str:
    """Regex of a number written with these separators and strict 3-digit grouping."""
    point = _DECIMAL_CLASS[decimal]
    whole = "[0-9]+"
    if thousands:
        whole = rf"(?:[0-9]{{1,3}}(?:{_THOUSANDS_CLASS[thousands]}[0-9]{{3}})+|[0-9]+)"
    return rf"^[+-]?(?:{whole}(?:{point}[0-9]*)?|{point}[0-9]+)$"


def separator_exprs(columns: list[str], decimal: str, thousands: str) -> list[pl.Expr]:
    """Each column's numbers rewritten as plain decimals ("-1.234,50" → "-1234.50").

    Only values matching `separator_pattern` are rewritten; anything else is left as
    it is, so validation rejects it showing the original text. With the defaults
    ("." and no thousands separator) there is nothing to do and no expression.
    """
    if decimal == "." and not thousands:
        return []
    pattern = separator_pattern(decimal, thousands)
    exprs = []
    for column in columns:
        value = pl.col(column).str.strip_chars()
        plain = value
        if thousands:
            plain = plain.str.replace_all(_THOUSANDS_CLASS[thousands], "")
        if decimal != ".":
            plain = plain.str.replace(decimal, ".", literal=True)
        original = pl.col(column)
        if decimal == ",":
            # "12.5" is not a number in this format, but it is a valid dot-decimal that
            # validation would accept as 12.5: mark it so it is rejected, not misread.
            original = (
                pl.when(value.str.contains(".", literal=True))
                .then(value + pl.lit(NOT_IN_FORMAT))
                .otherwise(original)
            )
        exprs.append(
            pl.when(value.str.contains(pattern)).then(plain).otherwise(original).alias(column)
        )
    return exprs


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (its type's name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
