/**
 * The README's code blocks and links, read the way a person reads them, and a way to run a shell
 * block as written: in bash, from a folder that looks like a clone of this repository.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));

export interface CodeBlock {
  /** The nearest heading above the block, without its #s. */
  heading: string;
  /** 1 for the first block of this language under that heading, 2 for the next, ... */
  index: number;
  /** The fence's language (`sh`, `python`, ...). */
  language: string;
  text: string;
  /** 1-based line of the opening fence. */
  line: number;
}

/** Every fenced block of a Markdown text. */
export function codeBlocks(markdown: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  const seen = new Map<string, number>();
  let heading = '';
  let open: { language: string; line: number; lines: string[] } | null = null;
  markdown.split('\n').forEach((line, i) => {
    if (open) {
      if (/^```\s*$/.test(line)) {
        const key = `${heading}\n${open.language}`;
        const index = (seen.get(key) ?? 0) + 1;
        seen.set(key, index);
        blocks.push({ heading, index, language: open.language, text: `${open.lines.join('\n')}\n`, line: open.line });
        open = null;
      } else {
        open.lines.push(line);
      }
      return;
    }
    const fence = /^```(\S*)/.exec(line);
    if (fence) open = { language: fence[1], line: i + 1, lines: [] };
    else if (/^#{1,6} /.test(line)) heading = line.replace(/^#+ /, '').trim();
  });
  return blocks;
}

/** The Markdown text with its fenced blocks and inline code blanked out (links there are examples). */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```\s*$/gm, '').replace(/`[^`\n]*`/g, '');
}

/** Targets of the inline links and images of a Markdown text, outside code. */
export function linkTargets(markdown: string): string[] {
  return [...prose(markdown).matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]);
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
export function headingAnchor(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

export function headings(markdown: string): string[] {
  return [...markdown.replace(/^```[\s\S]*?^```\s*$/gm, '').matchAll(/^#{1,6} (.+)$/gm)].map((m) => m[1].trim());
}

/** Why the shell blocks cannot run here (a missing tool), or false. */
export function toolsMissing(): string | false {
  const missing = ['bash', 'curl', 'jq'].filter((tool) => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status !== 0);
  return missing.length ? `${missing.join(' and ')} not installed (the README's shell blocks need bash, curl and jq)` : false;
}

/**
 * A temporary folder that looks like a clone (package.json, node_modules, dist, models are links
 * into this checkout), so that a block's relative paths and `npx alias-audit` work as they do in
 * a clone, while the files a block writes (report.json, ...) stay out of the checkout.
 */
export function cloneView(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'alias-audit-readme-'));
  for (const name of ['package.json', 'node_modules', 'dist', 'models']) symlinkSync(join(REPO, name), join(dir, name));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface BashResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The environment of a block: this process's, without an API key or service address of the
 * person running the tests, and npm kept offline (so a mistake cannot fetch a package).
 */
export function blockEnv(vars: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, npm_config_offline: 'true', npm_config_update_notifier: 'false' };
  for (const name of Object.keys(env)) if (name.startsWith('ALIAS_AUDIT_') || name === 'PORT') delete env[name];
  for (const [name, value] of Object.entries(vars)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/** Runs a block's text with bash (`bashOptions` such as -e come before it) and collects its output. */
export function runBash(text: string, opts: { cwd: string; env: NodeJS.ProcessEnv; bashOptions?: string[]; timeoutMs?: number }): Promise<BashResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [...(opts.bashOptions ?? []), '-c', text], { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the block ran past ${opts.timeoutMs} ms; its output so far:\n${stdout}\n${stderr}`));
    }, opts.timeoutMs ?? 240_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface LongRunning {
  /** Resolves with the first stdout line that matches, or rejects when the process ends first. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  output(): string;
  /** SIGTERM to the block's process group (bash, npm and the service it started); resolves on exit. */
  stop(): Promise<number | null>;
}

/** Starts a block that does not end by itself (a server) in its own process group. */
export function startBash(text: string, opts: { cwd: string; env: NodeJS.ProcessEnv }): LongRunning {
  const child = spawn('bash', ['-c', text], { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  let exited: number | null | undefined;
  const listeners = new Set<() => void>();
  const changed = (): void => listeners.forEach((l) => l());
  child.stdout.setEncoding('utf8').on('data', (c: string) => ((out += c), changed()));
  child.stderr.setEncoding('utf8').on('data', (c: string) => ((out += c), changed()));
  const closed = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      exited = code;
      changed();
      resolve(code);
    }),
  );
  return {
    output: () => out,
    waitFor(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const match = out.match(pattern);
          if (match) finish(() => resolve(match));
          else if (exited !== undefined) finish(() => reject(new Error(`the block ended (code ${exited}) before printing ${pattern}:\n${out}`)));
        };
        const timer = setTimeout(() => finish(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${out}`))), timeoutMs);
        const finish = (settle: () => void): void => {
          clearTimeout(timer);
          listeners.delete(check);
          settle();
        };
        listeners.add(check);
        check();
      });
    },
    async stop() {
      if (exited === undefined && child.pid) {
        try {
          process.kill(-child.pid, 'SIGTERM');
        } catch {
          // The group is gone already.
        }
        const killer = setTimeout(() => {
          try {
            process.kill(-child.pid!, 'SIGKILL');
          } catch {
            // Gone.
          }
        }, 40_000);
        await closed;
        clearTimeout(killer);
      }
      return closed;
    },
  };
}
