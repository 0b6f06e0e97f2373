/**
 * A start-up failure the operator can fix: its message is one line that names
 * the variable (or the setting) and what to do. Entry points print it alone,
 * without a stack, and exit non-zero.
 */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}
