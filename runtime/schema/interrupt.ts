/**
 * SIGINT / SIGTERM for commands that must clean up on the database before they exit (a branch
 * create closes the parent; a check owns a branch): the first signal aborts an AbortController the
 * command's work listens to, a second one exits at once (the next floe branch command repairs what
 * is left). The exit code is 128 + the signal's number, as a shell reports a process killed by it.
 */
export interface SignalStop {
  signal: AbortSignal;
  /** 130 after SIGINT, 143 after SIGTERM. */
  exitCode(): number;
  /** Removes the handlers (the default actions apply again). */
  dispose(): void;
}

export function onSignals(command: string): SignalStop {
  const ac = new AbortController();
  let received: NodeJS.Signals | undefined;
  const code = (sig?: NodeJS.Signals) => (sig === "SIGINT" ? 130 : 143);
  const handler = (sig: NodeJS.Signals) => {
    if (received) {
      process.stderr.write(`${command}: ${sig} again, exiting now; the next floe branch command (create, list or delete) repairs what is left\n`);
      process.exit(code(sig));
    }
    received = sig;
    process.stderr.write(`${command}: ${sig}: stopping and cleaning up (send it again to exit at once)\n`);
    ac.abort(new Error(sig));
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return {
    signal: ac.signal,
    exitCode: () => code(received),
    dispose: () => {
      process.off("SIGINT", handler);
      process.off("SIGTERM", handler);
    },
  };
}
