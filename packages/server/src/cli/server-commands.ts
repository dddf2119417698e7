/**
 * The gateway's own commands: `serve`, `tokens …`, `accounts …`, `admin-token reset`, `config`. They work on
 * the local data dir and configuration (the offline CLI); their outputs and exit codes are the
 * ones scripts and tests rely on. The gateway, the store and the configuration loader are imported
 * when a command runs, so the client commands start without loading them.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { TokenService } from '../accounts/tokens.js';
import { addAccountAndTokenCommands } from './account-commands.js';

/**
 * Where relative paths (./data, ./taskgate.config.json) are resolved: the directory the user ran
 * the command in. `npm start` runs the script inside the workspace package, so prefer INIT_CWD.
 */
const baseDir = process.env.INIT_CWD ?? process.cwd();

function dataDir(): string {
  return resolve(baseDir, process.env.TASKGATE_DATA ?? './data');
}

async function offlineTokens(): Promise<{ tokens: TokenService; close: () => Promise<void> }> {
  const [{ TokenService }, { loadConfig }, { createStores }] = await Promise.all([
    import('../accounts/tokens.js'), import('../config/load.js'), import('../store/factory.js'),
  ]);
  // The store the gateway uses: the data dir's SQLite file, or TASKGATE_DATABASE_URL's Postgres.
  const stores = await createStores(loadConfig(process.env, baseDir), dataDir());
  return { tokens: new TokenService(stores.accounts), close: () => stores.close() };
}

async function serve(): Promise<void> {
  const [{ loadConfig }, { createGateway }, { storeLabel }] = await Promise.all([
    import('../config/load.js'), import('../http/gateway.js'), import('../store/factory.js'),
  ]);
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
        `    -H "Authorization: Bearer ${gateway.generatedAdminToken}" -H "Content-Type: application/json" -d '{"name":"me"}'\n\n` +
        (config.dashboard.enabled ? `Or sign in to the dashboard with it: ${url}/dashboard/\n\n` : ''),
    );
  }
  // `compiled`: the server built by `npm run build` (dist/); `source`: TypeScript run through tsx.
  const build = import.meta.url.endsWith('.js') ? 'compiled' : 'source';
  const dashboard = config.dashboard.enabled ? `${url}/dashboard/` : null;
  gateway.log.info({ url, dashboard, data: dataDir(), store: storeLabel(config, dataDir()), services: Object.keys(config.services), build, pid: process.pid }, 'taskgate listening');
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

/** Runs `fn` over the offline token service of the data dir, closing the database afterwards. */
async function withTokens(fn: (tokens: TokenService) => Promise<void>): Promise<void> {
  const { tokens, close } = await offlineTokens();
  try {
    await fn(tokens);
  } finally {
    await close();
  }
}

const SERVE_HELP = `
Environment: HOST, PORT (default 127.0.0.1:8787), TASKGATE_DATA (default ./data), TASKGATE_CONFIG,
TASKGATE_ADMIN_TOKEN, TASKGATE_PUBLIC_URL, TASKGATE_LOG_LEVEL, TASKGATE_LOG_FORMAT (see the README, "Configuration").`;

/** Adds `serve`, `tokens …`, `accounts …`, `admin-token reset` and `config` to `program`. */
export function addServerCommands(program: Command): void {
  program
    .command('serve')
    .description('start the gateway (the default command)')
    .addHelpText('after', SERVE_HELP)
    .action(serve);

  addAccountAndTokenCommands(program, withTokens);

  program
    .command('admin-token')
    .description('manage the admin token offline')
    .command('reset')
    .description('replace the admin token (printed once)')
    .action(async () => {
      const { tokens: t, close } = await offlineTokens();
      process.stdout.write(`${await t.resetAdmin()}\n`);
      await close();
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
