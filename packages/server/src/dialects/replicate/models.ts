/**
 * The models this dialect serves: the `replicate` aliases (`owner/name`) of configured services.
 * Each model has exactly one version, whose id is a stable synthetic hash of the model name (the
 * same on every start and node), shown in every prediction's `version` field. A client may name a
 * model as `owner/name`, `owner/name:<any version>` (the gateway serves one version per model, so
 * Replicate's own version hashes work too) or by a bare version id, which must be one of ours.
 */
import { createHash } from 'node:crypto';
import type { ServiceDefinition, ServiceRegistry } from '../../core/services.js';
import type { Task } from '../../core/types.js';

export interface ModelRef {
  /** `owner/name` as the client knows it. */
  name: string;
  service: ServiceDefinition;
  /** The model's (only) version id: 64 hex characters. */
  version: string;
}

/** The synthetic version id of a model: sha256 of its name, hex. */
export function versionId(name: string): string {
  return createHash('sha256').update(`taskgate/replicate/${name}`).digest('hex');
}

const MODEL_REF = /^([^/:\s]+\/[^/:\s]+)(?::(\S+))?$/;
const VERSION_ID = /^[0-9a-f]{64}$/i;

export class ModelCatalog {
  private readonly byVersion = new Map<string, ModelRef>();

  constructor(
    private readonly services: ServiceRegistry,
    private readonly dialect: string,
  ) {
    for (const service of services.all()) {
      for (const name of service.aliases[dialect] ?? []) {
        const ref: ModelRef = { name, service, version: versionId(name) };
        this.byVersion.set(ref.version, ref);
      }
    }
  }

  /** The model called `owner/name`, if this gateway serves it. */
  byName(name: string): ModelRef | undefined {
    const service = this.services.findByAlias(this.dialect, name);
    return service ? { name, service, version: versionId(name) } : undefined;
  }

  /**
   * The model a create request's `version` names: `owner/name`, `owner/name:version` (the
   * version part is not checked: one version per model) or a bare version id of ours.
   */
  resolve(ref: string): ModelRef | undefined {
    const name = MODEL_REF.exec(ref)?.[1];
    if (name !== undefined) return this.byName(name);
    return VERSION_ID.test(ref) ? this.byVersion.get(ref.toLowerCase()) : undefined;
  }

  /**
   * The model a task is shown as: the name it was created with, else the service's first model
   * name. Undefined if its service is not exposed to this dialect (then it is no prediction).
   */
  ofTask(task: Task): ModelRef | undefined {
    const service = this.services.find(task.service);
    const names = service?.aliases[this.dialect] ?? [];
    const asked = task.meta.model;
    const name = typeof asked === 'string' && names.includes(asked) ? asked : names[0];
    return service && name !== undefined ? { name, service, version: versionId(name) } : undefined;
  }

  /** Names of the services exposed to this dialect (what a listing may show). */
  exposedServices(): string[] {
    return this.services.exposedTo(this.dialect);
  }
}
