/**
 * The client commands: `submit`, `status`, `cancel`, `tasks`, `balance`. They talk to a running
 * gateway over HTTP through `@taskgate/client` (never to the store), with the base URL and token
 * from `--url` / `--token` or `TASKGATE_URL` / `TASKGATE_TOKEN`. Output is for people by default
 * and one JSON document with `--json`; a failure is one line on stderr and a non-zero exit code
 * (1: the request or the task failed; 2: a usage error; 130: interrupted by Ctrl-C).
 */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { Dialect, JsonObject } from '@taskgate/client';
import { attempt, balance, connection, DEFAULT_URL, listTasks, sdkClient, type ConnectionFlags } from './connection.js';
import { CliError, EXIT } from './errors.js';
import { balanceText, out, pageText, printJson, taskJson, taskText } from './output.js';
import { waitAndSave } from './wait.js';

const DIALECT_NAMES = ['task-api', 'apixo', 'queue', 'replicate'] as const satisfies readonly Dialect[];

interface SubmitFlags extends ConnectionFlags {
  prompt?: string;
  input?: string;
  inputFile?: string;
  wait?: boolean;
  out: string;
  dialect: Dialect;
}

interface TaskFlags extends ConnectionFlags {
  service?: string;
  dialect: Dialect;
}

interface ListFlags extends ConnectionFlags {
  limit: number;
  cursor?: string;
}

/** A JSON object from `text`, or a usage error naming where it came from. */
export function parseInput(text: string, what: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CliError(`${what} is not valid JSON: ${err instanceof Error ? err.message : String(err)}`, EXIT.usage);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CliError(`${what} must be a JSON object ({"prompt": …}), not ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`, EXIT.usage);
  }
  return value as JsonObject;
}

/** The model input of `submit`: --input or --input-file, then --prompt over it. */
function submitInput(flags: SubmitFlags): JsonObject {
  let input: JsonObject = {};
  if (flags.input !== undefined) input = parseInput(flags.input, '--input');
  if (flags.inputFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(flags.inputFile, 'utf8');
    } catch (err) {
      throw new CliError(`cannot read --input-file ${flags.inputFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, EXIT.usage);
    }
    input = parseInput(text, `--input-file ${flags.inputFile}`);
  }
  if (flags.prompt !== undefined) input = { ...input, prompt: flags.prompt };
  return input;
}

async function submit(service: string, flags: SubmitFlags): Promise<void> {
  const conn = connection(flags);
  const input = submitInput(flags);
  const client = sdkClient(conn, flags.dialect);
  const task = await attempt(conn, flags.dialect, { kind: 'service', name: service }, () => client.submit(service, input));
  if (flags.wait) return waitAndSave({ conn, client, dialect: flags.dialect, service, task, outDir: flags.out });
  await (conn.json ? printJson(taskJson(task)) : out(`${task.id}\n`));
}

async function status(id: string, flags: TaskFlags): Promise<void> {
  const conn = connection(flags);
  const client = sdkClient(conn, flags.dialect);
  const task = await attempt(conn, flags.dialect, { kind: 'task', id }, () => client.get(id, { service: flags.service }));
  await (conn.json ? printJson(taskJson(task)) : out(taskText(task)));
}

async function cancel(id: string, flags: TaskFlags): Promise<void> {
  const conn = connection(flags);
  const client = sdkClient(conn, flags.dialect);
  const task = await attempt(conn, flags.dialect, { kind: 'task', id }, () => client.cancel(id, { service: flags.service }));
  await (conn.json ? printJson(taskJson(task)) : out(taskText(task)));
  if (task.status !== 'cancelled' && !conn.json) process.stderr.write(`task ${id} had already finished (${task.status}); it was left as it is\n`);
}

async function tasks(flags: ListFlags): Promise<void> {
  const conn = connection(flags);
  const page = await listTasks(conn, flags.limit, flags.cursor ?? null);
  await (conn.json ? printJson(page) : out(pageText(page, flags.limit)));
}

async function showBalance(flags: ConnectionFlags): Promise<void> {
  const conn = connection(flags);
  const b = await balance(conn);
  await (conn.json ? printJson(b) : out(balanceText(b)));
}

function limit(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 1000) throw new InvalidArgumentError('must be an integer from 1 to 1000');
  return Number(value);
}

/** --url, --token, --json; usage errors of these commands exit 2. */
function clientCommand(program: Command, spec: string, description: string): Command {
  return program
    .command(spec)
    .description(description)
    .option('--url <url>', `gateway base URL, its origin (env TASKGATE_URL; default ${DEFAULT_URL})`)
    .option('--token <token>', 'API token (env TASKGATE_TOKEN, which keeps it out of the process list)')
    .option('--json', 'print one JSON document (for scripts) instead of text')
    .exitOverride();
}

const dialectOption = (): Option =>
  new Option('--dialect <dialect>', 'wire dialect to speak').choices(DIALECT_NAMES).default('task-api');

const SUBMIT_HELP = `
The service is the dialect's own name for it: flux/dev (task API), flux-dev (APIXO),
fal-ai/flux/dev (queue), black-forest-labs/flux-dev (Replicate).

Examples:
  export TASKGATE_URL=http://127.0.0.1:8787 TASKGATE_TOKEN=tg_…
  taskgate submit flux/dev --prompt "a red fox" --wait --out images
  taskgate submit flux/dev --input '{"prompt":"a red fox","width":512,"height":384}' --json
  taskgate submit fal-ai/flux/dev --dialect queue --input-file input.json --wait

With --wait, a progress bar on stderr shows the queue position, then the progress, then the files
being saved; each output is saved as DIR/<task id>-<n>.<ext> and its path printed on stdout.
Ctrl-C asks whether to cancel the task on the gateway (exit 130 either way).`;

const TASK_HELP = `
The task API, APIXO and queue dialects find a task under its service (--service, the name it was
submitted with); the Replicate dialect needs none.`;

/** Adds `submit`, `status`, `cancel`, `tasks` and `balance` to `program`. */
export function addClientCommands(program: Command): void {
  clientCommand(program, 'submit <service>', 'submit a task to a gateway (and with --wait, follow it and save its outputs)')
    .option('--prompt <text>', 'the prompt (sets input.prompt)')
    .addOption(new Option('--input <json>', 'the model input, a JSON object').conflicts('inputFile'))
    .addOption(new Option('--input-file <file>', 'read the model input (a JSON object) from a file').conflicts('input'))
    .option('--wait', 'wait for the result, showing its progress, and save the outputs')
    .option('--out <dir>', 'where --wait saves the outputs', '.')
    .addOption(dialectOption())
    .addHelpText('after', SUBMIT_HELP)
    .action(submit);

  for (const [name, description, action] of [
    ['status', 'show a task', status],
    ['cancel', 'cancel a task (a finished task is left as it is)', cancel],
  ] as const) {
    clientCommand(program, `${name} <id>`, description)
      .option('--service <service>', 'the service the task runs on, as the dialect names it')
      .addOption(dialectOption())
      .addHelpText('after', TASK_HELP)
      .action(action);
  }

  clientCommand(program, 'tasks', "list the token's recent tasks, newest first (a page at a time)")
    .option('--limit <N>', 'tasks per page (1–1000)', limit, 20)
    .option('--cursor <cursor>', 'start after this task (the cursor the previous page printed)')
    .addHelpText('after', `
Read from the Replicate dialect's GET /v1/predictions, so it lists the tasks of the services that
dialect exposes (the built-in flux/dev is black-forest-labs/flux-dev there).`)
    .action(tasks);

  clientCommand(program, 'balance', "show the token's credits (balance, held, used)").action(showBalance);
}
