"""Process exit codes of the `ganspec` command, in one place.

Which one a command returns is decided by `ganspec.report.report.decide_exit_code`, from the
diagnostics the command reported (and, for `run`, how training ended)."""

OK = 0
WARNINGS_STRICT = 1  # validate --strict found warnings
DIFFERENT = 1  # diff: the specs differ; fmt --check: a file would change
INVALID = 2  # a spec has errors
DIVERGED = 3  # run: a loss became NaN/Inf; the last good checkpoint is kept
UNREADABLE = 4  # a file could not be read
INTERRUPTED = 130  # Ctrl-C
INTERNAL_ERROR = 123
