/**
 * The live progress display of `taskgate submit --wait`, on stderr (stdout keeps the file paths):
 * one `cli-progress` bar that shows the queue position while the task is queued, its progress
 * 0–100 % while it runs, then the files being saved, and ends on the final state:
 *
 *   flux/dev  running    |████████████░░░░░░░░░░░░░░░░░░|  40% | 2s
 *
 * When stderr is not a terminal there is no bar: each change of phase is one plain line.
 */
import cliProgress from 'cli-progress';
import type { Task } from '@taskgate/client';

type Phase = 'submitted' | 'queued' | 'running' | 'saving' | 'succeeded' | 'failed' | 'cancelled' | 'interrupted';

interface Payload {
  label: string;
  phase: Phase;
  detail: string;
}

export interface ProgressView {
  /** A change of the task (status, progress, queue position). */
  update(task: Task): void;
  /** `done` of `total` output files saved. */
  files(done: number, total: number): void;
  /** Draws the final state and ends the display (the cursor comes back). */
  finish(phase: Phase, detail: string): void;
  /** Ends the display where it is (Ctrl-C), leaving its last state on screen. */
  interrupt(): void;
}

export interface ProgressOptions {
  /** Shown at the start of the line (the service). */
  label: string;
  stream?: NodeJS.WriteStream;
  /** Draw the bar (default: when the stream is a terminal). */
  tty?: boolean;
}

const BAR_SIZE = 30;

/** The bar's line: label, phase, the bar, the detail (percentage, position, files) and the time spent. */
function format(options: cliProgress.Options, params: cliProgress.Params, payload: Payload): string {
  const bar = cliProgress.Format.BarFormat(params.progress, options);
  const seconds = Math.max(0, Math.round(((params.stopTime ?? Date.now()) - (params.startTime ?? Date.now())) / 1000));
  return `${payload.label}  ${payload.phase.padEnd(11)} |${bar}| ${payload.detail} | ${seconds}s`;
}

function percent(fraction: number | null): string {
  return `${String(Math.round((fraction ?? 0) * 100)).padStart(3)}%`;
}

/** What the bar shows for a task: its phase, bar value (0–100) and detail. */
function view(task: Task): { phase: Phase; value: number; detail: string } {
  switch (task.status) {
    case 'queued':
      return { phase: 'queued', value: 0, detail: task.queuePosition === null ? 'waiting in the queue' : `position ${task.queuePosition} in the queue` };
    case 'running':
      return { phase: 'running', value: Math.round((task.progress ?? 0) * 100), detail: percent(task.progress) };
    case 'succeeded':
      return { phase: 'succeeded', value: 100, detail: percent(1) };
    case 'failed':
      return { phase: 'failed', value: Math.round((task.progress ?? 0) * 100), detail: task.error?.code ?? 'failed' };
    case 'cancelled':
      return { phase: 'cancelled', value: Math.round((task.progress ?? 0) * 100), detail: 'cancelled' };
  }
}

export function createProgress(opts: ProgressOptions): ProgressView {
  const stream = opts.stream ?? process.stderr;
  const tty = opts.tty ?? stream.isTTY === true;
  if (!tty) return plainProgress(opts.label, stream);
  const bar = new cliProgress.SingleBar({
    stream, format, barsize: BAR_SIZE, hideCursor: true, fps: 10, barCompleteChar: '█', barIncompleteChar: '░', clearOnComplete: false,
  });
  const payload: Payload = { label: opts.label, phase: 'submitted', detail: 'submitted' };
  bar.start(100, 0, payload);
  let active = true;
  return {
    update(task) {
      if (!active) return;
      const v = view(task);
      bar.update(v.value, { ...payload, phase: v.phase, detail: v.detail });
    },
    files(done, total) {
      if (!active) return;
      bar.update(total === 0 ? 100 : Math.round((done / total) * 100), { ...payload, phase: 'saving', detail: `${done}/${total} file${total === 1 ? '' : 's'}` });
    },
    finish(phase, detail) {
      if (!active) return;
      active = false;
      bar.update(phase === 'succeeded' ? 100 : bar.getProgress() * 100, { ...payload, phase, detail });
      bar.stop();
    },
    interrupt() {
      if (!active) return;
      active = false;
      bar.update(bar.getProgress() * 100, { ...payload, phase: 'interrupted', detail: 'Ctrl-C' });
      bar.stop();
    },
  };
}

/** Without a terminal: one line per change of phase (and of queue position). */
function plainProgress(label: string, stream: NodeJS.WriteStream): ProgressView {
  let last = '';
  const line = (text: string): void => {
    if (text === last) return;
    last = text;
    stream.write(`${label}: ${text}\n`);
  };
  return {
    update(task) {
      if (task.status !== 'queued' && task.status !== 'running') return; // finish() reports the end
      const v = view(task);
      line(v.phase === 'queued' ? `queued (${v.detail})` : v.phase);
    },
    files(done, total) {
      if (done === 0) line(`saving ${total} file${total === 1 ? '' : 's'}`);
    },
    finish(phase, detail) {
      line(`${phase} (${detail})`);
    },
    interrupt() {
      line('interrupted');
    },
  };
}
