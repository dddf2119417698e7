/**
 * The relay's parts, built together for the server assembly: channel health and caps, the output
 * copier, the submit step the task workers use, and the poll scheduler. Null when no service has
 * channels (nothing is started then).
 */
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config/schema.js';
import type { FileSink } from '../core/ports.js';
import type { TaskService } from '../core/task-service.js';
import type { Task } from '../core/types.js';
import type { LimiterFactory } from '../coordination/limiters.js';
import { ChannelPool } from '../dispatch/channels.js';
import { UpstreamPoller } from '../dispatch/poller.js';
import { UpstreamSubmitter } from '../dispatch/relay.js';
import { OutputCopier } from '../providers/upstream/outputs.js';

export interface Relay {
  channels: ChannelPool;
  submitter: UpstreamSubmitter;
  poller: UpstreamPoller;
  close(): Promise<void>;
}

export function createRelay(
  config: GatewayConfig, tasks: TaskService, files: FileSink, log: Logger, workerId: string,
  /** taskgate's callback URL for a task (null: polling only). */
  callbackUrl: (task: Task) => string | null,
  /** Where the channels' request-rate counters live (Redis: shared by every node). */
  limiters?: LimiterFactory,
): Relay | null {
  const defs = tasks.services.all().filter((d) => d.relay !== null);
  if (defs.length === 0) return null;
  const channelConfigs = Object.values(config.services).flatMap((s) => s.channels ?? []);
  const copier = new OutputCopier({
    allowPrivate: config.webhooks.allowPrivateCallbacks,
    trustedHosts: new Set(channelConfigs.map((c) => new URL(c.baseUrl).host)),
    maxBytes: config.relay.maxOutputBytes,
    timeoutMs: config.relay.downloadTimeoutMs,
  });
  const channels = new ChannelPool(tasks, Math.random, limiters);
  const submitter = new UpstreamSubmitter({ tasks, channels, workerId, callbackUrl });
  // Its own worker id on this host and process (dead-worker detection reads host:pid), so a clean
  // stop hands back only poll leases.
  const poller = new UpstreamPoller({
    tasks, channels, files, copier, log, workerId: `${workerId}p`,
    leaseMs: config.relay.pollLeaseMs, pollMs: config.relay.pollTickMs, maxConcurrency: config.relay.pollConcurrency,
  });
  return {
    channels, submitter, poller,
    close: async () => {
      await poller.stop();
      await copier.close();
    },
  };
}
