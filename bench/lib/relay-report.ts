/** The "## Relay" section of BENCHMARKS.md, written by `npm run bench:relay`. */
import { machine, writeSection } from './report.js';

export interface Spread {
  p50: number;
  p99: number;
}

export interface RelayRun {
  label: string;
  count: number;
  callbacks: boolean;
  /** pollBatchSize of the channel (1: one task a poll request). */
  batch: number;
  /** Seconds from the first create until every task was in flight upstream. */
  createSec: number;
  /** Upstream completion → terminal in taskgate, ms. */
  lag: { p50: number; p99: number; max: number };
  /** Tasks that did not end succeeded (should be 0). */
  failed: number;
  /** With callbacks: callbacks not answered 200, and the lag split at the callback's answer (ms). */
  callbacksSeen: { undelivered: number; delivery: Spread | null; afterCallback: Spread | null } | null;
  creates: number;
  polls: number;
  files: number;
  /** Poll requests per task per poll interval while all were in flight. */
  holdRequestsPerTaskInterval: number;
  holdTaskPollsPerRequest: number;
  rssPerTask: number;
  idleRss: number;
  peakRss: number;
  cpuMsPerTask: number;
  /** Gateway CPU while holding every task in flight (% of one core). */
  holdCpuPct: number;
}

const int = (x: number): string => Math.round(x).toLocaleString('en-US');
const s1 = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;
const yes = (ok: boolean): string => (ok ? 'yes' : '**no**');

export function writeRelaySection(file: string, runs: RelayRun[], opts: { intervalMs: number; spreadMs: number }): void {
  const m = machine();
  const lagTarget = (r: RelayRun): number => (r.callbacks ? 1000 : opts.intervalMs + 1000);
  const baseline = (r: RelayRun): RelayRun | undefined => runs.find((b) => b.count === r.count && b.callbacks === r.callbacks && b.batch === 1);
  const rows = runs.map((r) => {
    const single = baseline(r);
    const vsSingle = single && single !== r ? ` (${(r.holdRequestsPerTaskInterval / single.holdRequestsPerTaskInterval).toFixed(3)}× single)` : '';
    return `| ${int(r.count)} | ${r.batch > 1 ? `batch ${r.batch}` : 'single'} | ${r.callbacks ? 'yes' : 'no'} | ${s1(r.lag.p50)} | ${s1(r.lag.p99)} | ${s1(r.lag.max)} | ` +
      `${yes(r.lag.p99 <= lagTarget(r))} | ${r.holdRequestsPerTaskInterval.toFixed(3)}${vsSingle} | ${r.batch > 1 ? yes(r.holdRequestsPerTaskInterval <= 0.2) : 'n/a'} | ` +
      `${((r.creates + r.polls + r.files) / r.count).toFixed(2)} (${(r.polls / r.count).toFixed(2)} polls) | ` +
      `${(r.rssPerTask / 1024).toFixed(2)} KiB | ${yes(r.rssPerTask <= 2048)} | ${r.cpuMsPerTask.toFixed(2)} ms | ${Math.round(r.holdCpuPct)} % | ${r.failed} |`;
  });
  const section = `## Relay

Relay to an upstream (\`npm run bench:relay\`; this section is rewritten by that script). The
gateway runs as a child process with one relayed service whose channel is the task API fixture
upstream (\`test/fixtures/task-api-upstream.ts\`) in the bench process, polled every
${opts.intervalMs / 1000} s (\`poll: {initialMs: ${opts.intervalMs}, maxMs: ${opts.intervalMs}}\`). The fixture holds every task
until all are in flight, then finishes each at a random time over ${opts.spreadMs / 1000} s (sending its
callback then, with callbacks on: \`TASKGATE_PUBLIC_URL\` set). Every task ends with one output
file, which taskgate copies into its own store before the task is terminal.

| in flight | polls | callbacks | lag p50 | lag p99 | lag max | p99 on target | poll requests / task / interval | ≤ 0.2 | upstream requests / task | RSS / in-flight task | ≤ 2 KiB | gateway CPU / task | CPU holding all | not succeeded |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

- **Lag** = the task's \`finished_at\` in the gateway's database − the moment the fixture finished
  it upstream; it includes the poll (or callback → poll) and the copy of the output file. Target:
  p99 ≤ the poll interval + 1 s without callbacks (${s1(opts.intervalMs + 1000)}), ≤ 1 s with them.
- **Poll requests / task / interval**: poll requests sent during three poll intervals while every
  task was in flight and none finished, ÷ (tasks × 3); the single-poll run of the same size is the
  baseline (× single). Target with batch queries: ≤ 0.2.
- **Upstream requests / task**: creates + polls + file downloads over the whole run, ÷ tasks.
- **RSS / in-flight task** = (gateway RSS with all tasks in flight − its RSS before the first
  create, after 1,000 warm-up tasks ran through it) ÷ tasks, each read by the gateway itself right after four full garbage collections (idle ${runs.map((r) => mib(r.idleRss)).join(', ')}; peak ${runs.map((r) => mib(r.peakRss)).join(', ')}).
- **Gateway CPU / task**: CPU seconds of the gateway process from the first create until none was
  in flight, ÷ tasks; **CPU holding all**: while only polling every task (% of one core).
- Creating and submitting every task took ${runs.map((r) => `${r.createSec.toFixed(0)} s`).join(', ')} (64 creates at a time).
- Machine: ${m.cpu}, \`nproc\` ${m.nproc}, ${m.memory}, Node ${m.node}, ${m.kernel}; ${m.date}.
`;
  writeSection(file, 'Relay', section);
}
