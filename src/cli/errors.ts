/**
 * Exit codes of `alias-audit` and the mapping of errors to them: 0 pass, 1 a threshold failed
 * (or early-stop says stop), 2 bad input or usage, 3 an internal failure (a bug or a runtime
 * crash, not the user's input).
 */
import { CommanderError } from 'commander';
import { DataIntegrityError, DataUnavailableError } from '../data/errors.js';
import { InvalidOptionError } from '../data/preprocess.js';
import { InvalidEarlyStop } from '../metrics/earlyStopping.js';
import { ModelError } from '../onnx/codec.js';

export const EXIT_PASS = 0;
export const EXIT_THRESHOLD = 1;
export const EXIT_BAD_INPUT = 2;
export const EXIT_INTERNAL = 3;

/** A mistake in how the command was called; its message says what to do instead. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * A failure outside this process that is neither the input's fault nor a bug of ours (a remote
 * service unreachable, or failing on its side): exit 3 with its own message.
 */
export class ExternalFailure extends Error {}

/** Errors that mean the user's input (files, options, data) is at fault, not the tool. */
function isBadInput(err: unknown): boolean {
  return (
    err instanceof UsageError ||
    err instanceof InvalidOptionError ||
    err instanceof ModelError ||
    err instanceof InvalidEarlyStop ||
    err instanceof DataUnavailableError ||
    err instanceof DataIntegrityError
  );
}

/**
 * The exit code for an error and what to print (null: commander has printed it already).
 * Internal errors say so, so that a user knows to report them rather than fix their input.
 */
export function classify(err: unknown): { code: number; message: string | null } {
  if (err instanceof CommanderError) {
    // Help and --version end with a CommanderError too (exit code 0); parse errors and the help
    // shown for a missing command are usage errors, for which commander's own exit code is 1.
    return { code: err.exitCode === 0 ? EXIT_PASS : EXIT_BAD_INPUT, message: null };
  }
  const message = err instanceof Error ? err.message : String(err);
  if (isBadInput(err)) return { code: EXIT_BAD_INPUT, message };
  if (err instanceof ExternalFailure) return { code: EXIT_INTERNAL, message };
  return { code: EXIT_INTERNAL, message: `internal error: ${message}` };
}

/**
 * Commander's error text as one line in this tool's voice: `error: unknown option '--sample'
 * \n(Did you mean --samples?)` becomes `unknown option '--sample' (did you mean --samples?)`.
 * Without a suggestion, `hint` (where to read the options) is appended.
 */
export function formatCommanderError(text: string, hint: string): string {
  const lines = text.trim().replace(/^error:\s*/, '').split('\n');
  const suggestion = lines.slice(1).join(' ').trim().replace(/^\(Did you mean/, '(did you mean');
  return `alias-audit: ${lines[0].replace(/\.$/, '')}${suggestion ? ` ${suggestion}` : ` (${hint})`}`;
}

/**
 * The gist of a provider's failure for one line: its first line, without the runtime's
 * function-name prefix (`OrtSessionOptionsAppendExecutionProvider_Cuda: `) and without a
 * trailing parenthesised detail, cut at `max` characters. The report keeps the whole text.
 */
export function shortReason(error: string, max = 80): string {
  let gist = (error.split('\n')[0] ?? '').trim().replace(/^[A-Za-z_]\w*:\s+(?=\S)/, '');
  const detail = gist.search(/\s\(.*\)\.?$/);
  if (detail >= 20) gist = gist.slice(0, detail);
  return gist.length > max ? `${gist.slice(0, max - 3).trimEnd()}...` : gist;
}
