/** Runs the real `taskgate` bin (bin/taskgate.js) as a child process, for the CLI client tests. */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { SERVER_ROOT } from './process.js';

export const BIN = join(SERVER_ROOT, 'bin', 'taskgate.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment without the caller's own TASKGATE_URL / TASKGATE_TOKEN, plus `env`. */
export function cliEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env };
  delete base.TASKGATE_URL;
  delete base.TASKGATE_TOKEN;
  return { ...base, ...env };
}

/** Runs `taskgate …args` (no terminal: stdin ignored, stdout/stderr piped); killed after `timeoutMs`. */
export function runCli(args: string[], env: Record<string, string> = {}, opts: { cwd?: string; timeoutMs?: number } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? SERVER_ROOT, env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`taskgate ${args.join(' ')} did not exit within ${opts.timeoutMs ?? 30_000} ms:\n${stdout}\n${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The lines of a text, without the empty last one. */
export function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

/** Decodes a PNG file (throws if it is not one). */
export function readPng(path: string): PNG {
  return PNG.sync.read(readFileSync(path));
}
