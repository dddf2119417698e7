/**
 * The relay matrix: every client dialect (task API, APIXO, fal queue, Replicate) × every upstream
 * protocol (task-api, apixo, fal, replicate, openai-images, midjourney-proxy). One gateway A has
 * one relayed service per protocol, each with one channel to that protocol's fixture upstream.
 * Each case creates a task on A through a dialect, waits for it through that dialect's own read,
 * and checks the dialect's own shape: a success with A's file URLs serving the fixture's bytes,
 * and failures (`fixture-fail` → `api_error`, `fixture-nsfw` → `forbidden`) in the dialect's own
 * error field. Both tables generate the cases; nothing is written per case.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startApixoUpstream } from './fixtures/apixo-upstream.js';
import { startFalUpstream } from './fixtures/fal-upstream.js';
import { startMidjourneyProxyUpstream } from './fixtures/midjourney-proxy-upstream.js';
import { startOpenAIImagesUpstream } from './fixtures/openai-images-upstream.js';
import { startReplicateUpstream } from './fixtures/replicate-upstream.js';
import { startTaskApiUpstream } from './fixtures/task-api-upstream.js';
import type { FixtureUpstream } from './fixtures/upstream-base.js';
import { startGateway, until, type Reply, type TestGateway } from './helpers.js';

const POLL = { initialMs: 30, maxMs: 120, factor: 1.5 };
const T = { timeout: 30_000 };
const WAIT_MS = 20_000;

type Fixture = FixtureUpstream & { readonly base: string };

/** One upstream protocol: its fixture, the channel's model, and the service A relays it as. */
interface Protocol {
  protocol: string;
  /** The service's name on A (its task API path); aliases are derived from `protocol`. */
  service: string;
  model: string;
  start(): Promise<Fixture>;
  shape?: string;
  requestTimeoutMs?: number;
}

const PROTOCOLS: Protocol[] = [
  { protocol: 'task-api', service: 'matrix/task-api', model: 'flux/dev', start: () => startTaskApiUpstream() },
  { protocol: 'apixo', service: 'matrix/apixo', model: 'flux-dev', start: () => startApixoUpstream() },
  { protocol: 'fal', service: 'matrix/fal', model: 'fal-ai/flux/dev', start: () => startFalUpstream() },
  { protocol: 'replicate', service: 'matrix/replicate', model: 'black-forest-labs/flux-dev', start: () => startReplicateUpstream() },
  // Synchronous upstream: the submit is the whole generation, so its timeout covers it.
  { protocol: 'openai-images', service: 'matrix/openai-images', model: 'dall-e-3', start: () => startOpenAIImagesUpstream(), requestTimeoutMs: 10_000 },
  // A midjourney/* service with the Midjourney shape: the task API renders `image_url`.
  { protocol: 'midjourney-proxy', service: 'midjourney/matrix', model: 'midjourney', shape: 'midjourney', start: () => startMidjourneyProxyUpstream() },
];

/** The names a protocol's service answers to in each dialect. */
const apixoModel = (p: Protocol): string => `matrix-${p.protocol}`;
const endpoint = (p: Protocol): string => `matrix/${p.protocol}`; // fal queue endpoint and Replicate model

/** A finished task as one dialect shows it. */
interface Seen {
  ok: boolean;
  /** Output file URLs (successes). */
  urls: string[];
  /** The dialect's own error field (failures): code, failCode, error_type or Replicate's message. */
  error: string | null;
  /** HTTP status of the read that told the outcome (fal: the result request). */
  status: number;
  /** Every body read, for "nothing of the upstream shows". */
  bodies: unknown[];
}

interface Dialect {
  dialect: string;
  /** Creates a task of `p`'s service on A; returns A's task id. */
  create(a: TestGateway, p: Protocol, prompt: string): Promise<{ id: string; read: () => Promise<Seen | undefined> }>;
  /** How the dialect renders an internal error code in its error field; null: it has no code. */
  render(code: 'api_error' | 'forbidden'): string | null;
  /** The read status expected of a failure with that code. */
  failStatus(code: 'api_error' | 'forbidden'): number;
}

function created(r: Reply, status = 200): Reply {
  assert.equal(r.status, status, r.text);
  return r;
}

/** GET of an absolute URL A handed out (it must be A's). */
function getOnA(a: TestGateway, url: string): Promise<Reply> {
  assert.ok(url.startsWith(`${a.url}/`), `a URL on A: ${url}`);
  const u = new URL(url);
  return a.call('GET', u.pathname + u.search);
}

const DIALECTS: Dialect[] = [
  {
    dialect: 'task API',
    async create(a, p, prompt) {
      const id: string = created(await a.call('POST', `/v1/${p.service}`, { body: { prompt } })).json.task_id;
      const vendor = p.service.split('/')[0]!;
      return {
        id,
        read: async () => {
          const r = await a.call('POST', `/v1/${vendor}/tasks`, { body: { action: 'retrieve', id } });
          assert.equal(r.status, 200, r.text);
          if (r.json.finished_at === undefined) return undefined;
          const res = r.json.response;
          const urls = [res.image_url, ...(res.data ?? []).map((d: { url?: string }) => d.url)].filter((u): u is string => typeof u === 'string');
          if (p.shape === 'midjourney' && res.success) assert.equal(typeof res.image_url, 'string', 'the Midjourney shape: image_url');
          return { ok: res.success === true, urls, error: res.error?.code ?? null, status: r.status, bodies: [r.json] };
        },
      };
    },
    render: (code) => code,
    failStatus: () => 200,
  },
  {
    dialect: 'APIXO',
    async create(a, p, prompt) {
      const model = apixoModel(p);
      const r = created(await a.call('POST', `/api/v1/generateTask/${model}`, { body: { input: { prompt } } }));
      const id: string = r.json.data.taskId;
      return {
        id,
        read: async () => {
          const s = await a.call('GET', `/api/v1/statusTask/${model}?taskId=${encodeURIComponent(id)}`);
          assert.equal(s.status, 200, s.text);
          const data = s.json.data;
          if (data.state !== 'success' && data.state !== 'failed') return undefined;
          const urls: string[] = data.resultJson ? JSON.parse(data.resultJson).resultUrls : [];
          return { ok: data.state === 'success', urls, error: data.failCode ?? null, status: s.status, bodies: [s.json] };
        },
      };
    },
    render: (code) => ({ api_error: 'GENERATION_FAILED', forbidden: 'CONTENT_VIOLATION' })[code],
    failStatus: () => 200,
  },
  {
    dialect: 'fal queue',
    async create(a, p, prompt) {
      const sub = created(await a.call('POST', `/v1/queue/${endpoint(p)}`, { body: { prompt } })).json;
      assert.equal(sub.status, 'IN_QUEUE', JSON.stringify(sub));
      return {
        id: sub.request_id,
        read: async () => {
          const s = await getOnA(a, `${sub.status_url}?logs=1`);
          assert.equal(s.status, 200, s.text);
          if (s.json.status !== 'COMPLETED') return undefined;
          const res = await getOnA(a, sub.response_url);
          const ok = res.status === 200;
          if (!ok) assert.equal(res.json.error_type, s.json.error_type, 'the result and the status tell one error type');
          const urls = ok ? (res.json.images ?? []).map((i: { url: string }) => i.url) : [];
          return { ok, urls, error: ok ? null : s.json.error_type, status: res.status, bodies: [sub, s.json, res.json] };
        },
      };
    },
    render: (code) => ({ api_error: 'runtime_error', forbidden: 'content_policy_violation' })[code],
    failStatus: (code) => (code === 'forbidden' ? 422 : 500),
  },
  {
    dialect: 'Replicate',
    async create(a, p, prompt) {
      const pred = created(await a.call('POST', `/v1/models/${endpoint(p)}/predictions`, { body: { input: { prompt } } }), 201).json;
      return {
        id: pred.id,
        read: async () => {
          const r = await getOnA(a, pred.urls.get);
          assert.equal(r.status, 200, r.text);
          if (!['succeeded', 'failed', 'canceled'].includes(r.json.status)) return undefined;
          const out = r.json.output;
          const urls = Array.isArray(out) ? out : typeof out === 'string' ? [out] : [];
          return { ok: r.json.status === 'succeeded', urls, error: r.json.status === 'failed' ? r.json.error : null, status: r.status, bodies: [pred, r.json] };
        },
      };
    },
    // A prediction's `error` is a message: Replicate has no error codes.
    render: () => null,
    failStatus: () => 200,
  },
];

describe('relay matrix: every client dialect × every upstream protocol', () => {
  const fixtures = new Map<string, Fixture>();
  let a: TestGateway;
  let n = 0;

  before(async () => {
    for (const p of PROTOCOLS) fixtures.set(p.protocol, await p.start());
    const services = Object.fromEntries(PROTOCOLS.map((p) => [p.service, {
      mode: 'async', timeoutMs: 20_000, ...(p.shape ? { shape: p.shape } : {}),
      aliases: { apixo: [apixoModel(p)], queue: [endpoint(p)], replicate: [endpoint(p)] },
      channels: [{
        name: `fx-${p.protocol}`, provider: p.protocol, baseUrl: fixtures.get(p.protocol)!.base, apiKey: 'fixture-key', model: p.model, poll: POLL,
        ...(p.requestTimeoutMs ? { requestTimeoutMs: p.requestTimeoutMs } : {}),
      }],
    }]));
    a = await startGateway({ config: { relay: { pollTickMs: 20 } }, services });
  });
  after(async () => {
    await a?.close();
    for (const f of fixtures.values()) await f.close();
  });

  /** Creates through `d`, waits through `d`'s own read; also returns the upstream's tasks of that prompt. */
  async function run(d: Dialect, p: Protocol, words: string): Promise<{ id: string; seen: Seen; prompt: string }> {
    const prompt = `matrix case ${++n} ${words}`.trim();
    const { id, read } = await d.create(a, p, prompt);
    const seen = await until(`${d.dialect} task ${id} on ${p.service} to finish`, read, WAIT_MS, 30);
    return { id, seen, prompt };
  }

  const upstreamTasks = (p: Protocol, prompt: string) => [...fixtures.get(p.protocol)!.tasks.values()].filter((t) => t.input.prompt === prompt);

  // Grouped by dialect, successes first: a success resets a channel's failure count. The
  // openai-images fixture fails a task with HTTP 500, which the relay counts against the channel
  // (3 in a row cool it down and hold its tasks queued), so its failures stay apart.
  for (const d of DIALECTS) {
    describe(`${d.dialect} client`, () => {
      for (const p of PROTOCOLS) {
        test(`${d.dialect} → ${p.protocol}: succeeds with A's own file URLs serving the fixture's bytes`, T, async () => {
          const { seen, prompt } = await run(d, p, '');
          assert.equal(seen.ok, true, JSON.stringify(seen.bodies));
          assert.equal(seen.error, null);
          assert.ok(seen.urls.length >= 1, `an output: ${JSON.stringify(seen.bodies)}`);
          for (const url of seen.urls) assert.ok(url.startsWith(`${a.url}/files/`), `served by A: ${url}`);
          const fx = fixtures.get(p.protocol)!;
          assert.doesNotMatch(JSON.stringify(seen.bodies), new RegExp(`${fx.url}|fx-${p.protocol}`), 'nothing of the upstream shows');
          const [made, ...more] = upstreamTasks(p, prompt);
          assert.ok(made, 'the fixture got the task');
          assert.equal(more.length, 0, 'submitted upstream once');
          const res = await fetch(seen.urls[0]!);
          assert.equal(res.status, 200);
          assert.equal(res.headers.get('content-type'), 'image/png');
          assert.equal(Buffer.from(await res.arrayBuffer()).toString(), `fixture png of ${made.id}`, "the fixture's bytes");
        });
      }

      for (const p of PROTOCOLS) {
        for (const [what, words, code] of [['fails', 'fixture-fail', 'api_error'], ['is refused by moderation', 'fixture-nsfw', 'forbidden']] as const) {
          test(`${d.dialect} → ${p.protocol}: a task that ${what} shows ${d.render(code) ?? 'failed'}`, T, async () => {
            const { id, seen } = await run(d, p, `please ${words} now`);
            assert.equal(seen.ok, false, JSON.stringify(seen.bodies));
            assert.deepEqual(seen.urls, []);
            const rendered = d.render(code);
            if (rendered === null) assert.ok(typeof seen.error === 'string' && seen.error.length > 0, `an error message: ${JSON.stringify(seen.bodies)}`);
            else assert.equal(seen.error, rendered, JSON.stringify(seen.bodies));
            assert.equal(seen.status, d.failStatus(code), JSON.stringify(seen.bodies));
            // The same failure behind every dialect: the stored task's code.
            assert.equal((await a.gw.tasks.get(a.ownerId, id))?.error?.code, code);
            assert.doesNotMatch(JSON.stringify(seen.bodies), new RegExp(`${fixtures.get(p.protocol)!.url}|fx-${p.protocol}`), 'nothing of the upstream shows');
          });
        }
      }
    });
  }

  // README: "429 rests the channel for its Retry-After … When every channel is busy, rate limited
  // or cooling, the task waits queued until one is back". The refused submit created nothing, so
  // the task is sent again once the channel is back, whatever the protocol's recovery (a submit
  // mark left by the refused attempt once made the next claim "recover" it instead).
  // README: "5xx … fail over to the next channel … when every channel refused it, it fails with
  // api_error": a 5xx that does not cool the channel down is that channel refusing this task.
  test('openai-images: a failed generation (HTTP 500) on the only channel fails the task: no channel accepted it', T, async () => {
    const { id } = await run(DIALECTS[0]!, PROTOCOLS.find((p) => p.protocol === 'openai-images')!, 'fixture-fail once more');
    assert.deepEqual((await a.gw.tasks.get(a.ownerId, id))?.error, { code: 'api_error', message: 'No upstream channel accepted the task' });
  });

  describe('a rate-limited submit (429, Retry-After: 1) on the only channel: the task waits, is sent again and succeeds', () => {
    for (const p of PROTOCOLS) {
      test(`task API → ${p.protocol}`, T, async () => {
        const fx = fixtures.get(p.protocol)!;
        fx.faults = [];
        fx.inject({ kind: 'status', route: 'create', status: 429, headers: { 'retry-after': '1' }, times: 1 });
        const creates = fx.count('create');
        const { seen, prompt } = await run(DIALECTS[0]!, p, 'after a 429');
        assert.equal(fx.count('create'), creates + 2, 'the refused submit, then the one that took the task');
        assert.equal(seen.ok, true, JSON.stringify(seen.bodies));
        assert.equal(upstreamTasks(p, prompt).length, 1);
      });
    }
  });
});
