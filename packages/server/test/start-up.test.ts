/**
 * A start that fails leaves no admin token behind (issue: `taskgate serve` on a busy port printed
 * a new admin token, failed with EADDRINUSE, and the next start printed none). The busy port gets
 * a clear message; the next successful start prints the admin token, and it works.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { call, removeDir, tempDir } from './helpers.js';
import { CLI, SERVER_ROOT, startServer } from './process.js';

function runCli(env: Record<string, string>, timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve'], {
      cwd: SERVER_ROOT, env: { ...process.env, HOST: '127.0.0.1', TASKGATE_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve on a busy port did not exit:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('serve on a busy port: a clear message, no admin token used up; the next start prints it', { timeout: 60_000 }, async () => {
  const dir = tempDir();
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  const port = (busy.address() as AddressInfo).port;
  const env = { TASKGATE_DATA: join(dir, 'data'), TASKGATE_ADMIN_TOKEN: '' };
  try {
    const failed = await runCli({ ...env, PORT: String(port) });
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port is already in use`));
    assert.doesNotMatch(failed.stdout + failed.stderr, /tga_/, 'no admin token printed by a start that failed');

    const ok = await startServer({ ...env, PORT: '0' });
    try {
      const printed = /\b(tga_[A-Za-z0-9_-]+)/.exec(ok.output.join('\n'))?.[1];
      assert.ok(printed, `the admin token is printed on the first successful start:\n${ok.output.join('\n')}`);
      assert.equal((await call(ok.url, 'GET', '/admin/tokens', printed)).status, 200);
    } finally {
      ok.child.kill('SIGTERM');
      await ok.exited;
    }
  } finally {
    busy.close();
    removeDir(dir);
  }
});
