/** Errors shared by the runtime programs. */

/**
 * An error that retrying cannot fix: a person has to change something (a certificate path, a
 * warehouse directory, a grant). Long-running programs end with exit 2 and its message, which
 * names the problem and the fix. `kind` labels it in metrics.
 */
export class PermanentError extends Error {
  constructor(
    readonly kind: string,
    message: string,
  ) {
    super(message);
    this.name = "PermanentError";
  }
}
