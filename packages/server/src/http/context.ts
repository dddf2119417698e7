/** What every dialect plugin is given: the core services and the gateway-wide settings. */
import type { RateLimits } from '../accounts/rate-limits.js';
import type { TokenService } from '../accounts/tokens.js';
import type { GatewayConfig } from '../config/schema.js';
import type { TaskService } from '../core/task-service.js';
import type { FileLinks } from './file-links.js';

export interface DialectContext {
  tasks: TaskService;
  tokens: TokenService;
  config: GatewayConfig;
  /** Aborted when the gateway shuts down: waiting requests answer with the task id at once. */
  shutdown: AbortSignal;
  /**
   * Per-token request rates: `requireToken` counts every authenticated request; a create also
   * counts against the service's own budget (`admitCreate`). Both throw
   * `too_many_requests` (with retryAfter) when the token is over its limit.
   */
  rateLimiter?: RateLimits;
  /** Signed file links under a base URL (file-links.ts): every file URL handed out goes through it. */
  fileLinks: (base: string) => FileLinks;
}
