/**
 * The dashboard's live changes: GET /admin/events and GET /v1/account/events over real HTTP. A
 * task created after connecting arrives as queued → running → succeeded; the admin sees every
 * account's tasks, an account only its own; auth is checked before the stream opens; streams are
 * capped, pinged, resynced after backpressure, and end when the client leaves or the gateway
 * closes; a change made on another node (Postgres + Redis) reaches a stream on this one.
 */
import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { ADMIN_TOKEN, removeDir, startGateway, until, type TestGateway } from './helpers.js';
import { freshDatabase, postgresUnavailable } from './pg.js';
import { REDIS_URL, redisUnavailable } from './redis.js';

interface SseEvent {
  event: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON TaskSummary
  data: any;
}

interface Sse {
  status: number;
  headers: Headers;
  events: SseEvent[];
  comments: string[];
  /** The response body as JSON when the answer is not a stream (an error). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON error envelope
  json: any;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  close(): void;
}

/** Opens an event stream with `fetch` (as the dashboard does) and parses it as it arrives. */
async function openEvents(base: string, path: string, token: string | null): Promise<Sse> {
  const abort = new AbortController();
  const res = await fetch(`${base}${path}`, { headers: token === null ? {} : { authorization: `Bearer ${token}` }, signal: abort.signal });
  const sse: Sse = { status: res.status, headers: res.headers, events: [], comments: [], json: undefined, ended: Promise.resolve(), close: () => abort.abort() };
  if (!res.headers.get('content-type')?.startsWith('text/event-stream')) {
    sse.json = await res.json();
    return sse;
  }
  sse.ended = (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (block.startsWith(':')) sse.comments.push(block.slice(1).trim());
          else {
            const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
            const data = /^data: (.*)$/m.exec(block)?.[1] ?? '';
            sse.events.push({ event, data: JSON.parse(data) });
          }
        }
      }
    } catch (err) {
      if (!abort.signal.aborted) throw err;
    }
  })();
  return sse;
}

/** The states a stream showed for one task, consecutive repeats (progress) folded. */
const statesOf = (sse: Sse, id: string): string[] =>
  sse.events.filter((e) => e.event === 'task' && e.data.id === id).map((e) => e.data.state as string).filter((s, i, all) => s !== all[i - 1]);

const sawFinished = (sse: Sse, id: string) => (statesOf(sse, id).includes('succeeded') ? true : undefined);

async function createTask(t: TestGateway, token = t.token): Promise<string> {
  const r = await t.call('POST', '/v1/demo/image', { token, body: { prompt: 'p', async: true } });
  assert.equal(r.status, 200, r.text);
  return r.json.task_id;
}

describe('GET /admin/events and /v1/account/events', () => {
  let t: TestGateway;
  let other: { token: string; accountId: string };
  before(async () => {
    t = await startGateway({ dashboard: { pingMs: 50, maxStreams: 4 } });
    const account = await t.call('POST', '/admin/accounts', { token: ADMIN_TOKEN, body: { name: 'other' } });
    const token = await t.call('POST', `/admin/accounts/${account.json.id}/tokens`, { token: ADMIN_TOKEN, body: { name: 'other' } });
    other = { token: token.json.token, accountId: account.json.id };
  });
  after(async () => {
    await t.close();
    removeDir(t.dataDir);
  });

  test('a task created after connecting arrives queued → running → succeeded; the admin sees every account, an account its own', async () => {
    const admin = await openEvents(t.url, '/admin/events', ADMIN_TOKEN);
    const mine = await openEvents(t.url, '/v1/account/events', t.token);
    const theirs = await openEvents(t.url, '/v1/account/events', other.token);
    try {
      for (const s of [admin, mine, theirs]) {
        assert.equal(s.status, 200);
        assert.match(s.headers.get('content-type') ?? '', /^text\/event-stream/);
        assert.equal(s.headers.get('cache-control'), 'no-cache');
        assert.equal(s.headers.get('x-accel-buffering'), 'no');
        assert.ok(s.headers.get('x-trace-id'));
      }
      const a = await createTask(t);
      await until('the admin stream to show the task finished', () => sawFinished(admin, a));
      await until('the owner stream to show it finished', () => sawFinished(mine, a));
      assert.deepEqual(statesOf(admin, a), ['queued', 'running', 'succeeded']);
      assert.deepEqual(statesOf(mine, a), ['queued', 'running', 'succeeded']);
      const last = mine.events.filter((e) => e.data.id === a).at(-1)!.data;
      assert.equal(last.account_id, t.ownerId);
      assert.equal(last.service, 'demo/image');
      assert.equal(last.channel, null);
      assert.equal(typeof last.duration_ms, 'number');

      const b = await createTask(t, other.token);
      await until('the other account to see its task finished', () => sawFinished(theirs, b));
      await until('the admin to see it too', () => sawFinished(admin, b));
      // Every stream gets the changes in one order: by now `a`'s were written to all of them.
      assert.deepEqual(statesOf(theirs, a), [], 'an account never sees another account\'s task');
      assert.deepEqual(statesOf(mine, b), []);
    } finally {
      for (const s of [admin, mine, theirs]) s.close();
    }
  });

  test('pings every interval; a client that leaves is forgotten', async () => {
    const s = await openEvents(t.url, '/admin/events', ADMIN_TOKEN);
    await until('a ping', () => (s.comments.includes('ping') ? true : undefined));
    assert.equal(t.gw.liveEvents.size, 1);
    s.close();
    await until('the stream to be dropped', () => (t.gw.liveEvents.size === 0 ? true : undefined));
  });

  test('a stream ends at the next ping once its token is disabled, or its account; the admin’s stream stays', async () => {
    const one = await t.gw.tokens.create('soon disabled');
    const two = await t.gw.tokens.create('account soon disabled');
    const admin = await openEvents(t.url, '/admin/events', ADMIN_TOKEN);
    const byToken = await openEvents(t.url, '/v1/account/events', one.token);
    const byAccount = await openEvents(t.url, '/v1/account/events', two.token);
    await until('pings on all three', () => ([admin, byToken, byAccount].every((s) => s.comments.includes('ping')) ? true : undefined));
    const as = (method: string, path: string, body?: unknown) => t.call(method, path, { token: ADMIN_TOKEN, body });
    assert.equal((await as('POST', `/admin/tokens/${one.record.id}/disable`)).status, 200);
    assert.equal((await as('PATCH', `/admin/accounts/${two.record.accountId}`, { disabled: true })).status, 200);
    let ended = 0;
    for (const s of [byToken, byAccount]) void s.ended.then(() => ended++);
    await until('both account streams to end', () => (ended === 2 ? true : undefined));
    assert.equal(t.gw.liveEvents.size, 1, 'the admin’s stream is still open');
    assert.equal((await openEvents(t.url, '/v1/account/events', one.token)).status, 403);
    admin.close();
    await until('the admin stream to be dropped', () => (t.gw.liveEvents.size === 0 ? true : undefined));
  });

  test('auth is checked before the stream opens, in the task API envelope', async () => {
    const cases: Array<[string, string | null, number, string]> = [
      ['/admin/events', null, 400, 'no_token'],
      ['/admin/events', 'tga_wrong', 401, 'invalid_token'],
      ['/admin/events', '', 401, 'invalid_token'],
      ['/v1/account/events', null, 400, 'no_token'],
      ['/v1/account/events', 'tg_wrong', 401, 'invalid_token'],
    ];
    cases[2]![1] = t.token; // an account token is not the admin token
    for (const [path, token, status, code] of cases) {
      const s = await openEvents(t.url, path, token);
      assert.equal(s.status, status, `${path} ${token}`);
      assert.equal(s.json.error.code, code);
      assert.ok(s.json.trace_id);
    }
    assert.equal(t.gw.liveEvents.size, 0);
  });

  test('at most maxStreams at once: one more is 429 too_many_requests until one closes', async () => {
    const open = await Promise.all([1, 2, 3, 4].map(() => openEvents(t.url, '/v1/account/events', t.token)));
    try {
      assert.deepEqual(open.map((s) => s.status), [200, 200, 200, 200]);
      const refused = await openEvents(t.url, '/admin/events', ADMIN_TOKEN);
      assert.equal(refused.status, 429);
      assert.equal(refused.json.error.code, 'too_many_requests');
      open.pop()!.close();
      const again = await until('a free stream slot', async () => {
        const s = await openEvents(t.url, '/admin/events', ADMIN_TOKEN);
        return s.status === 200 ? s : undefined;
      });
      open.push(again);
    } finally {
      for (const s of open) s.close();
    }
    await until('every stream dropped', () => (t.gw.liveEvents.size === 0 ? true : undefined));
  });

  test('a client that does not read is skipped until its socket drains, then gets one resync', async () => {
    const id = await createTask(t);
    const task = await until('the task', () => t.gw.tasks.get(t.ownerId, id).then((x) => x ?? undefined));
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(`${t.url}/admin/events`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }, resolve);
      req.on('error', reject);
      req.end();
    });
    try {
      assert.equal(res.statusCode, 200);
      res.pause(); // read nothing: the socket's buffers fill up
      // Changes the stream cannot take: sent through the real event bus until the socket is full.
      let emitted = 0;
      await until('the stream to be blocked', async () => {
        for (let i = 0; i < 500; i++, emitted++) t.gw.tasks.events.emit('task:progress', { task });
        await new Promise((r) => setTimeout(r, 5));
        return t.gw.liveEvents.blocked === 1 ? true : undefined;
      }, 60_000, 0);
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.resume();
      await until('a resync', () => (text.includes('event: resync\ndata: {}\n\n') ? true : undefined));
      const after = await createTask(t);
      await until('events again after the resync', () => (text.slice(text.indexOf('event: resync')).includes(after) ? true : undefined));
      // Each time the socket's buffer filled while changes kept coming, the stream skipped them
      // and sent one resync when it drained: fewer task events arrived than were emitted.
      const resyncs = text.split('event: resync').length - 1;
      const taskEvents = text.split('event: task').length - 1;
      assert.ok(resyncs >= 1 && resyncs < taskEvents, `${resyncs} resyncs, ${taskEvents} task events`);
      assert.ok(taskEvents < emitted, `${taskEvents} of ${emitted} changes written`);
    } finally {
      res.destroy();
    }
  });
});

describe('live event streams and the gateway closing', () => {
  test('gateway.close() ends every open stream and does not hang', async () => {
    const t = await startGateway();
    const streams = [await openEvents(t.url, '/admin/events', ADMIN_TOKEN), await openEvents(t.url, '/v1/account/events', t.token)];
    assert.equal(t.gw.liveEvents.size, 2);
    await t.close();
    await Promise.all(streams.map((s) => s.ended));
    assert.equal(t.gw.liveEvents.size, 0);
    removeDir(t.dataDir);
  });
});

const skipNodes = (await postgresUnavailable()) ?? (await redisUnavailable()) ?? false;

describe('live events across nodes (Postgres + Redis)', { skip: skipNodes }, () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let a: TestGateway;
  let b: TestGateway;
  before(async () => {
    db = await freshDatabase();
    a = await startGateway({ config: { databaseUrl: db.url, redisUrl: REDIS_URL } });
    b = await startGateway({ config: { databaseUrl: db.url, redisUrl: REDIS_URL, dispatch: { enabled: false } } });
    await until('both nodes subscribed to Redis', () => (a.gw.coordination.feed?.complete && b.gw.coordination.feed?.complete ? true : undefined), 5_000);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  test('a task created and run on node A reaches a stream on node B, in order', async () => {
    const admin = await openEvents(b.url, '/admin/events', ADMIN_TOKEN);
    const mine = await openEvents(b.url, '/v1/account/events', a.token);
    const stranger = await openEvents(b.url, '/v1/account/events', b.token);
    try {
      const id = await createTask(a);
      await until('B\'s admin stream to show the task finished', () => sawFinished(admin, id));
      await until('B\'s owner stream to show it finished', () => sawFinished(mine, id));
      for (const s of [admin, mine]) {
        const states = statesOf(s, id);
        const order = ['queued', 'running', 'succeeded'];
        assert.deepEqual(states, [...states].sort((x, y) => order.indexOf(x) - order.indexOf(y)), `in order: ${states.join(' → ')}`);
      }
      assert.deepEqual(statesOf(stranger, id), [], 'another account on B does not see it');
    } finally {
      for (const s of [admin, mine, stranger]) s.close();
    }
  });
});
