"""The bounds on what one input file may hold, checked as it is read (README, "Bad input").

Generous for real conversations, they keep one hostile or broken file from taking hours or all
memory: analysis time grows faster than linearly with a turn's length and a conversation's turns.
A conversation over a bound is reported as `file:line: reason` and skipped, never truncated.
"""

MAX_TURN_CHARS = 20_000  # characters in one turn's text
MAX_TURNS = 2_000  # turns in one conversation
MAX_CONVERSATION_CHARS = 200_000  # characters of all its turns (a long complaint thread holds some 10,000)
MAX_LINE_CHARS = 10_000_000  # characters in one JSON Lines line, CSV cell or XLSX cell
MAX_ROW_CELLS = 100_000  # cells in one CSV line (exports hold tens; a long text's commas, thousands)
FIRST_YEAR, LAST_YEAR = 1900, 2999  # of `started_at`: dates near year 1 or 9999 overflow in time zone arithmetic
MAX_XLSX_UNPACKED = 256 << 20  # bytes a workbook may unpack to: a few hundred KB of zip can unpack to gigabytes
MAX_FILE_BYTES = 1 << 30  # bytes of one input file, read whole (a bigger export is split into several files)
MAX_NESTING = 64  # levels of arrays and objects in one conversation, `meta` included: deeper ones overflowed the stack
MAX_ERRORS_BEFORE_ANY = 1_000  # problems a file may report before its first conversation; past them it is not read on
