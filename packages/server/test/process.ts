/** Runs `taskgate serve` as a real child process (for restart, kill -9 and CLI tests). */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const SERVER_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const CLI = join(SERVER_ROOT, 'src', 'cli', 'main.ts');

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  output: string[];
  exited: Promise<number | null>;
}

export const REPO_ROOT = join(SERVER_ROOT, '..', '..');

/**
 * Starts the gateway and resolves once it logs its URL (bounded by `timeoutMs`). `via: 'npm'`
 * runs the README's own `npm start` from the repository root (the child is then npm itself).
 */
export function startServer(env: Record<string, string>, timeoutMs = 20_000, opts: { via?: 'node' | 'npm' } = {}): Promise<ServerProcess> {
  const [command, args, cwd] = opts.via === 'npm'
    ? ['npm', ['start', '--silent'], REPO_ROOT] as const
    : [process.execPath, ['--import', 'tsx', CLI, 'serve'], SERVER_ROOT] as const;
  const child = spawn(command, [...args], {
    cwd,
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', TASKGATE_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start:\n${output.join('\n')}`));
    }, timeoutMs);
    const onLine = (line: string): void => {
      output.push(line);
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'taskgate listening' && entry.url) {
          clearTimeout(timer);
          resolve({ child, url: entry.url, output, exited });
        }
      } catch {
        // not a log line
      }
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', (l) => output.push(l));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${output.join('\n')}`));
    });
  });
}
