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

/**
 * Control characters (line breaks, NUL, ESC…) escaped as \n, \u0000…: a damaged file's bytes quoted in an error
 * would otherwise split its one line or drive the terminal.
 */
export function escapeControl(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
}

/** A data file that is missing, truncated or not in the expected format. */
export class DataError extends TsdistillError {
  constructor(file: string, problem: string) {
    super(escapeControl(`${file}: ${problem}`));
    this.name = "DataError";
  }
}
