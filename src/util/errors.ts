/**
 * An error meant for the user: its message is one line naming what was wrong (file, field, option) and what
 * was expected. The CLI prints it as-is and exits non-zero; anything else is treated as a bug.
 */
export class TsdistillError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "TsdistillError";
  }
}

/** Bad command-line usage (exit code 2). */
export class UsageError extends TsdistillError {
  constructor(message: string) {
    super(message, 2);
    this.name = "UsageError";
  }
}

/** A data file that is missing, truncated or not in the expected format. */
export class DataError extends TsdistillError {
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = "DataError";
  }
}
