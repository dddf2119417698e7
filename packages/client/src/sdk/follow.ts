/**
 * Following a task until it is terminal: the dialect's server-sent events where it has them,
 * else (or when the stream fails) polling with backoff and jitter. `wait` and `stream` are both
 * built on {@link follow}.
 */
import { abortError, TaskgateError } from './errors.js';
import type { CallContext, Driver } from './driver.js';
import { sleep } from './transport.js';
import { isTerminal, type Dialect, type Task, type WaitOptions } from './types.js';

export const DEFAULT_POLL_MS = 1000;
export const DEFAULT_MAX_POLL_MS = 10_000;
const POLL_GROWTH = 1.5;

/** The caller's signal and `timeoutMs` as one signal, and the error each means. */
class Guard {
  private readonly controller = new AbortController();
  private timedOut = false;
  private readonly timer: ReturnType<typeof setTimeout> | undefined;
  private readonly onAbort = (): void => this.controller.abort(this.outer?.reason);

  constructor(private readonly outer: AbortSignal | undefined, private readonly timeoutMs: number | undefined, private readonly dialect: Dialect) {
    if (outer?.aborted) this.controller.abort(outer.reason);
    else outer?.addEventListener('abort', this.onAbort, { once: true });
    if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
      this.timer = setTimeout(() => {
        this.timedOut = true;
        this.controller.abort(new Error(`not terminal within ${timeoutMs} ms`));
      }, Math.max(0, timeoutMs));
    }
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Throws the guard's error when it has fired. */
  check(): void {
    if (this.controller.signal.aborted) throw this.error();
  }

  /** `aborted` (the caller's reason as `cause`) or `timeout`. */
  error(): TaskgateError {
    if (this.timedOut && !this.outer?.aborted) {
      return new TaskgateError({
        code: 'timeout', status: 0, retryable: true, dialect: this.dialect,
        message: `The task did not finish within ${this.timeoutMs} ms (it keeps running; wait again or cancel it)`,
      });
    }
    return abortError(this.outer, this.dialect);
  }

  /** A failure while the guard had fired is the guard's error, whatever the transport said. */
  translate(err: unknown): unknown {
    return this.controller.signal.aborted ? this.error() : err;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.outer?.removeEventListener('abort', this.onAbort);
    if (!this.controller.signal.aborted) this.controller.abort(new Error('finished'));
  }
}

/** What makes two observations of a task different (an update). */
function fingerprint(t: Task): string {
  return JSON.stringify([t.status, t.progress, t.queuePosition, t.outputs.length, t.error?.code ?? null]);
}

/** A poll interval with ±25 % jitter. */
const jittered = (ms: number): number => ms * (0.75 + Math.random() * 0.5);

/**
 * Every change of the task until it is terminal (the last item is terminal). Calls `onUpdate`
 * with each item before yielding it. Rejects with `aborted` when `signal` aborts and `timeout`
 * after `timeoutMs` (the task is left running); a consumer that stops early closes any stream.
 */
export async function* follow(driver: Driver, dialect: Dialect, id: string, options: WaitOptions = {}): AsyncGenerator<Task> {
  const guard = new Guard(options.signal, options.timeoutMs, dialect);
  const ctx: CallContext & { signal: AbortSignal } = { signal: guard.signal, ...(options.service ? { service: options.service } : {}) };
  let last: string | null = null;
  /** The task if it is a change (after `onUpdate`), else null. */
  const changed = (t: Task): Task | null => {
    const key = fingerprint(t);
    if (key === last) return null;
    last = key;
    options.onUpdate?.(t);
    return t;
  };

  try {
    if (driver.events) {
      try {
        for await (const t of driver.events(id, ctx)) {
          const update = changed(t);
          if (update) yield update;
          if (isTerminal(t.status)) return;
        }
      } catch (err) {
        guard.check();
        if (err instanceof TaskgateError && (err.code === 'service_required' || err.code === 'invalid_token')) throw err;
        // Any other stream failure: poll instead.
      }
    }
    let interval = Math.max(1, options.pollIntervalMs ?? DEFAULT_POLL_MS);
    const maxInterval = Math.max(interval, options.maxPollIntervalMs ?? DEFAULT_MAX_POLL_MS);
    let first = true;
    for (;;) {
      if (!first) {
        await sleep(jittered(interval), guard.signal, dialect);
        interval = Math.min(maxInterval, interval * POLL_GROWTH);
      }
      first = false;
      const t = await driver.get(id, ctx);
      const update = changed(t);
      if (update) yield update;
      if (isTerminal(t.status)) return;
    }
  } catch (err) {
    throw guard.translate(err);
  } finally {
    guard.dispose();
  }
}

/** The terminal task (succeeded, failed or cancelled) after following it. */
export async function waitFor(driver: Driver, dialect: Dialect, id: string, options: WaitOptions = {}): Promise<Task> {
  let last: Task | null = null;
  for await (const t of follow(driver, dialect, id, options)) last = t;
  if (last === null || !isTerminal(last.status)) {
    throw new TaskgateError({ code: 'invalid_response', status: 0, dialect, message: `Task ${id}: followed to its end without a terminal state` });
  }
  return last;
}
