/** Service definitions as core sees them: a provider plus the limits the engine enforces. */
import { GatewayError } from './errors.js';
import type { Provider } from './ports.js';

export interface ServiceDefinition {
  /** `midjourney/imagine`, `suno/audios`, … */
  name: string;
  provider: Provider;
  /** Wait-capable services may hold a create request until the result is ready. */
  waitCapable: boolean;
  /** Longest a create request waits before answering with the task id. */
  waitLimitMs: number;
  /** A task running longer than this fails with `timeout`. */
  timeoutMs: number;
  /** Most tasks of this service running at once (across workers). */
  concurrency: number;
}

export class ServiceRegistry {
  private readonly byName = new Map<string, ServiceDefinition>();

  constructor(definitions: Iterable<ServiceDefinition>) {
    for (const def of definitions) this.byName.set(def.name, def);
  }

  find(name: string): ServiceDefinition | undefined {
    return this.byName.get(name);
  }

  /** The definition, or `no_api` (the path is not registered). */
  get(name: string): ServiceDefinition {
    const def = this.byName.get(name);
    if (!def) throw new GatewayError('no_api', `Service ${name} is not registered`);
    return def;
  }

  all(): ServiceDefinition[] {
    return [...this.byName.values()];
  }
}
