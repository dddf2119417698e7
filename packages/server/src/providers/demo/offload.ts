/**
 * Runs the CPU-heavy renderers on one background worker thread so a render never stalls the
 * gateway's event loop. Falls back to rendering inline if the worker cannot start.
 */
import { Worker } from 'node:worker_threads';

export type RenderKind = 'image' | 'audio' | 'video' | 'upscale';

interface Reply {
  id: number;
  data?: Uint8Array;
  error?: string;
}

const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
let worker: Worker | null | undefined; // undefined: not started; null: unavailable
let nextId = 1;
const pending = new Map<number, { resolve: (b: Buffer) => void; reject: (e: Error) => void }>();

function failAll(err: Error): void {
  for (const p of pending.values()) p.reject(err);
  pending.clear();
}

function getWorker(): Worker | null {
  if (worker !== undefined) return worker;
  try {
    const entry = new URL(`./render-worker${ext}`, import.meta.url);
    // Node 20 workers do not inherit tsx's loader hooks: from TypeScript source, register them first.
    const w =
      ext === '.ts'
        ? new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`, { eval: true })
        : new Worker(entry);
    w.unref();
    w.on('message', (reply: Reply) => {
      const p = pending.get(reply.id);
      if (!p) return;
      pending.delete(reply.id);
      if (reply.data) p.resolve(Buffer.from(reply.data.buffer, reply.data.byteOffset, reply.data.byteLength));
      else p.reject(new Error(reply.error ?? 'render failed'));
    });
    w.on('error', (err) => {
      worker = null;
      failAll(err);
    });
    w.on('exit', () => {
      worker = undefined; // restart on next use
      failAll(new Error('render worker exited'));
    });
    worker = w;
  } catch {
    worker = null;
  }
  return worker;
}

export async function renderInWorker<A>(
  kind: RenderKind,
  args: A,
  signal: AbortSignal,
  inline: (args: A) => Buffer,
): Promise<Buffer> {
  signal.throwIfAborted();
  const w = getWorker();
  if (!w) return inline(args);
  const id = nextId++;
  const result = new Promise<Buffer>((resolve, reject) => pending.set(id, { resolve, reject }));
  w.ref();
  w.postMessage({ id, kind, args });
  try {
    return await result;
  } catch {
    return inline(args); // worker trouble must not fail the task
  } finally {
    if (pending.size === 0 && worker) worker.unref();
  }
}
