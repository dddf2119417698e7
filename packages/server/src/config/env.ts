/**
 * Configuration from environment variables. Each value is checked on its own, with the schema's
 * own field schema, as it is read, so a bad one is reported by its variable's name
 * (`PORT=abc: must be an integer 0–65535`), not as a field of the merged configuration.
 * An empty variable counts as unset.
 */
import type { z } from 'zod';
import { REDACTED, redactUrl } from './redact.js';
import { configSchema } from './schema.js';

export interface EnvConfig {
  /** Top-level fields (host, port, publicUrl, logLevel, logFormat, databaseUrl, redisUrl). */
  top: Record<string, unknown>;
  /** Fields of the `webhooks` section. */
  webhooks: Record<string, unknown>;
  /** Fields of the `metrics` section. */
  metrics: Record<string, unknown>;
  /** Fields of the `files` section. */
  files: Record<string, unknown>;
  /** `VARNAME=value: problem`, one per bad variable. */
  problems: string[];
}

const webhookShape = configSchema.shape.webhooks.unwrap().shape;
const metricsShape = configSchema.shape.metrics.unwrap().shape;
const filesShape = configSchema.shape.files.unwrap().shape;

function firstMessage(issues: readonly z.core.$ZodIssue[]): string {
  const issue = issues[0];
  if (!issue) return 'invalid value';
  return issue.path.length ? `entry ${Number(issue.path[0]) + 1}: ${issue.message}` : issue.message;
}

export function readEnv(env: NodeJS.ProcessEnv): EnvConfig {
  const out: EnvConfig = { top: {}, webhooks: {}, metrics: {}, files: {}, problems: [] };
  /** Reads `name`, converts and checks it; `convert` returns a problem as `{ error }`. */
  const read = (
    name: string,
    target: Record<string, unknown>,
    field: string,
    schema: z.ZodType,
    convert: (raw: string) => unknown,
    message?: string,
    /** A secret: a bad value is never echoed. */
    secret = false,
  ): void => {
    const raw = env[name];
    if (raw === undefined || raw === '') return;
    const shown = secret ? REDACTED : redactUrl(raw);
    const converted = convert(raw);
    if (typeof converted === 'object' && converted !== null && 'error' in converted) {
      out.problems.push(`${name}=${shown}: ${message ?? String(converted.error)}`);
      return;
    }
    const parsed = schema.safeParse(converted);
    if (parsed.success) target[field] = parsed.data;
    else out.problems.push(`${name}=${shown}: ${message ?? firstMessage(parsed.error.issues)}`);
  };
  const asIs = (raw: string): string => raw;
  read('HOST', out.top, 'host', configSchema.shape.host, asIs);
  read('PORT', out.top, 'port', configSchema.shape.port, (raw) => (/^\d+$/.test(raw) ? Number(raw) : { error: 'not a number' }), 'must be an integer 0–65535');
  read('TASKGATE_PUBLIC_URL', out.top, 'publicUrl', configSchema.shape.publicUrl, asIs, 'must be an http(s) URL');
  read('TASKGATE_LOG_LEVEL', out.top, 'logLevel', configSchema.shape.logLevel, asIs);
  read('TASKGATE_LOG_FORMAT', out.top, 'logFormat', configSchema.shape.logFormat, asIs);
  read('TASKGATE_DATABASE_URL', out.top, 'databaseUrl', configSchema.shape.databaseUrl, asIs, 'must be a postgres:// or postgresql:// URL');
  read('TASKGATE_FILES_DIR', out.top, 'filesDir', configSchema.shape.filesDir, asIs);
  read('TASKGATE_REDIS_URL', out.top, 'redisUrl', configSchema.shape.redisUrl, asIs, 'must be a redis:// or rediss:// URL');
  read('TASKGATE_METRICS_TOKEN', out.metrics, 'token', metricsShape.token, asIs, 'must be at least 16 characters', true);
  read('TASKGATE_WEBHOOK_RETRY_SCHEDULE', out.webhooks, 'retrySchedule', webhookShape.retrySchedule, (raw) => {
    const parts = raw.split(',').map((p) => p.trim());
    const bad = parts.findIndex((p) => !/^\d+(\.\d+)?$/.test(p));
    return bad < 0 ? parts.map(Number) : { error: `entry ${bad + 1} ("${parts[bad]}") is not a number of seconds (0 or more); use e.g. 0,5,300` };
  });
  read('TASKGATE_ALLOW_PRIVATE_CALLBACKS', out.webhooks, 'allowPrivateCallbacks', webhookShape.allowPrivateCallbacks, (raw) => {
    const v = raw.toLowerCase();
    return v === '1' || v === 'true' ? true : v === '0' || v === 'false' ? false : { error: 'must be 1, true, 0 or false' };
  });
  // `id:secret,id:secret`, the first signs. A problem never repeats the value (it holds secrets).
  const keys = env.TASKGATE_FILE_SIGNING_KEYS;
  if (keys !== undefined && keys !== '') {
    const parsed = filesShape.signingKeys.safeParse(keys.split(',').map((k) => {
      const at = k.indexOf(':');
      return { id: k.slice(0, Math.max(at, 0)).trim(), secret: at < 0 ? '' : k.slice(at + 1).trim() };
    }));
    if (parsed.success) out.files.signingKeys = parsed.data;
    else out.problems.push(`TASKGATE_FILE_SIGNING_KEYS=[redacted]: ${firstMessage(parsed.error.issues)} (expected id:secret,id:secret with ids of letters, digits, _ and - and secrets of at least 32 characters)`);
  }
  return out;
}
