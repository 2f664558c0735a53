/**
 * Graceful stops of the long-running commands (serve, worker): the exit code once SIGTERM or SIGINT has closed what runs: 0, or 3 when closing failed. A
 * second signal exits at once (130).
 */
export function stopOnSignals(close: () => Promise<void>, say: { stopping: string; failed: string }): Promise<number> {
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        process.stderr.write(`alias-audit: ${signal} again, exiting now\n`);
        process.exit(130);
      }
      stopping = true;
      process.stdout.write(`alias-audit: ${signal}: ${say.stopping}\n`);
      close().then(
        () => resolve(0),
        (err: unknown) => {
          process.stderr.write(`alias-audit: ${say.failed}: ${(err as Error).message}\n`);
          resolve(3);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
