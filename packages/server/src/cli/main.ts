/**
 * The taskgate command line.
 *   taskgate serve                 start the gateway (default)
 *   taskgate tokens create <name> [--services a,b] [--expires ISO] [--rps N] [--concurrency N]
 *                                  create an API token (printed once), optionally scoped
 *   taskgate tokens update <id> [--name N] [--services a,b] [--expires ISO|none] [--rps N|none]
 *                               [--concurrency N|none] [--enable]
 *                                  change a token (`none` clears a setting)
 *   taskgate tokens list           list tokens (tab-separated; never the token itself)
 *   taskgate tokens disable <id>   disable a token
 *   taskgate tokens delete <id>    delete a token
 *   taskgate admin-token reset     replace the admin token (printed once)
 *   taskgate config                print the effective configuration
 * Environment: HOST, PORT, TASKGATE_DATA (default ./data), TASKGATE_CONFIG,
 * TASKGATE_ADMIN_TOKEN, TASKGATE_PUBLIC_URL, TASKGATE_LOG_LEVEL.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseExpiry, TokenService, type TokenPatch, type TokenRecord } from '../accounts/tokens.js';
import { ConfigError, loadConfig } from '../config/load.js';
import { redactSecrets } from '../config/redact.js';
import { createGateway } from '../http/gateway.js';
import { openDatabase } from '../store/sqlite/db.js';
import { createSqliteTokenStore } from '../store/sqlite/token-store.js';

const USAGE =
  'usage: taskgate [serve | tokens create <name> [--services a,b] [--expires ISO] [--rps N] [--concurrency N] | ' +
  'tokens update <id> [--name N] [--services a,b] [--expires ISO|none] [--rps N|none] [--concurrency N|none] [--enable] | ' +
  'tokens list | tokens disable <id> | tokens delete <id> | admin-token reset | config]';

/**
 * Where relative paths (./data, ./taskgate.config.json) are resolved: the directory the user ran
 * the command in. `npm start` runs the script inside the workspace package, so prefer INIT_CWD.
 */
const baseDir = process.env.INIT_CWD ?? process.cwd();

function dataDir(): string {
  return resolve(baseDir, process.env.TASKGATE_DATA ?? './data');
}

function offlineTokens(): { tokens: TokenService; close: () => void } {
  const db = openDatabase(resolve(dataDir(), 'taskgate.db'));
  return { tokens: new TokenService(createSqliteTokenStore(db)), close: () => db.close() };
}

async function serve(): Promise<void> {
  const config = loadConfig(process.env, baseDir);
  const gateway = await createGateway({ config, dataDir: dataDir(), adminToken: process.env.TASKGATE_ADMIN_TOKEN || undefined });
  let url: string;
  try {
    url = await gateway.listen();
  } catch (err) {
    await gateway.close();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new Error(
        `cannot listen on ${config.host}:${config.port}: the port is already in use (another taskgate, or another ` +
          'program). Stop it, or choose another port with PORT=… or "port" in the configuration file.',
      );
    }
    throw err;
  }
  if (gateway.generatedAdminToken) {
    process.stdout.write(
      `\nAdmin token (shown once; stored hashed — keep it safe):\n\n  ${gateway.generatedAdminToken}\n\n` +
        `Create an API token with:\n  curl -X POST ${url}/admin/tokens \\\n` +
        `    -H "Authorization: Bearer ${gateway.generatedAdminToken}" -H "Content-Type: application/json" -d '{"name":"me"}'\n\n`,
    );
  }
  gateway.log.info({ url, data: dataDir(), services: Object.keys(config.services) }, 'taskgate listening');
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    gateway.log.info({ signal }, 'shutting down');
    gateway.close().then(
      () => process.exit(0),
      (err: unknown) => {
        gateway.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new Error(`${flag} must be a positive integer`);
  return Number(value);
}

interface TokenFlags {
  name?: string;
  services?: string;
  expires?: string;
  rps?: string;
  concurrency?: string;
  enable?: boolean;
}

/** A flag's value, with `none` (update only) meaning "clear it" (null). */
function clearable<T>(value: string | undefined, canClear: boolean, parse: (v: string) => T): T | null | undefined {
  if (value === undefined) return undefined;
  return canClear && value === 'none' ? null : parse(value);
}

/** The options of `tokens create` / `tokens update` as a patch (values are checked by TokenService). */
function tokenPatch(values: TokenFlags, update: boolean): TokenPatch {
  const patch: TokenPatch = {};
  if (values.name !== undefined) patch.name = values.name;
  if (values.services !== undefined) patch.allowedServices = values.services.split(',').map((p) => p.trim()).filter((p) => p !== '');
  const expires = clearable(values.expires, update, (v) => parseExpiry(v, '--expires'));
  if (expires !== undefined) patch.expiresAt = expires;
  const rps = clearable(values.rps, update, (v) => positiveInt(v, '--rps')!);
  if (rps !== undefined) patch.rateLimitRps = rps;
  const concurrency = clearable(values.concurrency, update, (v) => positiveInt(v, '--concurrency')!);
  if (concurrency !== undefined) patch.maxConcurrency = concurrency;
  if (values.enable) patch.disabled = false;
  return patch;
}

const iso = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString());

function listLine(t: TokenRecord): string {
  const state = t.disabled ? 'disabled' : 'active';
  return [t.id, t.name, iso(t.createdAt), t.allowedServices.join(','), `expires=${iso(t.expiresAt)}`, state].join('\t');
}

async function tokensCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      name: { type: 'string' },
      services: { type: 'string' },
      expires: { type: 'string' },
      rps: { type: 'string' },
      concurrency: { type: 'string' },
      enable: { type: 'boolean' },
    },
  });
  const [sub, arg, extra] = positionals;
  const flags = Object.keys(values);
  const allowed = sub === 'create' ? ['services', 'expires', 'rps', 'concurrency'] : sub === 'update' ? flags : [];
  if (!sub || extra !== undefined || flags.some((f) => !allowed.includes(f))) throw new Error(USAGE);
  const { tokens, close } = offlineTokens();
  try {
    if (sub === 'create' && arg) {
      const { record, token } = await tokens.create(arg, tokenPatch(values, false));
      const out = { id: record.id, name: record.name, allowed_services: record.allowedServices, expires_at: record.expiresAt === null ? null : iso(record.expiresAt), token };
      process.stdout.write(`${JSON.stringify(out)}\n`);
    } else if (sub === 'update' && arg) {
      const patch = tokenPatch(values, true);
      if (Object.keys(patch).length === 0) throw new Error('tokens update: nothing to change');
      const record = await tokens.update(arg, patch);
      if (!record) throw new Error(`no token ${arg}`);
      process.stdout.write(`${listLine(record)}\n`);
    } else if (sub === 'list' && !arg) {
      for (const t of await tokens.list()) process.stdout.write(`${listLine(t)}\n`);
    } else if (sub === 'disable' && arg) {
      if (!(await tokens.disable(arg))) throw new Error(`no token ${arg}`);
      process.stdout.write(`disabled ${arg}\n`);
    } else if (sub === 'delete' && arg) {
      if (!(await tokens.delete(arg))) throw new Error(`no token ${arg}`);
      process.stdout.write(`deleted ${arg}\n`);
    } else {
      throw new Error(USAGE);
    }
  } finally {
    close();
  }
}

async function main(argv: string[]): Promise<void> {
  const [command = 'serve', ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve();
    case 'tokens':
      return tokensCommand(rest);
    case 'admin-token': {
      if (rest[0] !== 'reset') throw new Error(USAGE);
      const { tokens, close } = offlineTokens();
      process.stdout.write(`${await tokens.resetAdmin()}\n`);
      close();
      return;
    }
    case 'config': {
      // Secret-looking fields and URL credentials never reach the terminal (or a pasted bug report).
      process.stdout.write(`${JSON.stringify(redactSecrets(loadConfig(process.env, baseDir)), null, 2)}\n`);
      return;
    }
    default:
      throw new Error(USAGE);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError) process.stderr.write(`taskgate: ${err.message}\n`);
  else process.stderr.write(`taskgate: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof ConfigError ? 2 : 1);
});
