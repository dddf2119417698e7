/**
 * The README and docs are written for users: they name the public protocols rather than the
 * internal "seed" documents, the input limits the README states are the limits the providers
 * enforce (read back from the code, never restated here), and `GET /healthz` answers as documented.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULT_SERVICES } from '../src/config/schema.js';
import { GatewayError } from '../src/core/errors.js';
import type { JsonObject } from '../src/core/types.js';
import { MAX_CALLBACK_URL, parseCallbackUrl } from '../src/http/callback-url.js';
import { createProvider } from '../src/providers/index.js';
import { startGateway } from './helpers.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const README = readFileSync(join(REPO, 'README.md'), 'utf8');

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return markdownFiles(path);
    return e.name.endsWith('.md') ? [path] : [];
  });
}

test('README and docs never point readers at the internal seed documents', () => {
  const files = [join(REPO, 'README.md'), ...markdownFiles(join(REPO, 'docs'))];
  assert.ok(files.length > 1, 'docs/ holds markdown files');
  // "seed 002", "seeds 000/001/003", "Seed 001's", "the seeds' own flow", "the seed documents"
  const patterns = [/\bseeds?\s*\d/i, /\bseeds?['’]/i, /\bseed (?:document|file)s?\b/i];
  const hits: string[] = [];
  for (const file of files) {
    readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
      if (patterns.some((p) => p.test(line))) hits.push(`${relative(REPO, file)}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(hits, []);
});

test('README names the four public protocols and where their documentation lives', () => {
  for (const name of ['XHuoAPI-style task API', 'APIXO', 'fal-style queue API', "Replicate's predictions API"]) {
    assert.ok(README.includes(name), `README names the ${name}`);
  }
  // The only public documentation address the platforms' own pages give.
  assert.match(README, /https:\/\/docs\.xhuoapi\.ai\/llms\.txt/);
  assert.match(README, /APIXO Docs/);
});

// ---- input limits -------------------------------------------------------------------------

const STRING_FIELDS = new Set(['prompt', 'lyric', 'title']);
const SERVICE_NAMES = Object.keys(DEFAULT_SERVICES);

interface LimitRow {
  line: string;
  fields: string[];
  services: string[];
  min: number;
  max: number;
  integer: boolean;
  required: boolean;
  /** Surrounding whitespace does not count towards the limit. */
  trimmed: boolean;
}

const num = (text: string): number => Number(text.replace(/,/g, ''));

/** The rows of the README's input-limits table. */
function limitRows(): LimitRow[] {
  const start = README.indexOf('**Input limits.**');
  assert.ok(start >= 0, 'README has an **Input limits.** paragraph');
  const lines = README.slice(start).split('\n');
  const first = lines.findIndex((l) => l.startsWith('| field |'));
  assert.ok(first >= 0, 'the input limits come as a table');
  const rows: LimitRow[] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    const [fieldCell = '', limit = '', serviceCell = ''] = line.split('|').slice(1).map((c) => c.trim());
    const fields = [...fieldCell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    const named = [...serviceCell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    const services = named.length > 0 ? named : /\bevery service\b/.test(serviceCell) ? SERVICE_NAMES : [];
    const range = /(\d[\d,]*(?:\.\d+)?)–(\d[\d,]*(?:\.\d+)?)/.exec(limit);
    const atMost = /at most (\d[\d,]*)/.exec(limit);
    assert.ok(range || atMost, `a range or "at most N" in: ${line}`);
    assert.ok(fields.length > 0 && services.length > 0, `fields and services in: ${line}`);
    rows.push({
      line, fields, services,
      min: range ? num(range[1]!) : STRING_FIELDS.has(fields[0]!) ? 0 : -Infinity,
      max: range ? num(range[2]!) : num(atMost![1]!),
      integer: /\binteger\b/.test(limit),
      required: /\brequired\b/.test(limit),
      trimmed: /\btrimmed\b/.test(limit),
    });
  }
  return rows;
}

function providerOf(service: string) {
  const svc = DEFAULT_SERVICES[service];
  assert.ok(svc?.provider, `README names a built-in service: ${service}`);
  return createProvider(svc.provider, svc.options);
}

/** The provider's refusal of `input` (a `bad_request`), or null when it accepts it. */
function refusal(service: string, input: JsonObject): GatewayError | null {
  const provider = providerOf(service);
  try {
    provider.parseInput(input);
    return null;
  } catch (err) {
    assert.ok(err instanceof GatewayError, `a GatewayError, got ${String(err)}`);
    assert.equal(err.code, 'bad_request');
    return err;
  }
}

function assertAccepts(service: string, input: JsonObject, why: string): void {
  assert.equal(refusal(service, input)?.message ?? null, null, `${service} accepts ${why}`);
}

function assertRefuses(service: string, input: JsonObject, field: string, why: string): void {
  const err = refusal(service, input);
  assert.ok(err, `${service} refuses ${why}`);
  assert.ok(err.message.startsWith(`Invalid field ${field}:`), `${service}: "${err.message}" names ${field}`);
}

test('the input limits the README states are the ones the providers enforce', () => {
  const rows = limitRows();
  const covered = new Set<string>();
  for (const row of rows) {
    for (const service of row.services) {
      for (const field of row.fields) {
        covered.add(`${service} ${field}`);
        const isString = STRING_FIELDS.has(field);
        const value = (n: number) => (isString ? 'x'.repeat(n) : n);
        const step = isString || row.integer ? 1 : 0.01;
        const base: JsonObject = field === 'prompt' ? {} : { prompt: 'a red fox' };
        const withValue = (n: number): JsonObject => ({ ...base, [field]: value(n) });
        const at = (n: number) => `${isString ? `a ${field} of ${n} characters` : `${field} = ${n}`} (${row.line})`;
        assertAccepts(service, withValue(row.max), at(row.max));
        assertRefuses(service, withValue(row.max + step), field, at(row.max + step));
        if (Number.isFinite(row.min) && !(isString && row.min === 0)) {
          assertAccepts(service, withValue(row.min), at(row.min));
          assertRefuses(service, withValue(row.min - step), field, at(row.min - step));
        }
        if (row.trimmed) assertAccepts(service, { ...base, [field]: `  ${value(row.max) as string}  ` }, `${at(row.max)}, padded with spaces`);
        if (row.integer) assertRefuses(service, withValue(row.min + 0.5), field, `a fractional ${field} (${row.line})`);
        else if (!isString) assertAccepts(service, withValue(row.min + 0.25), `a fractional ${field} (${row.line})`);
        if (row.required) assertRefuses(service, base, field, `a missing ${field} (${row.line})`);
        else assertAccepts(service, base, `a missing ${field} (${row.line})`);
      }
    }
  }
  // Every built-in service has its prompt limit documented, and the limits the issue asked for
  // (audio duration, image and video sizes) are there.
  for (const [service, svc] of Object.entries(DEFAULT_SERVICES)) {
    const fields = svc.provider === 'demo-audio' ? ['prompt', 'duration'] : ['prompt', 'width', 'height'];
    for (const field of fields) assert.ok(covered.has(`${service} ${field}`), `README states the ${field} limit of ${service}`);
  }

  // fal's image_size {width, height} shares the image width/height range, as the README says.
  assert.match(README, /`image_size`[\s\S]{0,200}`\{width, height\}` in the\s+same (\d+)–(\d+) range/);
  const [, lo, hi] = /`\{width, height\}` in the\s+same (\d+)–(\d+) range/.exec(README)!;
  const imageRow = rows.find((r) => r.fields.includes('width') && r.services.includes('flux/dev'));
  assert.deepEqual([num(lo!), num(hi!)], [imageRow?.min, imageRow?.max]);
  assertAccepts('flux/dev', { prompt: 'a', image_size: { width: num(hi!), height: num(lo!) } }, 'image_size at its limits');
  assertRefuses('flux/dev', { prompt: 'a', image_size: { width: num(hi!) + 1, height: num(lo!) } }, 'image_size.width', 'image_size past its limit');
});

test('the callback URL limit the README states is the one the gateway enforces', () => {
  const stated = /callback\s+URL \([^)]*\) is at most ([\d,]+) characters/.exec(README);
  assert.ok(stated, 'README states the callback URL limit');
  assert.equal(num(stated[1]!), MAX_CALLBACK_URL);
  const url = (n: number): string => `https://example.com/${'a'.repeat(n - 'https://example.com/'.length)}`;
  assert.equal(parseCallbackUrl(url(num(stated[1]!)), 'Field callback_url'), url(num(stated[1]!)));
  assert.throws(() => parseCallbackUrl(url(num(stated[1]!) + 1), 'Field callback_url'), GatewayError);
});

test('each dialect refuses a too-long prompt as the README says, and GET /healthz answers as documented', async () => {
  const promptRow = limitRows().find((r) => r.fields.includes('prompt') && r.services.includes('flux/dev'));
  assert.ok(promptRow);
  const tooLong = 'x'.repeat(promptRow.max + 1);
  const status = (dialect: string): number => {
    const m = new RegExp(`^- ${dialect}: (\\d{3}) `, 'm').exec(README);
    assert.ok(m, `README states the ${dialect} refusal`);
    return Number(m[1]);
  };
  const taskApiExample = /^- task API: \d{3} `(\{.*\})`;$/m.exec(README);
  assert.ok(taskApiExample, 'README shows the task API refusal');
  const example = JSON.parse(taskApiExample[1]!.replace(/, "trace_id"\}$/, '}')) as { error: { code: string; message: string } };

  const health = /\/healthz\n# → (\{.*\})\n/.exec(README);
  assert.ok(health, 'README shows what GET /healthz answers');
  assert.match(README, /`GET \/healthz` needs no token/);

  const t = await startGateway();
  try {
    const h = await t.call('GET', '/healthz', { token: null });
    assert.equal(h.status, 200);
    assert.deepEqual(h.json, JSON.parse(health[1]!));

    const task = await t.call('POST', '/v1/flux/dev', { body: { prompt: tooLong } });
    assert.equal(task.status, status('task API'));
    assert.deepEqual(task.json.error, example.error);
    const apixo = await t.call('POST', '/api/v1/generateTask/flux-dev', { body: { input: { prompt: tooLong } } });
    assert.equal(apixo.status, status('APIXO'));
    assert.match(apixo.json.data.error, /^Invalid field input\.prompt: /);
    const queue = await t.call('POST', '/v1/queue/fal-ai/flux/dev', { body: { prompt: tooLong } });
    assert.equal(queue.status, status('queue'));
    assert.match(queue.json.detail, /^Invalid field prompt: /);
    const replicate = await t.call('POST', '/v1/models/black-forest-labs/flux-dev/predictions', { body: { input: { prompt: tooLong } } });
    assert.equal(replicate.status, status('Replicate'));
    assert.equal(replicate.json.invalid_fields[0].field, 'input.prompt');
  } finally {
    await t.close();
  }
});
