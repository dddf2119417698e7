/**
 * `npm install && npm start` is the whole set-up: the install compiles the server (`prepare` →
 * `npm run build`, which `npm test` runs first as well), and `npm start` runs that compiled server
 * as one Node process under npm: no tsx, no shell or second npm in between, so it gets the
 * signals itself and a SIGTERM stops it cleanly.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { removeDir, tempDir } from './helpers.js';
import { SERVER_ROOT, startServer } from './process.js';

/** The pids whose parent is `pid` (from /proc). */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
    } catch {
      return false;
    }
  }).map(Number);
}

const cmdline = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);

test('the build puts the compiled server and both drivers\' migrations under dist/', () => {
  const dist = join(SERVER_ROOT, 'dist');
  assert.ok(existsSync(join(dist, 'cli', 'main.js')), 'dist/cli/main.js (run `npm run build`)');
  for (const driver of ['sqlite', 'postgres']) {
    const src = readdirSync(join(SERVER_ROOT, 'src', 'store', driver, 'migrations')).filter((f) => f.endsWith('.sql'));
    assert.deepEqual(readdirSync(join(dist, 'store', driver, 'migrations')).sort(), src.sort(), `${driver} migrations copied`);
  }
});

test('npm start runs the compiled server as one Node process that takes SIGTERM itself', { timeout: 60_000, skip: process.platform !== 'linux' && 'reads /proc' }, async () => {
  const dir = tempDir();
  try {
    const server = await startServer({ TASKGATE_DATA: join(dir, 'data'), TASKGATE_ADMIN_TOKEN: 'tga_compiled_start_admin' }, 30_000, { via: 'npm' });
    const listening = server.output.map((l) => { try { return JSON.parse(l) as Record<string, unknown>; } catch { return null; } })
      .find((l) => l?.msg === 'taskgate listening');
    assert.equal(listening?.build, 'compiled', 'the listening line says the compiled server runs');
    assert.equal(listening?.dashboard, `${String(listening?.url)}/dashboard/`, 'and where the dashboard is');
    const npmPid = server.child.pid!;
    const [only, ...more] = childrenOf(npmPid);
    assert.equal(more.length, 0, 'npm has one child');
    assert.equal(only, listening?.pid, 'and that child is the server itself');
    const args = cmdline(only!);
    assert.match(args[0]!, /node$/);
    assert.ok(!args.some((a) => a.includes('tsx')), `no tsx loader: ${args.join(' ')}`);
    assert.deepEqual(childrenOf(only!), [], 'the server starts no process of its own');

    process.kill(only!, 'SIGTERM');
    assert.equal(await server.exited, 0, 'npm exits 0 after the server stopped cleanly on SIGTERM');
    assert.ok(server.output.some((l) => l.includes('"signal":"SIGTERM"') && l.includes('shutting down')), server.output.join('\n'));
  } finally {
    removeDir(dir);
  }
});
