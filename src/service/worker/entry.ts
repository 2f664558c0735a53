/**
 * Where a worker's entry module is. Compiled, it is the `.js` beside this file in dist/. Run
 * from source (tests under tsx), it is the `.ts` file, and the new process or thread must
 * load tsx first.
 */
import { fileURLToPath } from 'node:url';

const FROM_SOURCE = import.meta.url.endsWith('.ts');

/** For child_process.fork: the file and the node flags it needs. */
export function forkEntry(name: string): { file: string; execArgv: string[] } {
  const url = new URL(`./${name}${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url);
  // Explicit execArgv: a child must not inherit the parent's flags (e.g. node --test's). tsx by
  // its resolved URL: an audit worker starts in an empty folder of its own, not the package's.
  return { file: fileURLToPath(url), execArgv: FROM_SOURCE ? ['--import', import.meta.resolve('tsx')] : ['--enable-source-maps'] };
}

/**
 * For worker_threads: a module URL. From source it is a small data: module that registers
 * tsx's loader in the thread (threads do not take --import) and then imports the `.ts` file.
 */
export function threadEntry(name: string): URL {
  const url = new URL(`./${name}${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url);
  if (!FROM_SOURCE) return url;
  const api = import.meta.resolve('tsx/esm/api');
  const code = `import { register } from ${JSON.stringify(api)}; register(); await import(${JSON.stringify(url.href)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}
