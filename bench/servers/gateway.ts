/**
 * The gateway under test, built in-process exactly as `taskgate serve` builds it (the compiled server), in a fresh temp
 * data dir (removed at exit). API-only node (`dispatch.enabled: false`), logging at warn.
 * Listens on 127.0.0.1, port 0, creates a token, and prints `{"url", "token", "dataDir"}` as one
 * JSON line on stdout.
 * On Postgres when BENCH_DATABASE_URL is set (`databaseUrl`; the data dir then holds only files);
 * with BENCH_TOKEN set too (a second node on the same database) it uses that token instead of
 * creating one. BENCH_REDIS_URL adds Redis (`redisUrl`), as several nodes are meant to run.
 * BENCH_METRICS=0 turns the Prometheus metrics off (an A/B of their cost).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Gateway } from '../../packages/server/src/http/gateway.js';
import { compiledServer } from '../lib/compiled.js';

const dataDir = mkdtempSync(join(tmpdir(), 'taskgate-bench-'));
let removed = false;
function removeDataDir(): void {
  if (removed) return;
  removed = true;
  rmSync(dataDir, { recursive: true, force: true });
}
process.on('exit', removeDataDir);

let gw: Gateway | null = null;
let stopping = false;
async function stop(code = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  const force = setTimeout(() => process.exit(code), 3000);
  force.unref();
  try {
    await gw?.close();
  } finally {
    process.exit(code);
  }
}
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
// The parent holds our stdin open; when it goes away (even killed), so do we.
process.stdin.on('end', () => void stop());
process.stdin.resume();

try {
  const { createGateway, parseConfig } = await compiledServer();
  const databaseUrl = process.env.BENCH_DATABASE_URL || undefined;
  const redisUrl = process.env.BENCH_REDIS_URL || undefined;
  const config = parseConfig({
    host: '127.0.0.1', port: 0, logLevel: 'warn', dispatch: { enabled: false }, ...(databaseUrl ? { databaseUrl } : {}), ...(redisUrl ? { redisUrl } : {}),
    // Metrics are on by default, as in production; BENCH_METRICS=0 turns them off to measure their cost.
    ...(process.env.BENCH_METRICS === '0' ? { metrics: { enabled: false } } : {}),
  });
  gw = await createGateway({ config, dataDir });
  const token = process.env.BENCH_TOKEN || (await gw.tokens.create('bench')).token;
  const url = await gw.listen();
  process.stdout.write(`${JSON.stringify({ url, token, dataDir })}\n`);
} catch (err) {
  process.stderr.write(`gateway failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  await stop(1);
}
