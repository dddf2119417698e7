/** The configuration file's schema (validated at start) and the built-in defaults. */
import { z } from 'zod';
import { isValidPattern } from '../accounts/moderation.js';

export const TASK_API_SHAPES = ['midjourney', 'suno', 'video', 'generic'] as const;

/** One way to reach an upstream platform for a service (issue: channels with failover). */
const channelSchema = z
  .strictObject({
    /** Unique across the configuration: the channel's health and caps are kept under it. */
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'channel names are letters, digits, . _ - (at most 64)'),
    /** The upstream protocol: `task-api`, `apixo`, `fal`, `replicate`. */
    provider: z.string().min(1),
    /** The API base as the platform's docs write it (task API `…/v1`, APIXO the host root, fal `https://queue.fal.run`, Replicate `…/v1`). */
    baseUrl: z.url({ protocol: /^https?$/ }),
    /** The environment variable holding the API key (read at start; never printed or logged). */
    apiKeyEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name').optional(),
    /** The API key itself (prefer apiKeyEnv; redacted by `taskgate config`). */
    apiKey: z.string().min(1).optional(),
    /** The upstream's own name for the model: task API `service/action`, APIXO model, fal endpoint, Replicate `owner/name` or version. */
    model: z.string().min(1),
    /** Lower first; channels of one priority share the work by weight. */
    priority: z.number().int().min(0).max(1000).default(0),
    weight: z.number().int().min(1).max(1000).default(1),
    /** Most tasks waiting on this channel's upstream at once. */
    maxConcurrency: z.number().int().min(1).max(1_000_000).default(1000),
    /** Most upstream requests per second (submits and polls together); null: no limit. */
    maxRequestsPerSecond: z.number().min(0.1).max(100_000).nullable().default(null),
    /** Longest one upstream request may take. */
    requestTimeoutMs: z.number().int().min(100).max(600_000).default(30_000),
    /**
     * Most tasks one poll request asks about, where the protocol has a batch query (task API
     * `retrieve_batch`, midjourney-proxy `list-by-condition`): at most the protocol's own limit
     * (100); 1 turns batch queries off. Unset: the protocol's limit.
     */
    pollBatchSize: z.number().int().min(1).max(1000).optional(),
    /** How often a task waiting upstream is polled: initialMs after the submit, growing by factor up to maxMs. */
    poll: z
      .strictObject({
        initialMs: z.number().int().min(10).max(3_600_000).default(2000),
        maxMs: z.number().int().min(10).max(3_600_000).default(15_000),
        factor: z.number().min(1).max(10).default(1.5),
      })
      .refine((p) => p.maxMs >= p.initialMs, { message: 'poll.maxMs must be at least poll.initialMs', path: ['maxMs'] })
      .prefault({}),
  })
  .refine((c) => !(c.apiKey !== undefined && c.apiKeyEnv !== undefined), { message: 'give apiKey or apiKeyEnv, not both', path: ['apiKey'] });
export type ChannelConfig = z.infer<typeof channelSchema>;

const serviceSchema = z.strictObject({
  /**
   * Which local provider does the work (`demo-image`, `demo-audio`, `demo-video`). A built-in
   * service has one already; a new service must name it, or give `channels` instead.
   */
  provider: z
    .string({ error: (iss) => (iss.input === undefined ? 'required (a service that is not built in needs a complete definition)' : undefined) })
    .min(1)
    .optional(),
  /** Upstream channels (a relayed service): `provider` + `options`, or `channels`, not both. */
  channels: z.array(channelSchema).min(1).max(50).optional(),
  /** `wait`: create may hold the request until the result is ready; `async`: always answer at once. */
  mode: z.enum(['wait', 'async']).default('wait'),
  /** Longest a waiting create holds the request before answering with the task id. */
  waitLimitMs: z.number().int().min(0).max(3_600_000).default(120_000),
  /** A task running longer than this fails with `timeout`. */
  timeoutMs: z.number().int().min(1).max(86_400_000).default(600_000),
  /** Most tasks of this service running at once. */
  concurrency: z.number().int().min(1).max(10_000).default(4),
  /** How the task API renders a result (`midjourney`, `suno`, `video`, `generic`). */
  shape: z.enum(TASK_API_SHAPES).default('generic'),
  /**
   * Credits a task costs: a fixed number, or `{base, perUnit, field}` = base + perUnit × the
   * numeric input field (e.g. duration seconds, image count), rounded up. 0 = free.
   */
  price: z
    .union([
      z.number().int().min(0),
      z.strictObject({ base: z.number().int().min(0).default(0), perUnit: z.number().min(0), field: z.string().min(1) }),
    ])
    .default(0),
  /** Provider options (latency, moderation words, default sizes …), validated strictly by the provider. */
  options: z.record(z.string(), z.unknown()).default({}),
  /**
   * Names the service answers to in the other dialects: APIXO models, queue (fal) endpoints,
   * Replicate models (`owner/name`). The task API always uses the service name itself.
   */
  aliases: z
    .strictObject({
      apixo: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'APIXO model names are one path segment')).default([]),
      queue: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)+$/, 'queue endpoints look like "owner/alias[/path]"')).default([]),
      replicate: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/, 'Replicate models look like "owner/name"')).default([]),
    })
    .prefault({}),
}).superRefine((svc, ctx) => {
  if (svc.provider === undefined && svc.channels === undefined) {
    ctx.addIssue({ code: 'custom', path: ['provider'], message: 'required (a service that is not built in needs a complete definition: provider, or channels)' });
  } else if (svc.provider !== undefined && svc.channels !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['channels'], message: 'give provider (a local provider) or channels (upstream platforms), not both' });
  } else if (svc.channels !== undefined && Object.keys(svc.options).length > 0) {
    ctx.addIssue({ code: 'custom', path: ['options'], message: 'options belong to a local provider; a relayed service configures its channels' });
  }
});
export type ServiceConfig = z.infer<typeof serviceSchema>;

export const configSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8787),
  /** Base URL clients reach the gateway at (for result URLs); default: the request's Host. */
  publicUrl: z.url({ protocol: /^https?$/ }).nullable().default(null),
  /**
   * Which peers may set X-Forwarded-Proto/Host (used for the URLs the queue and Replicate
   * dialects return): true, false, or proxy-addr names/CIDRs. Default: loopback and private nets.
   */
  trustProxy: z.union([z.boolean(), z.array(z.string().min(1))]).default(['loopback', 'linklocal', 'uniquelocal']),
  /** Largest request body accepted, in bytes. */
  bodyLimit: z.number().int().min(1024).max(100 * 1024 * 1024).default(1024 * 1024),
  /**
   * Deepest nesting of arrays and objects a JSON body may have (checked while parsing, before
   * anything is stored); deeper bodies are refused with 400 in the dialect's envelope.
   */
  jsonMaxDepth: z.number().int().min(2).max(1000).default(64),
  /**
   * How long a client may take to send a request. A request that has not arrived whole within
   * `requestMs` (headers within `headersMs`) is answered 408 and its connection closed, so slow
   * senders cannot hold sockets and memory. Waiting for a result after the request has arrived
   * (inline waits, `Prefer: wait`, event streams) is not limited by these.
   */
  timeouts: z
    .strictObject({
      requestMs: z.number().int().min(100).max(3_600_000).default(30_000),
      headersMs: z.number().int().min(100).max(3_600_000).default(10_000),
      /** An idle keep-alive connection is closed after this long. */
      keepAliveMs: z.number().int().min(100).max(3_600_000).default(72_000),
      /** How often open connections are checked against the two limits above. */
      checkIntervalMs: z.number().int().min(50).max(60_000).default(5_000),
    })
    .refine((t) => t.requestMs >= t.headersMs, { message: 'timeouts.requestMs must be at least timeouts.headersMs', path: ['requestMs'] })
    .prefault({}),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * How log lines are written (TASKGATE_LOG_FORMAT): `json` (one JSON object a line), `pretty`
   * (pino-pretty: one readable line each, its fields, trace_id among them, appended), or `auto`
   * (the default): pretty when stdout is a terminal, JSON otherwise.
   */
  logFormat: z.enum(['auto', 'json', 'pretty']).default('auto'),
  /** SQLite `synchronous`: `normal` survives a process crash, `full` also a power loss. */
  sqliteSync: z.enum(['normal', 'full']).default('normal'),
  /** `exclusive`: the gateway holds the database alone (fast; a second process is refused). */
  sqliteLocking: z.enum(['exclusive', 'shared']).default('exclusive'),
  /**
   * Where tasks, accounts, the ledger and the webhook outbox live: null (the default) is the
   * embedded SQLite file in the data dir; a `postgres://` URL is a Postgres database that several
   * gateway nodes can share (TASKGATE_DATABASE_URL). Credentials in it are never printed.
   */
  databaseUrl: z.string().regex(/^postgres(?:ql)?:\/\/\S+$/, 'must be a postgres:// or postgresql:// URL').nullable().default(null),
  /**
   * Where result files are written and served from (TASKGATE_FILES_DIR); default `files` in the
   * data dir. Several nodes share one directory so that each serves every task's files.
   */
  filesDir: z.string().min(1).nullable().default(null),
  /** Most connections this node opens to Postgres. */
  databasePoolSize: z.number().int().min(2).max(1000).default(10),
  /**
   * Redis (TASKGATE_REDIS_URL, `redis://` or `rediss://`): shared rate limits and channel caps,
   * and task-change notifications across nodes. An accelerator only: null (the default) or an
   * unreachable Redis leaves each node on its own limits and on Postgres alone.
   */
  redisUrl: z.string().regex(/^rediss?:\/\/\S+$/, 'must be a redis:// or rediss:// URL').nullable().default(null),
  /** Relayed services (those with `channels`): the poll scheduler and the copy of results. */
  relay: z
    .strictObject({
      /** Most poll requests in flight per process (each may ask about a batch of tasks). */
      pollConcurrency: z.number().int().min(1).max(10_000).default(32),
      /** A poll's lease on its tasks (renewed while it runs); a dead poller's tasks are polled again after it. */
      pollLeaseMs: z.number().int().min(100).max(3_600_000).default(30_000),
      /** How often the scheduler looks for due polls (a callback or a new submit wakes it at once). */
      pollTickMs: z.number().int().min(10).max(60_000).default(200),
      /** Largest upstream output file copied into the file store. */
      maxOutputBytes: z.number().int().min(1024).max(10 * 1024 ** 3).default(512 * 1024 ** 2),
      /** Longest one output download may take. */
      downloadTimeoutMs: z.number().int().min(100).max(3_600_000).default(300_000),
    })
    .prefault({}),
  dispatch: z
    .strictObject({
      /** Run workers in this process (false: an API-only node). */
      enabled: z.boolean().default(true),
      leaseMs: z.number().int().min(100).max(3_600_000).default(30_000),
      pollMs: z.number().int().min(10).max(60_000).default(1000),
      maxConcurrency: z.number().int().min(1).max(10_000).default(16),
      maxAttempts: z.number().int().min(1).max(100).default(3),
    })
    .prefault({}),
  webhooks: z
    .strictObject({
      /** Run delivery workers in this process. */
      enabled: z.boolean().default(true),
      /**
       * Seconds before each attempt (Standard Webhooks' schedule: at once, 5 s, 5 min, 30 min, 2 h,
       * 5 h, 10 h, 10 h); ±20 % jitter is added to every non-zero delay.
       */
      retrySchedule: z.array(z.number().min(0).max(7 * 86_400)).min(1).max(50).default([0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000]),
      /** A receiver that has not answered by then counts as failed (and is retried). */
      timeoutMs: z.number().int().min(100).max(300_000).default(15_000),
      /** A delivery's lease (renewed while its request runs); a dead worker's delivery is retried after it. */
      leaseMs: z.number().int().min(100).max(3_600_000).default(60_000),
      /** Most deliveries in flight per process. */
      maxConcurrency: z.number().int().min(1).max(1000).default(16),
      pollMs: z.number().int().min(10).max(60_000).default(1000),
      /** Let callbacks reach loopback, private, link-local and metadata addresses (tests, closed networks). */
      allowPrivateCallbacks: z.boolean().default(false),
      /** How long the previous signing secret keeps signing after a rotation. */
      secretOverlapSeconds: z.number().int().min(0).max(30 * 86_400).default(86_400),
      /** Most bytes of a receiver's response body that are read (and kept in the log). */
      maxResponseBytes: z.number().int().min(0).max(1024 * 1024).default(64 * 1024),
    })
    .refine((w) => w.leaseMs > w.timeoutMs, { message: 'webhooks.leaseMs must be longer than webhooks.timeoutMs', path: ['leaseMs'] })
    .prefault({}),
  /** Result-file links (signed, expiring) and where the files are kept. README "Result files". */
  files: z
    .strictObject({
      /** How long a handed-out link works (7 days: long enough for a webhook receiver's own queue). */
      urlTtlSeconds: z.number().int().min(60).max(366 * 86_400).default(7 * 86_400),
      /** After a key rotation, how long links signed with the previous keys keep working. */
      keyOverlapSeconds: z.number().int().min(0).max(366 * 86_400).default(7 * 86_400),
      /**
       * Signing keys given here instead of kept in the store: the first signs, every one verifies
       * (rotate by putting a new one first, and dropping the old one after the overlap).
       */
      signingKeys: z.array(z.strictObject({ id: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'letters, digits, _ and -, at most 32'), secret: z.string().min(32, 'at least 32 characters') })).min(1).optional(),
      /**
       * Keep result files in an S3-compatible bucket instead of `filesDir` (credentials from the
       * environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY). The gateway still serves them.
       */
      s3: z
        .strictObject({
          bucket: z.string().min(1),
          /** The S3-compatible service's URL (MinIO, R2 …); absent: AWS S3 of `region`. */
          endpoint: z.url({ protocol: /^https?$/ }).optional(),
          region: z.string().min(1).default('us-east-1'),
          /** `https://endpoint/bucket/key` addressing (most S3-compatible services need it). */
          forcePathStyle: z.boolean().default(false),
          /** Prepended to every object key, e.g. `taskgate/`. */
          prefix: z.string().regex(/^(?:[A-Za-z0-9._-]+\/)*$/, 'folder names ending in /, e.g. taskgate/').default(''),
          /** Part size of multipart uploads of large outputs (S3's minimum is 5 MiB). */
          partSizeBytes: z.number().int().min(5 * 1024 ** 2).max(5 * 1024 ** 3).default(8 * 1024 ** 2),
        })
        .optional(),
    })
    .prefault({}),
  /**
   * Retention: removes finished tasks (with their files, logs, deliveries; never ledger entries)
   * once they finished more than `maxAgeDays` ago, `batchSize` at a time. Off by default: what
   * to keep, and for how long, is the operator's call.
   */
  retention: z
    .strictObject({
      enabled: z.boolean().default(false),
      maxAgeDays: z.number().positive().max(36_500).default(30),
      batchSize: z.number().int().min(1).max(10_000).default(500),
      /** Between runs (a full batch is followed by the next one within a second). */
      intervalSeconds: z.number().int().min(1).max(86_400).default(600),
    })
    .prefault({}),
  /** The dashboard at `/dashboard/` (README, "Dashboard"); its data routes stay either way. */
  dashboard: z.strictObject({ enabled: z.boolean().default(true) }).prefault({}),
  /**
   * Prometheus metrics at `GET /metrics` (README, "Metrics"). Read with the admin token, or with
   * `token` (TASKGATE_METRICS_TOKEN), a token that reads metrics and nothing else (redacted by
   * `taskgate config`). `enabled: false`: no route, nothing counted.
   */
  metrics: z
    .strictObject({
      enabled: z.boolean().default(true),
      token: z.string().min(16, 'a metrics token has at least 16 characters').nullable().default(null),
    })
    .prefault({}),
  /**
   * Content moderation before a task is created: text inputs matching a word (whole word) or a
   * pattern (regex source), case-insensitively, are refused with `forbidden` (403).
   */
  moderation: z
    .strictObject({
      words: z.array(z.string().trim().min(1)).default([]),
      patterns: z.array(z.string().min(1).refine(isValidPattern, { message: 'not a valid regular expression' })).default([]),
      /** Top-level input fields to check (every string inside them); default: every string of the input. */
      fields: z.array(z.string().min(1)).min(1).optional(),
    })
    .prefault({}),
  /** Per-token request rates (1-second window, burst = rate) and running tasks; a token's own override wins. */
  rateLimits: z
    .strictObject({
      /**
       * Requests per second per token (creates, for now); null (default): no limit unless the
       * token has its own. A deployment that meters clients sets e.g. 50.
       */
      rps: z.number().int().min(1).max(1_000_000).nullable().default(null),
      /** Creates per second per token of these services (by service name). */
      services: z.record(z.string(), z.number().int().min(1).max(1_000_000)).default({}),
      /**
       * Tasks one token may have running at once (all services together); a token's own
       * `max_concurrency` wins. Tasks over it wait queued. null (default): only the services' own
       * concurrency limits apply.
       */
      concurrency: z.number().int().min(1).max(1_000_000).nullable().default(null),
    })
    .prefault({}),
  /**
   * Services by name (`midjourney/imagine`). A built-in service named here keeps every field the
   * file does not give (`options` and `aliases` merge key by key; see merge.ts); others are new.
   */
  services: z.record(z.string().regex(/^[a-z0-9][a-z0-9._-]*\/[a-z0-9][a-z0-9._-]*$/, 'service names look like "vendor/action"'), serviceSchema).default({}),
});
export type GatewayConfig = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

/** Built-in services: the seeds' own names, served by the offline demo providers. */
export const DEFAULT_SERVICES: Record<string, z.input<typeof serviceSchema>> = {
  'midjourney/imagine': { provider: 'demo-image', mode: 'wait', shape: 'midjourney', options: { latencyMs: 3000 }, aliases: { apixo: ['midjourney'] } },
  'suno/audios': { provider: 'demo-audio', mode: 'wait', shape: 'suno', options: { latencyMs: 3000 }, aliases: { apixo: ['suno'] } },
  'producer/audios': { provider: 'demo-audio', mode: 'wait', shape: 'suno', options: { latencyMs: 3000 } },
  'veo/videos': { provider: 'demo-video', mode: 'async', shape: 'video', options: { latencyMs: 8000 } },
  'demo/image': { provider: 'demo-image', mode: 'wait', shape: 'generic', options: { latencyMs: 1000 } },
  'flux/dev': {
    provider: 'demo-image', mode: 'wait', shape: 'generic', options: { latencyMs: 2000 },
    aliases: { apixo: ['flux-dev'], queue: ['fal-ai/flux/dev'], replicate: ['black-forest-labs/flux-dev'] },
  },
};
