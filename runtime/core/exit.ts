/**
 * Ending a CLI process without losing its output. On Linux, Node writes to a pipe asynchronously:
 * what the pipe does not take at once is queued, and process.exit() drops the queue. A reader that
 * drains slowly (a loaded machine, a parent in execFileSync) then gets a cut document, as a 10k-row
 * `floe query --json` did in the e2e upgrade test ("Unterminated string in JSON at position 146176").
 */

/** Exits with `code` once stdout and stderr have handed everything queued to the OS. */
export function exitWhenFlushed(code: number): void {
  process.exitCode = code;
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  // a write's callback runs after every write queued before it (or with the stream's error)
  process.stdout.write("", done);
  process.stderr.write("", done);
}
