/** Runs the built CLI (dist/cli/main.js) as a user does, for the tests in test/cli. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const cliPath = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** A committed model or checkpoint, `name` relative to models/. */
export function modelPath(name: string): string {
  return fileURLToPath(new URL(`../../models/${name}`, import.meta.url));
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliPath, ...args], { maxBuffer: 64 << 20, env }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 99) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The CLI's own lines on stderr (the runtime may add its own). */
export function cliLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('alias-audit:'));
}

/**
 * The options in a help text: long flag (e.g. `--samples`) to its description, line wrapping
 * undone. An entry starts with `  -`; its wrapped lines are indented further.
 */
export function helpOptions(help: string): Map<string, string> {
  const entries = new Map<string, string>();
  let current: string | undefined;
  for (const line of help.split('\n')) {
    const start = /^ {2}(?:-\w, )?(--[\w-]+)(?: <[^>]+>)?\s+(.*)$/.exec(line);
    if (start) {
      current = start[1]!;
      entries.set(current, start[2].trim());
    } else if (current !== undefined && /^ {4,}\S/.test(line)) {
      entries.set(current, `${entries.get(current)} ${line.trim()}`);
    } else {
      current = undefined;
    }
  }
  return entries;
}
