/** Shared by the Replicate dialect's HTTP tests: services, polling, SSE reading, problem checks. */
import assert from 'node:assert/strict';
import type { Reply, TestGateway } from './helpers.js';

export const FLUX = 'black-forest-labs/flux-dev';
export const SLOW = 'taskgate/slow-image';
export const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
export const PREDICTION_KEYS = [
  'completed_at', 'created_at', 'data_removed', 'error', 'id', 'input', 'logs', 'model', 'output', 'source', 'started_at',
  'status', 'urls', 'version',
];

export const SERVICES = {
  'slow/image': {
    provider: 'demo-image', mode: 'wait', concurrency: 1,
    options: { latencyMs: 600, steps: 4, defaultWidth: 64, defaultHeight: 64 }, aliases: { replicate: [SLOW] },
  },
  'crawl/image': {
    provider: 'demo-image', mode: 'wait', options: { latencyMs: 2500, steps: 2, defaultWidth: 64, defaultHeight: 64 },
    aliases: { replicate: ['taskgate/crawl-image'] },
  },
  'capped/image': {
    provider: 'demo-image', mode: 'wait', waitLimitMs: 150, options: { latencyMs: 500, steps: 2, defaultWidth: 64, defaultHeight: 64 },
    aliases: { replicate: ['taskgate/capped-image'] },
  },
  'clip/video': {
    provider: 'demo-video', mode: 'async', options: { latencyMs: 60, steps: 1, defaultWidth: 48, defaultHeight: 32, defaultFrames: 2 },
    aliases: { replicate: ['taskgate/clip'] },
  },
};

/** Polls GET /v1/predictions/{id} (bounded) until `done` holds; returns every status seen. */
export async function poll(t: TestGateway, id: string, done: (r: Reply) => boolean, timeoutMs = 10_000): Promise<{ last: Reply; seen: string[] }> {
  const until = Date.now() + timeoutMs;
  const seen: string[] = [];
  for (;;) {
    const last = await t.call('GET', `/v1/predictions/${id}`);
    assert.equal(last.status, 200, last.text);
    if (seen.at(-1) !== last.json.status) seen.push(last.json.status);
    if (done(last)) return { last, seen };
    assert.ok(Date.now() < until, `prediction ${id} did not get there in time; seen ${seen.join(' → ')}`);
    await new Promise((res) => setTimeout(res, 10));
  }
}

export interface SseEvent {
  event: string;
  data: string;
}

/** Reads a whole SSE response (the stream closes after `done`); bounded by a timeout. */
export async function readSse(url: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string | null; events: SseEvent[] }> {
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  const events: SseEvent[] = [];
  for (const block of text.split('\n\n')) {
    const lines = block.split('\n').filter((l) => l !== '' && !l.startsWith(':'));
    if (lines.length === 0) continue;
    const event = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? 'message';
    const data = lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
    events.push({ event, data });
  }
  return { status: res.status, type: res.headers.get('content-type'), events };
}

export function assertProblem(r: Reply, status: number, title: string): void {
  assert.equal(r.status, status, r.text);
  assert.match(r.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(r.json.status, status);
  assert.equal(r.json.title, title);
  assert.equal(typeof r.json.detail, 'string');
}

