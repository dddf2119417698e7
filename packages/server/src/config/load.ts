/**
 * Loads the configuration: built-in defaults, then `TASKGATE_CONFIG` or `./taskgate.config.json`
 * if present (its services merged field by field over the built-in ones), then environment
 * overrides (HOST, PORT, TASKGATE_PUBLIC_URL, TASKGATE_LOG_LEVEL, TASKGATE_WEBHOOK_RETRY_SCHEDULE,
 * TASKGATE_ALLOW_PRIVATE_CALLBACKS, TASKGATE_METRICS_TOKEN). Any problem is reported as a ConfigError naming where the
 * value came from (the variable, the file and field, or the built-in defaults), listing every one.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { z } from 'zod';
import { createProvider } from '../providers/index.js';
import { UPSTREAM_PROTOCOLS } from '../providers/upstream/index.js';
import { readEnv } from './env.js';
import { isPlainObject, mergeServices } from './merge.js';
import { configSchema, type GatewayConfig } from './schema.js';

export class ConfigError extends Error {
  constructor(
    /** Where the bad values came from: a file's path, `environment`, `built-in defaults`, … */
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid configuration (${source}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** `path.to.field: message` (under `prefix`); an unknown field is named by its own path. */
function describe(issues: readonly z.core.$ZodIssue[], prefix: readonly string[] = []): string[] {
  const name = (path: readonly string[]): string => (path.length ? path.join('.') : '(root)');
  return issues.flatMap((i) => {
    const at = [...prefix, ...i.path.map(String)];
    if (i.code === 'unrecognized_keys') return i.keys.map((k) => `${name([...at, k])}: unknown field`);
    return [`${name(at)}: ${i.message}`];
  });
}

/**
 * Validates a config object (file contents merged with env). Its `services` are merged over the
 * built-in ones field by field, before the schema's defaults apply.
 */
export function parseConfig(raw: unknown, source = 'config'): GatewayConfig {
  const parsed = configSchema.safeParse(isPlainObject(raw) ? { ...raw, services: mergeServices(raw.services) } : raw);
  if (!parsed.success) throw new ConfigError(source, describe(parsed.error.issues));
  const config: GatewayConfig = parsed.data;
  // Providers validate their own options now, so a typo fails at start, not at the first task.
  const problems: string[] = [];
  const channelNames = new Map<string, string>();
  for (const [name, svc] of Object.entries(config.services)) {
    svc.channels?.forEach((ch, i) => {
      const at = `services.${name}.channels.${i}`;
      if (!UPSTREAM_PROTOCOLS().includes(ch.provider)) problems.push(`${at}.provider: unknown upstream protocol "${ch.provider}" (known: ${UPSTREAM_PROTOCOLS().join(', ')})`);
      const other = channelNames.get(ch.name);
      if (other) problems.push(`${at}.name: "${ch.name}" is already the name of a channel of ${other}`);
      else channelNames.set(ch.name, name);
    });
    if (svc.provider === undefined) continue;
    try {
      createProvider(svc.provider, svc.options);
    } catch (err) {
      const issues = (err as { issues?: z.core.$ZodIssue[] }).issues;
      if (issues) problems.push(...describe(issues, ['services', name, 'options']));
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
  const fromEnv = readEnv(env);
  if (fromEnv.problems.length) throw new ConfigError('environment', fromEnv.problems);
  const merged: Record<string, unknown> = { ...raw, ...fromEnv.top };
  // Over the file's section; a section that is not an object stays, for the schema to report.
  for (const section of ['webhooks', 'metrics'] as const) {
    if (Object.keys(fromEnv[section]).length === 0) continue;
    if (raw[section] === undefined) merged[section] = fromEnv[section];
    else if (isPlainObject(raw[section])) merged[section] = { ...raw[section], ...fromEnv[section] };
  }
  if (Object.keys(fromEnv.files).length) {
    if (raw.files === undefined) merged.files = fromEnv.files;
    else if (isPlainObject(raw.files)) merged.files = { ...raw.files, ...fromEnv.files };
  }
  const config = parseConfig(merged, source);
  // A relative files directory is where the command was run, like the data dir.
  if (config.filesDir !== null) config.filesDir = resolve(cwd, config.filesDir);
  return config;
}
