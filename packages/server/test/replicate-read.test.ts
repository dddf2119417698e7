/** The Replicate dialect over raw HTTP: stream, list and errors. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startGateway, waitForTask, type Reply, type TestGateway } from './helpers.js';
import { FLUX, SLOW, readSse, assertProblem, SERVICES } from './replicate-shared.js';

describe('Replicate dialect: stream, list, errors', () => {
  let t: TestGateway;
  let other: string;
  before(async () => {
    t = await startGateway({ services: SERVICES });
    other = (await t.gw.tokens.create('other')).token;
  });
  after(() => t.close());

  test('stream: SSE logs, output and done, by capability URL (no token) or with the owner’s token', async () => {
    const r = await t.call('POST', '/v1/predictions', { body: { version: SLOW, input: { prompt: 'streamed' } } });
    const s = await readSse(r.json.urls.stream);
    assert.equal(s.status, 200);
    assert.match(s.type ?? '', /^text\/event-stream/);
    const names = s.events.map((e) => e.event);
    assert.deepEqual(names, ['logs', 'logs', 'logs', 'logs', 'output', 'done']);
    assert.equal(s.events[0]?.data, 'rendering: step 1/4');
    const done = await t.call('GET', `/v1/predictions/${r.json.id}`);
    assert.equal(s.events[4]?.data, done.json.output[0]);
    assert.equal(s.events[5]?.data, '{}');

    // Finished already: the whole story at once. The owner's token works without the key.
    const replay = await readSse(`${t.url}/v1/predictions/${r.json.id}/stream`, { authorization: `Bearer ${t.token}` });
    assert.deepEqual(replay.events, s.events);

    assert.ok(!r.json.urls.stream.includes(t.ownerId), 'the capability URL does not reveal the owner');
    const wrongKey = r.json.urls.stream.replace(/key=[^&]+$/, 'key=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    const denied = await t.call('GET', new URL(wrongKey).pathname + new URL(wrongKey).search, { token: null });
    assertProblem(denied, 404, 'Not found');
    assertProblem(await t.call('GET', `/v1/predictions/${r.json.id}/stream`, { token: null }), 401, 'Unauthenticated');
    assertProblem(await t.call('GET', `/v1/predictions/${r.json.id}/stream`, { token: other }), 404, 'Not found');
  });

  test('stream and status of failed and canceled predictions', async () => {
    const failed = await t.call('POST', '/v1/predictions', {
      body: { version: FLUX, input: { prompt: 'a forbidden-demo-word' } }, headers: { prefer: 'wait' },
    });
    assert.equal(failed.status, 201);
    assert.equal(failed.json.status, 'failed');
    assert.equal(failed.json.error, 'The prompt was rejected by content moderation');
    assert.equal(failed.json.output, null);
    const fs = await readSse(failed.json.urls.stream);
    assert.deepEqual(fs.events.slice(-2), [
      { event: 'error', data: JSON.stringify({ detail: failed.json.error }) },
      { event: 'done', data: JSON.stringify({ reason: 'error' }) },
    ]);

    const live = await t.call('POST', '/v1/predictions', { body: { version: SLOW, input: { prompt: 'cancel while streaming' } } });
    const reading = readSse(live.json.urls.stream);
    await waitForTask(t.gw, t.ownerId, live.json.id, (x) => x.state === 'running');
    await t.call('POST', `/v1/predictions/${live.json.id}/cancel`);
    const cs = await reading;
    assert.deepEqual(cs.events.at(-1), { event: 'done', data: JSON.stringify({ reason: 'canceled' }) });
    assert.ok(!cs.events.some((e) => e.event === 'output'));
  });

  test('list: 100 per page newest first, cursor URLs, only this token’s predictions of exposed models', async () => {
    const q = await startGateway({ config: { dispatch: { enabled: false } } });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 103; i++) {
        const r = await q.call('POST', `/v1/models/${FLUX}/predictions`, { body: { input: { prompt: `p${i}` } } });
        assert.equal(r.status, 201);
        ids.push(r.json.id);
      }
      // The same service through the task API is a prediction too; Midjourney (no Replicate model) is not.
      const viaTaskApi = (await q.call('POST', '/v1/flux/dev', { body: { prompt: 'task api', async: true } })).json.task_id;
      ids.push(viaTaskApi);
      await q.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'not a prediction', async: true } });
      const { token: stranger } = await q.gw.tokens.create('stranger');
      await q.call('POST', `/v1/models/${FLUX}/predictions`, { body: { input: { prompt: 'someone else' } }, token: stranger });

      const first = await q.call('GET', '/v1/predictions');
      assert.equal(first.status, 200, first.text);
      assert.deepEqual(Object.keys(first.json).sort(), ['next', 'previous', 'results']);
      assert.equal(first.json.previous, null);
      assert.equal(first.json.results.length, 100);
      assert.match(first.json.next, new RegExp(`^${q.url}/v1/predictions\\?cursor=`));
      const p0 = first.json.results[0];
      assert.equal(p0.id, viaTaskApi);
      assert.deepEqual([p0.model, p0.status, p0.logs], [FLUX, 'starting', undefined], 'list items carry no logs, like Replicate’s');
      assert.deepEqual(p0.input, { prompt: 'task api', width: 64, height: 64 }, 'a task of another dialect shows its provider input');
      assert.equal(p0.urls.stream, undefined, 'no stream key: not created here');
      const second = await q.call('GET', new URL(first.json.next).pathname + new URL(first.json.next).search);
      assert.equal(second.json.results.length, 4);
      assert.equal(second.json.next, null);
      const listed = [...first.json.results, ...second.json.results].map((p: { id: string }) => p.id);
      assert.deepEqual(listed, [...ids].reverse(), 'every prediction once, newest first');

      const theirs = await q.call('GET', '/v1/predictions', { token: stranger });
      assert.equal(theirs.json.results.length, 1);
      assertProblem(await q.call('GET', '/v1/predictions?cursor=not%20an%20id'), 400, 'Bad request');
    } finally {
      await q.close();
    }
  });

  test('errors: 401 without or with a wrong token; unknown, foreign and non-prediction ids are the same 404', async () => {
    const mine = (await t.call('POST', '/v1/predictions', { body: { version: FLUX, input: { prompt: 'mine' } } })).json.id;
    const mj = (await t.call('POST', '/v1/midjourney/imagine', { body: { prompt: 'not a prediction', async: true } })).json.task_id;
    for (const [method, path] of [['GET', '/v1/predictions'], ['GET', `/v1/predictions/${mine}`], ['POST', `/v1/predictions/${mine}/cancel`], ['POST', '/v1/predictions']]) {
      const none = await t.call(method!, path!, { token: null, body: method === 'POST' ? {} : undefined });
      assertProblem(none, 401, 'Unauthenticated');
      const wrong = await t.call(method!, path!, { token: 'tg_wrong', raw: method === 'POST' ? '{not json' : undefined });
      assertProblem(wrong, 401, 'Unauthenticated');
      assert.equal(wrong.json.detail, 'You did not pass a valid authentication token', 'auth is checked before the body is read');
    }
    const answers: Reply[] = [];
    for (const [id, token] of [['01890000-0000-7000-8000-000000000000', undefined], [mine, other], [mj, undefined]] as const) {
      answers.push(await t.call('GET', `/v1/predictions/${id}`, { token }));
      answers.push(await t.call('POST', `/v1/predictions/${id}/cancel`, { token }));
    }
    for (const a of answers) assertProblem(a, 404, 'Not found');
    assert.equal(new Set(answers.map((a) => a.text)).size, 1, 'all six 404 bodies are identical');
    assert.equal((await t.gw.tasks.get(t.ownerId, mine))?.state !== 'cancelled', true, 'the foreign cancel did nothing');
  });

  test('errors: malformed JSON 400, invalid input 422 naming the field, never a 500', async () => {
    assertProblem(await t.call('POST', '/v1/predictions', { raw: '{"version": ' }), 400, 'Bad request');
    assertProblem(await t.call('POST', '/v1/predictions', { raw: '' }), 400, 'Bad request');
    assertProblem(await t.call('POST', '/v1/predictions', { raw: '[1,2]' }), 400, 'Bad request');
    assertProblem(await t.call('POST', '/v1/predictions', { raw: 'x'.repeat(1_100_000) }), 400, 'Bad request');

    const cases: Array<[unknown, string[]]> = [
      [{ version: FLUX, input: { prompt: '' } }, ['input.prompt']],
      [{ version: FLUX, input: { prompt: 'x', width: 'wide' } }, ['input.width']],
      [{ version: FLUX }, ['input']],
      [{ version: FLUX, input: ['prompt'] }, ['input']],
      [{ input: { prompt: 'x' } }, ['version']],
      [{ version: 7, input: { prompt: 'x' } }, ['version']],
      [{ version: FLUX, inptu: { prompt: 'x' } }, ['inptu', 'input']],
      [{ version: FLUX, input: { prompt: 'x' }, stream: 'yes' }, ['stream']],
    ];
    for (const [body, fields] of cases) {
      const r = await t.call('POST', '/v1/predictions', { body });
      assertProblem(r, 422, 'Input validation failed');
      assert.deepEqual(r.json.invalid_fields.map((f: { field: string }) => f.field), fields, JSON.stringify(body));
      for (const f of fields) assert.ok(r.json.detail.includes(`- ${f}: `), r.json.detail);
    }
    const viaModel = await t.call('POST', `/v1/models/${FLUX}/predictions`, { body: { version: FLUX, input: { prompt: 'x' } } });
    assert.deepEqual(viaModel.json.invalid_fields.map((f: { field: string }) => f.field), ['version'], 'the model route takes no version');

    // Anything else odd: a problem body and a 4xx, never a 500.
    const odd: Array<[string, string, { raw?: string; headers?: Record<string, string> }]> = [
      ['POST', '/v1/predictions', { raw: 'null' }],
      ['POST', '/v1/predictions', { raw: '"text"' }],
      ['POST', '/v1/predictions', { raw: '{"version":"a/b/c","input":{}}' }],
      ['POST', '/v1/predictions', { raw: '{"version":"","input":{}}' }],
      ['POST', '/v1/predictions', { raw: '{"__proto__":{"x":1},"version":"a/b","input":{}}' }],
      ['POST', `/v1/models/${FLUX}/predictions`, { raw: '{"input":{"prompt":"x","seed":-1}}' }],
      ['POST', `/v1/models/${FLUX}/predictions`, { raw: '{"input":{"prompt":"x"}}', headers: { prefer: 'wait=abc' } }],
      ['GET', '/v1/predictions?cursor=%00', {}],
      ['GET', '/v1/predictions?cursor=a&cursor=b', {}],
      ['GET', `/v1/predictions/${'x'.repeat(100)}`, {}],
      ['POST', `/v1/predictions/${'%20'.repeat(10)}/cancel`, { raw: '{}' }],
      ['GET', '/v1/predictions/x/stream?key=.', {}],
    ];
    for (const [method, path, opts] of odd) {
      const r = await t.call(method, path, opts);
      assert.ok(r.status >= 400 && r.status < 500, `${method} ${path} ${opts.raw ?? ''} → ${r.status} ${r.text}`);
      assert.match(r.headers.get('content-type') ?? '', /^application\/problem\+json/, `${method} ${path}`);
      assert.equal(r.json.status, r.status);
    }
    // text/plain JSON bodies are read like JSON (as everywhere in the gateway).
    const plain = await t.call('POST', '/v1/predictions', { raw: JSON.stringify({ version: FLUX, input: { prompt: 'plain' } }), headers: { 'content-type': 'text/plain' } });
    assert.equal(plain.status, 201);
  });
});

