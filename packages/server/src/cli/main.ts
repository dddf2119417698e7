/**
 * The taskgate command line (argument parsing: commander; every command takes --help).
 *
 * The gateway, offline on the data dir (server-commands.ts):
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
 *
 * A client of a running gateway, over HTTP with @taskgate/client (client-commands.ts):
 *   taskgate submit <service> [--prompt "…"] [--input '{…}' | --input-file f.json] [--wait] [--out DIR]
 *                   [--dialect task-api|apixo|queue|replicate]
 *                                  submit a task; with --wait show its progress (progress.ts), save
 *                                  its outputs as DIR/<id>-<n>.<ext> and print their paths; Ctrl-C
 *                                  asks whether to cancel it (wait.ts)
 *   taskgate status <id> [--service S] [--dialect …]    show a task
 *   taskgate cancel <id> [--service S] [--dialect …]    cancel a task
 *   taskgate tasks [--limit N] [--cursor C]             recent tasks, a page at a time
 *   taskgate balance                                    the token's credits
 *   each with [--url URL] [--token T] [--json]
 * Environment: TASKGATE_URL (the gateway origin, default http://127.0.0.1:8787), TASKGATE_TOKEN.
 * Exit codes: 0 ok, 1 failed (one line on stderr), 2 usage error (client commands), 130 Ctrl-C.
 *
 *   taskgate --version             the version of the taskgate package
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { addClientCommands } from './client-commands.js';
import { CliError, CliExit, EXIT } from './errors.js';
import { addServerCommands } from './server-commands.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

function program(): Command {
  const p = new Command('taskgate')
    .description('Self-hostable gateway for async AI-generation tasks, and a client for it')
    .version(pkg.version, '-V, --version', 'print the version of taskgate')
    .configureOutput({ outputError: (text, write) => write(`taskgate: ${text}`) })
    .showSuggestionAfterError();
  addServerCommands(p);
  addClientCommands(p);
  p.addHelpText('after', `
Without a command, taskgate serves (taskgate serve). Client commands read TASKGATE_URL and
TASKGATE_TOKEN. Run taskgate <command> --help for a command's options.`);
  return p;
}

async function main(argv: string[]): Promise<void> {
  await program().parseAsync(argv.length === 0 ? ['serve'] : argv, { from: 'user' });
}

async function report(err: unknown): Promise<never> {
  if (err instanceof CliExit) process.exit(err.exitCode);
  // Usage errors of the client commands (commander has printed them): 2; their --help: 0.
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage);
  if (err instanceof CliError) {
    process.stderr.write(`taskgate: error: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  const { ConfigError } = await import('../config/load.js');
  if (err instanceof ConfigError) process.stderr.write(`taskgate: ${err.message}\n`);
  else process.stderr.write(`taskgate: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof ConfigError ? 2 : 1);
}

main(process.argv.slice(2)).catch(report);
