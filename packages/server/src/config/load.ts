/**
 * Loads the configuration: built-in defaults, then `TASKGATE_CONFIG` or `./taskgate.config.json`
 * if present, then environment overrides (HOST, PORT, TASKGATE_PUBLIC_URL, TASKGATE_LOG_LEVEL).
 * Any problem is reported as a ConfigError listing every invalid field.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { z } from 'zod';
import { createProvider } from '../providers/index.js';
import { configSchema, DEFAULT_SERVICES, type ConfigInput, type GatewayConfig } from './schema.js';

export class ConfigError extends Error {
  constructor(source: string, problems: string[]) {
    super(`invalid configuration (${source}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function describe(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((i) => `${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`);
}

/** Validates a config object (file contents merged with env), adding the default services. */
export function parseConfig(raw: unknown, source = 'config'): GatewayConfig {
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(source, describe(parsed.error.issues));
  const defaults = configSchema.shape.services.parse(DEFAULT_SERVICES);
  const config: GatewayConfig = { ...parsed.data, services: { ...defaults, ...parsed.data.services } };
  // Providers validate their own options now, so a typo fails at start, not at the first task.
  const problems: string[] = [];
  for (const [name, svc] of Object.entries(config.services)) {
    try {
      createProvider(svc.provider, svc.options);
    } catch (err) {
      const issues = (err as { issues?: z.core.$ZodIssue[] }).issues;
      if (issues) problems.push(...describe(issues).map((p) => `services.${name}.options.${p}`));
      else problems.push(`services.${name}.provider: ${(err as Error).message}`);
    }
  }
  const seen = new Map<string, string>();
  for (const [name, svc] of Object.entries(config.services)) {
    for (const [dialect, aliases] of Object.entries(svc.aliases)) {
      for (const alias of aliases) {
        const key = `${dialect}:${alias}`;
        const other = seen.get(key);
        if (other) problems.push(`services.${name}.aliases.${dialect}: "${alias}" is already used by ${other}`);
        else seen.set(key, name);
      }
    }
  }
  if (problems.length) throw new ConfigError(source, problems);
  return config;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): GatewayConfig {
  const explicit = env.TASKGATE_CONFIG;
  const file = explicit ? resolve(cwd, explicit) : resolve(cwd, 'taskgate.config.json');
  let raw: Record<string, unknown> = {};
  let source = 'built-in defaults';
  if (explicit || existsSync(file)) {
    source = file;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(source, [`cannot read file: ${(err as Error).message}`]);
    }
    try {
      const value: unknown = JSON.parse(text);
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new ConfigError(source, ['the file must hold a JSON object']);
      }
      raw = value as Record<string, unknown>;
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(source, [`not valid JSON: ${(err as Error).message}`]);
    }
  }
  const webhooks = webhookOverrides(env, raw.webhooks);
  return parseConfig({ ...raw, ...envOverrides(env), ...(webhooks ? { webhooks } : {}) } satisfies ConfigInput | Record<string, unknown>, source);
}

function envOverrides(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (env.HOST) out.host = env.HOST;
  if (env.PORT) out.port = /^\d+$/.test(env.PORT) ? Number(env.PORT) : env.PORT;
  if (env.TASKGATE_PUBLIC_URL) out.publicUrl = env.TASKGATE_PUBLIC_URL;
  if (env.TASKGATE_LOG_LEVEL) out.logLevel = env.TASKGATE_LOG_LEVEL;
  return out;
}

/** Webhook settings from the environment, over the file's `webhooks` section. */
function webhookOverrides(env: NodeJS.ProcessEnv, fromFile: unknown): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  if (env.TASKGATE_WEBHOOK_RETRY_SCHEDULE) {
    out.retrySchedule = env.TASKGATE_WEBHOOK_RETRY_SCHEDULE.split(',').map((v) => (v.trim() === '' ? Number.NaN : Number(v)));
  }
  if (env.TASKGATE_ALLOW_PRIVATE_CALLBACKS) out.allowPrivateCallbacks = ['1', 'true', 'yes'].includes(env.TASKGATE_ALLOW_PRIVATE_CALLBACKS.toLowerCase());
  if (Object.keys(out).length === 0) return undefined;
  return { ...(typeof fromFile === 'object' && fromFile !== null ? fromFile : {}), ...out };
}
