/**
 * The live feed: the SSE stream of task changes, read with fetch (so the token travels in the
 * Authorization header, never in the URL) and parsed by eventsource-parser. One connection per
 * signed-in tab; it reconnects with a growing pause and tells listeners when to reload (resync,
 * or a reconnect, which may have missed changes).
 */
import { EventSourceParserStream } from 'eventsource-parser/stream';
import type { Api } from './api';
import type { TaskSummary } from './types';

export type LiveStatus = 'connecting' | 'live' | 'down';

export interface LiveListener {
  task?(t: TaskSummary): void;
  /** Changes may have been missed: reload whatever is shown. */
  resync?(): void;
}

export class LiveFeed {
  private listeners = new Set<LiveListener>();
  private statusListeners = new Set<(s: LiveStatus) => void>();
  private abort: AbortController | null = null;
  private stopped = false;
  status: LiveStatus = 'connecting';

  constructor(private readonly api: Api, private readonly path: string) {}

  start(): void {
    this.stopped = false;
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  on(l: LiveListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  onStatus(l: (s: LiveStatus) => void): () => void {
    this.statusListeners.add(l);
    return () => this.statusListeners.delete(l);
  }

  private setStatus(s: LiveStatus): void {
    if (s === this.status) return;
    this.status = s;
    for (const l of this.statusListeners) l(s);
  }

  private async loop(): Promise<void> {
    let pause = 1000;
    let connectedBefore = false;
    while (!this.stopped) {
      this.abort = new AbortController();
      try {
        const res = await this.api.raw(this.path, { headers: { accept: 'text/event-stream' }, signal: this.abort.signal });
        if (!res.body) throw new Error('no body');
        this.setStatus('live');
        pause = 1000;
        if (connectedBefore) for (const l of this.listeners) l.resync?.();
        connectedBefore = true;
        const events = res.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
        const reader = events.getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          if (value.event === 'task') this.emitTask(value.data);
          else if (value.event === 'resync') for (const l of this.listeners) l.resync?.();
        }
      } catch {
        // Stopped, refused or cut: reconnect below unless stopped.
      }
      if (this.stopped) break;
      this.setStatus('down');
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(pause * 2, 15_000);
      this.setStatus('connecting');
    }
  }

  private emitTask(data: string): void {
    let task: TaskSummary;
    try {
      task = JSON.parse(data) as TaskSummary;
    } catch {
      return;
    }
    for (const l of this.listeners) l.task?.(task);
  }
}
