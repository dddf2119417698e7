/**
 * One bounded autocannon run (programmatic API, in this process). Bounded in time (`duration`,
 * plus a watchdog that stops it 15 s late at the latest, plus a per-request timeout) and in count
 * (`maxOverallRequests`). Latency percentiles come from autocannon's per-response float timings
 * (its own histogram keeps whole milliseconds only, too coarse at sub-millisecond latencies).
 */
import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';

export interface LoadSpec {
  url: string;
  path: string;
  headers: Record<string, string>;
  /** Request bodies; each connection cycles through its own share of them. */
  bodies: string[];
  connections: number;
  durationSec: number;
  maxRequests: number;
  /** The server's CPU seconds so far, to report its utilisation. */
  serverCpu?: () => number | null;
  /** Keep the sorted 2xx latencies in the result (to merge runs made at the same time). */
  keepLatencies?: boolean;
}

export interface Measurement {
  /** 2xx responses per second. */
  rps: number;
  p50: number;
  p99: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  durationSec: number;
  /** Percent of one core, over the run; null if unknown. */
  serverCpu: number | null;
  loadCpu: number;
  /** The whole machine's busy CPU (all processes, incl. steal), percent of one core; null off Linux. */
  machineCpu: number | null;
  /** Every 2xx latency in ms, sorted; only with `keepLatencies`. */
  latencies?: Float64Array;
}

/** Busy jiffies of the whole machine so far (user+nice+system+irq+softirq+steal), from /proc/stat. */
export function machineBusyTicks(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return [user, nice, system, irq, softirq, steal].reduce<number>((a, b) => a + (b ?? 0), 0);
  } catch {
    return null;
  }
}

export const hasErrors = (m: Measurement): boolean => m.non2xx > 0 || m.errors > 0 || m.timeouts > 0;

export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export function runLoad(spec: LoadSpec, ticksPerSecond = 100): Promise<Measurement> {
  const requests: autocannon.Request[] = spec.bodies.map((body) => ({ method: 'POST', path: spec.path, headers: spec.headers, body }));
  // Each connection gets its own slice of the bodies (all of them covered), built once at setup:
  // handing every connection the whole list would build connections × bodies request buffers.
  const share = Math.max(1, Math.ceil(requests.length / spec.connections));
  let clientNo = 0;
  const latencies = new Float64Array(spec.maxRequests);
  let recorded = 0;
  const server0 = spec.serverCpu?.() ?? null;
  const load0 = process.cpuUsage();
  const machine0 = machineBusyTicks();
  const t0 = process.hrtime.bigint();

  return new Promise<Measurement>((resolve, reject) => {
    let watchdog: NodeJS.Timeout | undefined = undefined;
    const instance = autocannon(
      {
        url: spec.url,
        method: 'POST',
        headers: spec.headers,
        requests: requests.slice(0, 1),
        connections: spec.connections,
        pipelining: 1,
        duration: spec.durationSec,
        maxOverallRequests: spec.maxRequests,
        timeout: 10,
        setupClient: (client) => {
          if (requests.length < 2) return;
          const k = (clientNo++ * share) % requests.length;
          client.setRequests(requests.slice(k, k + share));
        },
      },
      (err: unknown, result) => {
        clearTimeout(watchdog);
        if (err) return reject(err instanceof Error ? err : new Error(String(err)));
        const wall = Number(process.hrtime.bigint() - t0) / 1e9;
        const server1 = spec.serverCpu?.() ?? null;
        const load = process.cpuUsage(load0);
        const machine1 = machineBusyTicks();
        const sorted = latencies.subarray(0, recorded).sort();
        resolve({
          rps: result['2xx'] / result.duration,
          p50: percentile(sorted, 0.5),
          p99: percentile(sorted, 0.99),
          ok: result['2xx'],
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          durationSec: result.duration,
          serverCpu: server0 !== null && server1 !== null ? (100 * (server1 - server0)) / wall : null,
          loadCpu: (100 * (load.user + load.system)) / 1e6 / wall,
          machineCpu: machine0 !== null && machine1 !== null ? (100 * (machine1 - machine0)) / ticksPerSecond / wall : null,
          ...(spec.keepLatencies ? { latencies: sorted } : {}),
        });
      },
    );
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300 && recorded < latencies.length) latencies[recorded++] = ms;
    });
    watchdog = setTimeout(() => {
      process.stderr.write(`!! watchdog: stopping a run that overran ${spec.durationSec} s by 15 s\n`);
      instance.stop();
    }, (spec.durationSec + 15) * 1000);
  });
}
