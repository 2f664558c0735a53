/**
 * The files named on the command line, checked before any work starts, so that a typo in a path
 * is a usage error (exit 2) with what to do, not a failure halfway through a run.
 */
import { access, readdir, readFile, stat } from 'node:fs/promises';
import { constants } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UsageError } from './errors.js';

function why(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'it is a folder, not a file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return code ?? (err as Error).message;
}

/** The bytes of a model file named by the user. */
export async function readModelFile(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${why(err)}; give the path of an .onnx model file`);
  }
}

/** Fails early when an output file (`--out`, `--html`) cannot be written, before the audit runs. */
export async function checkWritable(option: string, path: string): Promise<void> {
  const folder = dirname(resolve(path));
  const s = await stat(folder).catch(() => undefined);
  if (!s?.isDirectory()) throw new UsageError(`cannot write ${option} ${path}: the folder ${folder} does not exist; create it or choose another path`);
  if ((await stat(path).catch(() => undefined))?.isDirectory()) throw new UsageError(`cannot write ${option} ${path}: it is a folder; give a file name`);
  await access(folder, constants.W_OK).catch(() => {
    throw new UsageError(`cannot write ${option} ${path}: the folder ${folder} is not writable; choose another path`);
  });
}

const CHECKPOINTS_HINT = 'give the checkpoints of two or more epochs in order, or one folder of them';

/**
 * The checkpoint files of `early-stop`, in epoch order. Paths that do not exist, an empty folder
 * and a single checkpoint are usage errors: the rule compares epochs.
 */
export async function checkpointArguments(paths: string[]): Promise<string[]> {
  for (const path of paths) {
    const s = await stat(path).catch(() => undefined);
    if (!s) throw new UsageError(`${path} does not exist: ${CHECKPOINTS_HINT}`);
    if (s.isDirectory() && paths.length > 1) throw new UsageError(`${path} is a folder: ${CHECKPOINTS_HINT}, not both`);
  }
  const folder = paths.length === 1 && (await stat(paths[0])).isDirectory() ? paths[0] : undefined;
  if (folder !== undefined) {
    let names: string[];
    try {
      names = await readdir(folder);
    } catch (err) {
      throw new UsageError(`cannot read the folder ${folder}: ${why(err)}`);
    }
    if (!names.some((n) => n.endsWith('.onnx'))) {
      throw new UsageError(`no .onnx checkpoints in ${folder}: give a folder with one checkpoint per epoch, numbered in their names (ckpt_01.onnx, ckpt_02.onnx, ...)`);
    }
  }
  const { checkpointFiles } = await import('./earlyStop.js');
  const files = await checkpointFiles(paths);
  if (files.length < 2) {
    throw new UsageError(`${folder === undefined ? 'only one checkpoint given' : `only one checkpoint in ${folder}`}: early stopping compares epochs, so ${CHECKPOINTS_HINT}`);
  }
  return files;
}
