/**
 * The gateway's own commands: `serve`, `tokens …`, `admin-token reset`, `config`. They work on
 * the local data dir and configuration (the offline CLI); their outputs and exit codes are the
 * ones scripts and tests rely on. The gateway, the store and the configuration loader are imported
 * when a command runs, so the client commands start without loading them.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { parseExpiry, type TokenPatch, type TokenRecord, type TokenService } from '../accounts/tokens.js';

/**
 * Where relative paths (./data, ./taskgate.config.json) are resolved: the directory the user ran
 * the command in. `npm start` runs the script inside the workspace package, so prefer INIT_CWD.
 */
const baseDir = process.env.INIT_CWD ?? process.cwd();

function dataDir(): string {
  return resolve(baseDir, process.env.TASKGATE_DATA ?? './data');
}

async function offlineTokens(): Promise<{ tokens: TokenService; close: () => void }> {
  const [{ TokenService }, { openDatabase }, { createSqliteTokenStore }] = await Promise.all([
    import('../accounts/tokens.js'), import('../store/sqlite/db.js'), import('../store/sqlite/token-store.js'),
  ]);
  const db = openDatabase(resolve(dataDir(), 'taskgate.db'));
  return { tokens: new TokenService(createSqliteTokenStore(db)), close: () => db.close() };
}

async function serve(): Promise<void> {
  const [{ loadConfig }, { createGateway }] = await Promise.all([import('../config/load.js'), import('../http/gateway.js')]);
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

/** Runs `fn` over the offline token service of the data dir, closing the database afterwards. */
async function withTokens(fn: (tokens: TokenService) => Promise<void>): Promise<void> {
  const { tokens, close } = await offlineTokens();
  try {
    await fn(tokens);
  } finally {
    close();
  }
}

const SERVE_HELP = `
Environment: HOST, PORT (default 127.0.0.1:8787), TASKGATE_DATA (default ./data), TASKGATE_CONFIG,
TASKGATE_ADMIN_TOKEN, TASKGATE_PUBLIC_URL, TASKGATE_LOG_LEVEL (see the README, "Configuration").`;

/** Adds `serve`, `tokens …`, `admin-token reset` and `config` to `program`. */
export function addServerCommands(program: Command): void {
  program
    .command('serve')
    .description('start the gateway (the default command)')
    .addHelpText('after', SERVE_HELP)
    .action(serve);

  const tokens = program
    .command('tokens')
    .description('manage API tokens offline, on the data dir (stop the gateway first, or use the admin API)');
  tokens
    .command('create <name>')
    .description('create an API token (printed once, as JSON), optionally scoped')
    .option('--services <a,b>', 'glob patterns of the services it may use (default: all)')
    .option('--expires <ISO>', 'expiry time, ISO 8601 with a time zone')
    .option('--rps <N>', 'its own requests-per-second limit')
    .option('--concurrency <N>', 'its own cap on running tasks')
    .action(async (name: string, values: TokenFlags) => {
      await withTokens(async (t) => {
        const { record, token } = await t.create(name, tokenPatch(values, false));
        const out = { id: record.id, name: record.name, allowed_services: record.allowedServices, expires_at: record.expiresAt === null ? null : iso(record.expiresAt), token };
        process.stdout.write(`${JSON.stringify(out)}\n`);
      });
    });
  tokens
    .command('update <id>')
    .description('change a token (`none` clears a setting)')
    .option('--name <N>', 'new name')
    .option('--services <a,b>', 'glob patterns of the services it may use')
    .option('--expires <ISO|none>', 'expiry time, or none')
    .option('--rps <N|none>', 'its own requests-per-second limit, or none')
    .option('--concurrency <N|none>', 'its own cap on running tasks, or none')
    .option('--enable', 'enable a disabled token')
    .action(async (id: string, values: TokenFlags) => {
      await withTokens(async (t) => {
        const patch = tokenPatch(values, true);
        if (Object.keys(patch).length === 0) throw new Error('tokens update: nothing to change');
        const record = await t.update(id, patch);
        if (!record) throw new Error(`no token ${id}`);
        process.stdout.write(`${listLine(record)}\n`);
      });
    });
  tokens
    .command('list')
    .description('list tokens (tab-separated; never the token itself)')
    .action(async () => {
      await withTokens(async (t) => {
        for (const record of await t.list()) process.stdout.write(`${listLine(record)}\n`);
      });
    });
  tokens
    .command('disable <id>')
    .description('disable a token')
    .action(async (id: string) => {
      await withTokens(async (t) => {
        if (!(await t.disable(id))) throw new Error(`no token ${id}`);
        process.stdout.write(`disabled ${id}\n`);
      });
    });
  tokens
    .command('delete <id>')
    .description('delete a token')
    .action(async (id: string) => {
      await withTokens(async (t) => {
        if (!(await t.delete(id))) throw new Error(`no token ${id}`);
        process.stdout.write(`deleted ${id}\n`);
      });
    });

  program
    .command('admin-token')
    .description('manage the admin token offline')
    .command('reset')
    .description('replace the admin token (printed once)')
    .action(async () => {
      const { tokens: t, close } = await offlineTokens();
      process.stdout.write(`${await t.resetAdmin()}\n`);
      close();
    });

  program
    .command('config')
    .description('print the effective configuration (secrets redacted)')
    .action(async () => {
      const [{ loadConfig }, { redactSecrets }] = await Promise.all([import('../config/load.js'), import('../config/redact.js')]);
      // Secret-looking fields and URL credentials never reach the terminal (or a pasted bug report).
      process.stdout.write(`${JSON.stringify(redactSecrets(loadConfig(process.env, baseDir)), null, 2)}\n`);
    });
}
