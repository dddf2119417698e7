/**
 * Server children: each server runs as its own `node --import tsx` process (so it and the load
 * generator each get a core), announces itself with one JSON line on stdout, and is stopped
 * (SIGTERM, then SIGKILL) at the end, on error and on SIGINT.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface ServerInfo {
  url: string;
  token?: string;
  dataDir?: string;
}

export interface ServerChild {
  name: string;
  pid: number;
  info: ServerInfo;
  /** CPU seconds (user + system, all threads) the child has used so far; null off Linux. */
  cpuSeconds(): number | null;
  /** Resident set size in bytes now (VmRSS); null off Linux. */
  rssBytes(): number | null;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const live = new Map<ChildProcess, { name: string; dataDir?: string }>();

let clockTicks = 0;
export function ticksPerSecond(): number {
  if (clockTicks) return clockTicks;
  try {
    clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    clockTicks = 100;
  }
  return clockTicks;
}

function procCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields after the command name start at field 3 (state); utime is field 14, stime 15.
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
  } catch {
    return null;
  }
}

function procRssBytes(pid: number): number | null {
  try {
    const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? null : Number(kb) * 1024;
  } catch {
    return null;
  }
}

function parseInfo(line: string): ServerInfo | null {
  try {
    const value: unknown = JSON.parse(line);
    if (typeof value !== 'object' || value === null) return null;
    const { url, token, dataDir } = value as Record<string, unknown>;
    if (typeof url !== 'string' || !url.startsWith('http://127.0.0.1:')) return null;
    return {
      url,
      ...(typeof token === 'string' ? { token } : {}),
      ...(typeof dataDir === 'string' ? { dataDir } : {}),
    };
  } catch {
    return null;
  }
}

/** `env`: variables added to this process's environment for the child. */
export async function startServer(name: string, script: string, timeoutMs = 30_000, env: Record<string, string> = {}): Promise<ServerChild> {
  const proc = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  const entry: { name: string; dataDir?: string } = { name };
  live.set(proc, entry);
  const info = await new Promise<ServerInfo>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} server did not announce itself within ${timeoutMs} ms`)), timeoutMs);
    let announced = false;
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const parsed = announced ? null : parseInfo(line);
      if (parsed) {
        announced = true;
        clearTimeout(timer);
        if (parsed.dataDir) entry.dataDir = parsed.dataDir;
        resolve(parsed);
      } else {
        process.stderr.write(`[${name}] ${line}\n`);
      }
    });
    proc.once('error', (err) => { clearTimeout(timer); reject(err); });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (!announced) reject(new Error(`${name} server exited before announcing itself (code ${code}, signal ${signal})`));
      else if (!stopping) process.stderr.write(`!! ${name} server exited during the run (code ${code}, signal ${signal})\n`);
    });
  });
  const pid = proc.pid!;
  return { name, pid, info, cpuSeconds: () => procCpuSeconds(pid), rssBytes: () => procRssBytes(pid) };
}

function exited(proc: ChildProcess, ms: number): Promise<boolean> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    proc.once('exit', () => { clearTimeout(timer); resolve(true); });
  });
}

async function stopOne(proc: ChildProcess, entry: { name: string; dataDir?: string }): Promise<void> {
  proc.stdin?.end();
  if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
  if (!(await exited(proc, 5000))) {
    process.stderr.write(`${entry.name} server did not stop on SIGTERM; killing it\n`);
    proc.kill('SIGKILL');
    await exited(proc, 5000);
  }
  // The gateway removes its own data dir; make sure of it if it had to be killed.
  const dir = entry.dataDir;
  if (dir && dir.startsWith(join(tmpdir(), 'taskgate-bench-'))) rmSync(dir, { recursive: true, force: true });
}

let stopping = false;
/** Stops every server child still running (idempotent). */
export async function stopAll(): Promise<void> {
  stopping = true;
  const all = [...live.entries()];
  live.clear();
  await Promise.all(all.map(([proc, entry]) => stopOne(proc, entry)));
}
