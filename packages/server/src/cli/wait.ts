/**
 * `taskgate submit --wait`: follows a submitted task with the progress display until it ends,
 * then saves its outputs and prints their paths. Ctrl-C while waiting stops the display and asks
 * whether to cancel the task on the gateway: `y` cancels it (through the SDK) and prints its final
 * status; anything else leaves it running and says how to look at it later. Both exit 130.
 */
import { createInterface } from 'node:readline';
import { isTerminal, type Client, type Dialect, type Task } from '@taskgate/client';
import { attempt, type Connection } from './connection.js';
import { saveOutputs } from './download.js';
import { CliError, CliExit, EXIT, explain } from './errors.js';
import { out, printJson, taskJson, taskText } from './output.js';
import { createProgress, type ProgressView } from './progress.js';

export interface WaitJob {
  conn: Connection;
  client: Client;
  dialect: Dialect;
  service: string;
  task: Task;
  outDir: string;
}

/** Polling of the CLI: a display wants changes soon, so the backoff stops at 2 s. */
const POLL = { pollIntervalMs: 500, maxPollIntervalMs: 2000 };

/** Asks a yes/no question on the terminal; Ctrl-C, end of input or anything but y/yes is no. */
export function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY === true });
  return new Promise((resolve) => {
    let settled = false;
    const finish = (yes: boolean): void => {
      if (settled) return;
      settled = true;
      process.off('SIGINT', onSignal);
      rl.close();
      resolve(yes);
    };
    const onSignal = (): void => {
      process.stderr.write('\n');
      finish(false);
    };
    // A terminal in raw mode reports Ctrl-C to readline; otherwise it arrives as a signal.
    rl.on('SIGINT', onSignal);
    process.on('SIGINT', onSignal);
    rl.on('close', () => finish(false));
    rl.question(question, (answer) => finish(/^\s*y(es)?\s*$/i.test(answer)));
  });
}

/** The command that shows the task later (`--service` and `--dialect` as needed). */
function statusCommand(job: WaitJob): string {
  const dialect = job.dialect === 'task-api' ? '' : ` --dialect ${job.dialect}`;
  return `taskgate status ${job.task.id} --service ${job.service}${dialect}`;
}

/** After Ctrl-C: ask, cancel or not, print, and end with 130. */
async function interrupted(job: WaitJob, last: Task): Promise<never> {
  const id = job.task.id;
  if (await confirm(`Cancel task ${id} on the gateway? [y/N] `)) {
    const task = await attempt(job.conn, job.dialect, { kind: 'task', id }, () => job.client.cancel(id, { service: job.service }));
    if (job.conn.json) await printJson(taskJson(task));
    else await out(taskText(task));
    if (task.status !== 'cancelled') process.stderr.write(`task ${id} had already finished (${task.status}); it was left as it is\n`);
  } else {
    process.stderr.write(`task ${id} keeps running on the gateway; check it later with: ${statusCommand(job)}\n`);
    if (job.conn.json) await printJson(taskJson(last));
  }
  throw new CliExit(EXIT.interrupted);
}

/** Waits for the task, showing its progress; resolves with the terminal task, or handles Ctrl-C. */
async function follow(job: WaitJob, progress: ProgressView): Promise<Task> {
  const controller = new AbortController();
  let sigint = false;
  const onSigint = (): void => {
    sigint = true;
    controller.abort(new Error('interrupted (Ctrl-C)'));
  };
  process.on('SIGINT', onSigint);
  let last = job.task;
  let done: Task | null = null;
  let failure: unknown = null;
  try {
    done = await job.client.wait(job.task.id, {
      ...POLL, service: job.service, signal: controller.signal,
      onUpdate: (t) => {
        last = t;
        progress.update(t);
      },
    });
  } catch (err) {
    failure = err;
  } finally {
    process.off('SIGINT', onSigint);
  }
  if (sigint && !(done && isTerminal(done.status))) {
    progress.interrupt();
    return interrupted(job, last);
  }
  if (!done) {
    progress.interrupt();
    throw explain(failure, { url: job.conn.url, dialect: job.dialect, subject: { kind: 'task', id: job.task.id }, secret: job.conn.token });
  }
  return done;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The whole `--wait`: follow, then save the outputs and print their paths (or the task, with --json). */
export async function waitAndSave(job: WaitJob): Promise<void> {
  process.stderr.write(`task ${job.task.id} submitted to ${job.service} (${job.dialect})\n`);
  const progress = createProgress({ label: job.service });
  progress.update(job.task);
  const task = await follow(job, progress);
  progress.update(task);
  if (task.status !== 'succeeded') {
    progress.finish(task.status === 'cancelled' ? 'cancelled' : 'failed', task.error?.code ?? task.status);
    if (job.conn.json) await printJson(taskJson(task));
    const why = task.error ? `: ${task.error.code}: ${task.error.message}` : '';
    throw new CliError(task.status === 'cancelled' ? `task ${task.id} was cancelled${why}` : `task ${task.id} failed${why}`);
  }
  let paths: string[];
  try {
    paths = await saveOutputs(task, job.outDir, (done, total) => progress.files(done, total));
  } catch (err) {
    progress.finish('failed', 'saving failed');
    throw err;
  }
  progress.finish('succeeded', paths.length === 0 ? 'no files' : `${plural(paths.length, 'file')} saved`);
  if (job.conn.json) await printJson(taskJson(task, { files: paths }));
  else if (paths.length > 0) await out(`${paths.join('\n')}\n`);
  else process.stderr.write(`task ${task.id} succeeded without output files\n`);
}
