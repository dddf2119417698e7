/**
 * The OpenAPI document (`GET /openapi.json`, no token) lists every route the gateway registered
 * (Fastify's onRoute, collected by the gateway itself) with a summary, except the docs page's own
 * assets; each service's create paths carry the input schema its provider validates with, and the
 * gateway refuses what that schema refuses. `GET /docs` answers the swagger-ui page, offline.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { removeDir, startGateway, type TestGateway } from './helpers.js';

/** Fastify's `/:id` and trailing `/*` as OpenAPI path templates (written out here, not imported). */
const template = (url: string): string => url.replace(/:(\w+)/g, '{$1}').replace(/\*$/, '{path}');
/** Routes deliberately left out of the document: the docs page and its assets. */
const hidden = (url: string): boolean => url === '/docs' || url.startsWith('/docs/');

describe('the OpenAPI document', () => {
  let t: TestGateway;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON document
  let doc: any;
  before(async () => {
    t = await startGateway({
      config: { publicUrl: 'http://127.0.0.1:1' },
      services: { 'relay/img': { channels: [{ name: 'up', provider: 'task-api', baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'k', model: 'a/b' }] } },
    });
    const r = await t.call('GET', '/openapi.json', { token: null });
    assert.equal(r.status, 200);
    doc = r.json;
  });
  after(async () => {
    await t.close();
    removeDir(t.dataDir);
  });

  test('is OpenAPI 3.1 for this version', () => {
    assert.equal(doc.openapi, '3.1.0');
    assert.equal(doc.info.title, 'taskgate');
    assert.ok(doc.components.securitySchemes.token && doc.components.securitySchemes.admin);
  });

  test('every registered route is in it with a summary and a tag (HEAD routes are their GET; /docs assets hidden)', () => {
    const routes = t.gw.routes.filter((r) => r.method !== 'HEAD' && !hidden(r.url));
    assert.ok(routes.length >= 40, `routes seen: ${routes.length}`);
    for (const dialect of ['/v1/:service/:action', '/api/v1/generateTask/:model', '/v1/queue/*', '/v1/predictions', '/admin/tokens', '/v1/account/balance', '/v1/upstream/callbacks/:task/:sig', '/files/*', '/readyz']) {
      assert.ok(routes.some((r) => r.url === dialect), `the route list holds ${dialect}`);
    }
    const missing: string[] = [];
    for (const { method, url } of routes) {
      const path = template(url);
      const item = doc.paths[path] ?? doc.paths[path.endsWith('/') ? path.slice(0, -1) : `${path}/`];
      const op = item?.[method.toLowerCase()];
      if (!op?.summary || !op.tags?.length) missing.push(`${method} ${url}`);
    }
    assert.deepEqual(missing, [], 'routes missing from the document (or undocumented)');
    assert.ok(!Object.keys(doc.paths).some((p) => p.startsWith('/docs')), 'the docs page is not in the document');
  });

  test('each service has its create paths, with the input schema its provider validates', async () => {
    for (const def of t.gw.tasks.services.all()) {
      const op = doc.paths[`/v1/${def.name}`]?.post;
      assert.ok(op, `/v1/${def.name}`);
      const [input, envelope] = op.requestBody.content['application/json'].schema.allOf;
      const { title, ...schema } = input;
      assert.equal(title, def.name);
      assert.deepEqual(schema, def.provider.inputSchema);
      assert.ok(envelope.properties.callback_url && envelope.properties.async);
      for (const alias of def.aliases.apixo ?? []) assert.ok(doc.paths[`/api/v1/generateTask/${alias}`]?.post, alias);
      for (const alias of def.aliases.queue ?? []) assert.ok(doc.paths[`/v1/queue/${alias}`]?.post, alias);
      for (const alias of def.aliases.replicate ?? []) assert.ok(doc.paths[`/v1/models/${alias}/predictions`]?.post, alias);
    }
    // What the document says is what is enforced: one character over the documented maximum is refused.
    const image = doc.paths['/v1/demo/image'].post.requestBody.content['application/json'].schema.allOf[0];
    const max = image.properties.prompt.maxLength as number;
    assert.equal(max, 8000);
    assert.deepEqual(image.required, ['prompt']);
    const over = await t.call('POST', '/v1/demo/image', { body: { prompt: 'x'.repeat(max + 1) } });
    assert.equal(over.status, 400);
    assert.match(over.json.error.message, /prompt/);
    const missing = await t.call('POST', '/v1/demo/image', { body: {} });
    assert.equal(missing.status, 400);
    // A relayed service passes its input on: documented as any object.
    assert.deepEqual(doc.paths['/v1/relay/img'].post.requestBody.content['application/json'].schema.allOf[0].additionalProperties, true);
    // The Replicate model path documents `input` as the service's input, and Prefer: wait.
    const flux = doc.paths['/v1/models/black-forest-labs/flux-dev/predictions'].post;
    assert.deepEqual(flux.requestBody.content['application/json'].schema.properties.input.properties.prompt.maxLength, max);
    assert.ok(flux.parameters.some((p: { name: string; in: string }) => p.name === 'prefer' && p.in === 'header'));
  });

  test('envelope fields are documented with the limits the dialects enforce', async () => {
    const body = (path: string) => doc.paths[path].post.requestBody.content['application/json'].schema;
    const apixo = body('/api/v1/generateTask/flux-dev');
    assert.deepEqual(apixo.properties.request_type.enum, ['async', 'callback']);
    assert.deepEqual(apixo.required, ['input']);
    const replicate = body('/v1/predictions');
    assert.equal(replicate.additionalProperties, false);
    assert.deepEqual(replicate.properties.webhook_events_filter.items.enum, ['start', 'output', 'logs', 'completed']);
    assert.ok(replicate.required.includes('version'));
    const maxUrl = replicate.properties.webhook.maxLength as number;
    const long = await t.call('POST', '/v1/predictions', { body: { version: 'black-forest-labs/flux-dev', input: { prompt: 'x' }, webhook: `http://127.0.0.1/${'a'.repeat(maxUrl)}`, webhook_events_filter: ['nope'] } });
    assert.equal(long.status, 422);
    assert.deepEqual(long.json.invalid_fields.map((f: { field: string }) => f.field).sort(), ['webhook', 'webhook_events_filter']);
    const tasks = doc.paths['/v1/{service}/{action}'].post.requestBody.content['application/json'].schema.anyOf.at(-1).anyOf;
    const batch = tasks.find((v: { properties: { action: { enum: string[] } } }) => v.properties.action.enum[0] === 'retrieve_batch');
    const tooMany = await t.call('POST', '/v1/demo/tasks', { body: { action: 'retrieve_batch', ids: Array.from({ length: batch.properties.ids.maxItems + 1 }, (_, i) => `t${i}`) } });
    assert.equal(tooMany.status, 400);
    assert.match(tooMany.json.error.message, /at most 100/);
  });

  test('documentation schemas do not validate: bad bodies keep their dialect envelopes', async () => {
    const apixo = await t.call('POST', '/api/v1/generateTask/flux-dev', { body: { request_type: 'nope' } });
    assert.equal(apixo.status, 400);
    assert.equal(apixo.json.code, 400);
    assert.match(apixo.json.data.error, /request_type/);
    const replicate = await t.call('POST', '/v1/models/black-forest-labs/flux-dev/predictions', { body: { input: 'x', extra: 1 } });
    assert.equal(replicate.status, 422);
    assert.deepEqual(replicate.json.invalid_fields.map((f: { field: string }) => f.field).sort(), ['extra', 'input']);
  });

  test('GET /docs answers the swagger-ui page without a token, its assets served locally', async () => {
    const page = await t.call('GET', '/docs', { token: null });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.text, /<title>Swagger UI<\/title>/);
    const bundle = await t.call('GET', '/docs/static/swagger-ui-bundle.js', { token: null });
    assert.equal(bundle.status, 200);
    assert.match(bundle.headers.get('content-type') ?? '', /javascript/);
    const init = await t.call('GET', '/docs/static/swagger-initializer.js', { token: null });
    assert.equal(init.status, 200);
  });
});
