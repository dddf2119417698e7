/**
 * The stored history of `npm run bench:history`: what the rows look like, and the bulk SQL that
 * writes them straight into a driver's own tables (every column of the real `tasks` schema).
 * One SQL text serves both drivers; the few functions that differ come from a SqlDialect.
 *
 * Row i of `count` finished tasks (85 % succeeded, 10 % failed, 5 % cancelled) was created at
 * T0 + i × step, over the 90 days before the run, so ids (UUID v7 shaped: the creation time, then
 * i) are in time order as the gateway's are. Owners are skewed (owner n ∝ r², so owner 0, the
 * biggest, holds about 2.2 % of the history); services are uniform over 24. Request, input and
 * output are JSON text of a few hundred bytes each; each succeeded task has one output file in
 * `task_files`. Then a small live set: running tasks leased by other workers, queued tasks due
 * tomorrow (scheduled) and queued tasks due now in services this bench does not claim.
 */

export const SERVICES = [
  'flux/schnell', 'flux/dev', 'sdxl/base', 'midjourney/imagine', 'kling/video', 'suno/music',
  'flux/pro', 'sd3/medium', 'ideogram/v2', 'recraft/v3', 'luma/dream', 'runway/gen3',
  'minimax/video', 'hunyuan/video', 'udio/music', 'elevenlabs/tts', 'openai/image', 'imagen/v3',
  'playground/v25', 'kolors/base', 'pixart/sigma', 'aura/flow', 'wan/video', 'mochi/video',
] as const;
/** The services the claim rounds serve (the history covers them like every other). */
export const CLAIM_SERVICES: readonly string[] = SERVICES.slice(0, 6);
export const OWNERS = 2_000;
const SPAN_MS = 90 * 24 * 3_600_000;
const DAY_MS = 24 * 3_600_000;
/** The live set: running tasks (other workers' live leases), scheduled queued ones, queued ones due in other services. */
export const LIVE = { running: 100, scheduled: 200, dueElsewhere: 100 } as const;
export const LIVE_TOTAL = LIVE.running + LIVE.scheduled + LIVE.dueElsewhere;

export interface Shape {
  /** Finished tasks. */
  count: number;
  /** The run's start (Unix ms): history ends 10 minutes before it. */
  tEnd: number;
}

/** Milliseconds between two consecutive finished tasks. */
const step = (s: Shape): number => Math.floor(SPAN_MS / s.count);
const t0 = (s: Shape): number => s.tEnd - 600_000 - s.count * step(s);

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');

/** The owner id of owner n (UUID shaped, like the gateway's account ids). */
export const ownerId = (n: number): string => `${hex(n, 8)}-0000-4000-8000-${hex(n, 12)}`;

/** The id of stored task i (finished: i < count; live: count ≤ i < count + LIVE_TOTAL), as the SQL writes it. */
export function taskId(s: Shape, i: number): string {
  const created = i < s.count ? t0(s) + i * step(s) : s.tEnd - 600_000 + (i - s.count) * 1000;
  return `${hex(Math.floor(created / 65536), 8)}-${hex(created % 65536, 4)}-7000-8000-${hex(i, 12)}`;
}

/** What differs between SQLite's SQL and Postgres's. */
export interface SqlDialect {
  /** A uniform random number in [0, 1). */
  rnd: string;
  /** The integer part of a non-negative expression. */
  int(e: string): string;
  /** Lower-case hex, zero-padded to `width`. */
  hex(e: string, width: number): string;
  substr(s: string, start: string, len: string): string;
  /** The CTE body of the integers from..to-1, as column `i`. */
  seq(from: number, to: number): string;
  /** The first output file's id of a `tasks.output` text. */
  firstFileId(col: string): string;
}

export const sqliteDialect: SqlDialect = {
  rnd: '((abs(random()) % 1000000000) / 1000000000.0)',
  int: (e) => `CAST((${e}) AS INTEGER)`,
  hex: (e, w) => `printf('%0${w}x', ${e})`,
  substr: (s, start, len) => `substr(${s}, ${start}, ${len})`,
  seq: (from, to) => `SELECT ${from} AS i UNION ALL SELECT i + 1 FROM seq WHERE i < ${to - 1}`,
  firstFileId: (col) => `json_extract(${col}, '$.files[0].id')`,
};

export const postgresDialect: SqlDialect = {
  rnd: 'random()',
  int: (e) => `floor(${e})::bigint`,
  hex: (e, w) => `lpad(to_hex((${e})::bigint), ${w}, '0')`,
  substr: (s, start, len) => `substr(${s}, (${start})::int, (${len})::int)`,
  seq: (from, to) => `SELECT g AS i FROM generate_series(${from}::bigint, ${to - 1}::bigint) AS g`,
  firstFileId: (col) => `(${col}::json #>> '{files,0,id}')`,
};

const COLUMNS = `id, owner_id, service, dialect, state, request, input, output, error_code, error_message, trace_id, callback_url,
  progress, progress_message, created_at, started_at, finished_at, run_after, deadline_at, lease_owner, lease_expires_at,
  attempts, meta, webhook_events, origin, price, follow_up`;

/** Prompt text the requests take slices of (no quotes or backslashes: it goes into JSON as is). */
const PROMPTS =
  'a lighthouse on a rocky cliff at dusk, dramatic clouds, volumetric light, ultra detailed, 35mm film grain, ' +
  'portrait of an old fisherman with a weathered face, soft window light, shallow depth of field, kodak portra, ' +
  'isometric cutaway of a cozy bakery, warm colors, tiny people, octane render, 8k, trending on artstation, ' +
  'a red fox sleeping in fresh snow under pine trees, morning mist, telephoto lens, national geographic style, ' +
  'futuristic city skyline with flying trams, neon reflections on wet streets, cinematic, blade runner mood, ' +
  'watercolor botanical illustration of wild roses and bees, cream paper texture, delicate linework, vintage, ' +
  'product shot of a ceramic coffee mug on a marble table, studio lighting, minimal, high key, commercial photo';

const serviceCase = (n: string): string =>
  `CASE ${n} ${SERVICES.map((s, k) => `WHEN ${k} THEN '${s}'`).join(' ')} END`;
const dialectCase = (n: string): string =>
  `CASE ${n} % 4 WHEN 0 THEN 'task-api' WHEN 1 THEN 'queue' WHEN 2 THEN 'replicate' ELSE 'apixo' END`;

/** The JSON request and input of a row whose draws are `rp` (prompt, seed) and `rx` (length). */
function bodies(d: SqlDialect): { request: string; input: string; seed: string } {
  const prompt = d.substr(`'${PROMPTS}'`, `1 + ${d.int('rp * 300')}`, `80 + ${d.int('rx * 160')}`);
  const seed = d.int('rp * 4294967295');
  const neg = '"negative_prompt":"blurry, low quality, extra fingers, watermark, text, jpeg artifacts"';
  return {
    seed,
    request: `'{"prompt":"' || ${prompt} || '",${neg},"aspect_ratio":"' || CASE ${d.int('rd * 3')} WHEN 0 THEN '1:1' WHEN 1 THEN '16:9' ELSE '2:3' END
      || '","seed":' || ${seed} || ',"quality":"hd","async":true}'`,
    input: `'{"prompt":"' || ${prompt} || '",${neg},"width":1024,"height":1024,"num_inference_steps":28,"guidance_scale":3.5,"seed":' || ${seed}
      || ',"num_outputs":1,"output_format":"png"}'`,
  };
}

/** `INSERT … SELECT` of the finished history: rows 0..count-1. */
export function historyInsert(d: SqlDialect, s: Shape): string {
  const h32 = (r: string): string => d.hex(d.int(`${r} * 4294967296`), 8);
  const { request, input, seed } = bodies(d);
  const owner = `${d.hex('owner_n', 8)} || '-0000-4000-8000-' || ${d.hex('owner_n', 12)}`;
  const fileId = `${h32('rp')} || '-' || ${d.hex(d.int('rd * 65536'), 4)} || '-4' || ${d.hex(d.int('rx * 4096'), 3)} || '-a' || ${d.hex(d.int('ro * 4096'), 3)} || '-' || ${d.hex('i', 12)}`;
  const output = `'{"files":[{"id":"' || ${fileId} || '","kind":"image","contentType":"image/png","path":"/files/' || ${h32('rx')} || ${h32('rd')} || ${h32('rs')} || ${d.hex('i', 8)}
    || '/image-0.png","bytes":' || (200000 + ${d.int('rx * 1800000')}) || ',"width":1024,"height":1024}],"seed":' || ${seed}
    || ',"data":{"model":"' || service || '","elapsed_ms":' || (finished - started) || '}}'`;
  return `INSERT INTO tasks (${COLUMNS})
WITH RECURSIVE seq(i) AS (${d.seq(0, s.count)}),
d AS MATERIALIZED (
  SELECT i, ${t0(s)} + i * ${step(s)} AS created,
    ${d.rnd} AS ro, ${d.rnd} AS rs, ${d.rnd} AS rt, ${d.rnd} AS rp, ${d.rnd} AS rd, ${d.rnd} AS rx
  FROM seq),
e AS (
  SELECT d.*, ${d.int(`ro * ro * ${OWNERS}`)} AS owner_n, ${d.int(`rs * ${SERVICES.length}`)} AS service_n,
    CASE WHEN rt < 0.85 THEN 'succeeded' WHEN rt < 0.95 THEN 'failed' ELSE 'cancelled' END AS st,
    CASE WHEN rt >= 0.975 THEN NULL ELSE created + 300 + ${d.int('rd * 4000')} END AS started
  FROM d),
f AS (
  SELECT e.*, ${serviceCase('service_n')} AS service,
    CASE WHEN started IS NULL THEN created + ${d.int('rd * 600000')} ELSE started + 2000 + ${d.int('rd * rd * 120000')} END AS finished
  FROM e)
SELECT
  ${d.hex('created / 65536', 8)} || '-' || ${d.hex('created % 65536', 4)} || '-7000-8000-' || ${d.hex('i', 12)},
  ${owner}, service, ${dialectCase('service_n')}, st,
  ${request},
  ${input},
  CASE st WHEN 'succeeded' THEN ${output} END,
  CASE st WHEN 'failed' THEN 'upstream_error' WHEN 'cancelled' THEN 'cancelled' END,
  CASE st WHEN 'failed' THEN 'The upstream answered 502 Bad Gateway three times in a row' WHEN 'cancelled' THEN 'Cancelled by the client' END,
  ${h32('rx')} || ${h32('rp')} || ${h32('rd')} || ${d.hex('i', 8)},
  CASE WHEN rx < 0.3 THEN 'https://hooks.example.com/taskgate/' || ${d.hex('owner_n', 8)} END,
  CASE st WHEN 'succeeded' THEN 1.0 END, NULL,
  created, started, finished, created, CASE WHEN started IS NOT NULL THEN started + 600000 END, NULL, NULL,
  CASE WHEN started IS NULL THEN 0 ELSE 1 END,
  CASE service_n % 4 WHEN 3 THEN '{"mode":"fast","request_type":"imagine"}' ELSE '{}' END,
  '["completed"]', CASE WHEN rx < 0.5 THEN 'https://api.example.com' END, 0, NULL
FROM f`;
}

/** `INSERT … SELECT` of the live set: rows count..count+LIVE_TOTAL-1. */
export function liveInsert(d: SqlDialect, s: Shape): string {
  const { request, input } = bodies(d);
  const end = s.count + LIVE_TOTAL;
  const scheduledEnd = LIVE.running + LIVE.scheduled;
  const claimed = CLAIM_SERVICES.length;
  return `INSERT INTO tasks (${COLUMNS})
WITH RECURSIVE seq(i) AS (${d.seq(s.count, end)}),
d AS MATERIALIZED (
  SELECT i, i - ${s.count} AS k, ${s.tEnd - 600_000} + (i - ${s.count}) * 1000 AS created, ${d.rnd} AS rp, ${d.rnd} AS rd, ${d.rnd} AS rx
  FROM seq),
e AS (
  SELECT d.*, 2 + (k * 7) % 500 AS owner_n,
    CASE WHEN k < ${scheduledEnd} THEN k % ${SERVICES.length} ELSE ${claimed} + k % ${SERVICES.length - claimed} END AS service_n
  FROM d)
SELECT
  ${d.hex('created / 65536', 8)} || '-' || ${d.hex('created % 65536', 4)} || '-7000-8000-' || ${d.hex('i', 12)},
  ${d.hex('owner_n', 8)} || '-0000-4000-8000-' || ${d.hex('owner_n', 12)}, ${serviceCase('service_n')}, ${dialectCase('service_n')},
  CASE WHEN k < ${LIVE.running} THEN 'running' ELSE 'queued' END,
  ${request},
  ${input},
  NULL, NULL, NULL, ${d.hex(d.int('rx * 4294967296'), 8)} || ${d.hex('i', 24)}, NULL,
  CASE WHEN k < ${LIVE.running} THEN 0.5 END, CASE WHEN k < ${LIVE.running} THEN 'rendering' END,
  created, CASE WHEN k < ${LIVE.running} THEN created + 500 END, NULL,
  CASE WHEN k >= ${LIVE.running} AND k < ${scheduledEnd} THEN ${s.tEnd + DAY_MS} ELSE created END,
  CASE WHEN k < ${LIVE.running} THEN created + 500 + ${DAY_MS} END,
  CASE WHEN k < ${LIVE.running} THEN 'node-' || (k % 4) || '-worker' END,
  CASE WHEN k < ${LIVE.running} THEN ${s.tEnd + DAY_MS} END,
  CASE WHEN k < ${LIVE.running} THEN 1 ELSE 0 END,
  '{}', '["completed"]', NULL, 0, NULL
FROM e`;
}

/** The file index of the succeeded history (one file each), read back from the outputs as migration 0010 does. */
export const filesInsert = (d: SqlDialect): string =>
  `INSERT INTO task_files (owner_id, file_id, task_id)
   SELECT owner_id, ${d.firstFileId('output')}, id FROM tasks WHERE state = 'succeeded' AND output IS NOT NULL`;

/**
 * One account per owner. Owner 0 (the biggest history) has a cap of 8 running tasks, as do one
 * owner in ten; the others have none. The bench's claim rounds use owners 0 (capped) and 1.
 */
export function accountsInsert(d: SqlDialect, s: Shape): string {
  return `INSERT INTO accounts (owner_id, name, created_at, max_concurrency)
WITH RECURSIVE seq(i) AS (${d.seq(0, OWNERS)})
SELECT ${d.hex('i', 8)} || '-0000-4000-8000-' || ${d.hex('i', 12)}, 'customer ' || i, ${t0(s)},
  CASE WHEN i = 0 THEN 8 WHEN i % 10 = 5 THEN 20 END
FROM seq`;
}
