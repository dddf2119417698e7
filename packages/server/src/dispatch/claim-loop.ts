/**
 * The loop behind every worker kind (tasks, webhook deliveries): runs a claim round every
 * `pollMs` and whenever woken, coalesces wake-ups into one round, and never runs two rounds at
 * once (a wake during a round runs one more round right after it).
 */
export class ClaimLoop {
  private poller: NodeJS.Timeout | undefined;
  private wakeScheduled = false;
  private claiming = false;
  private again = false;
  private running = false;

  constructor(
    private readonly round: () => Promise<void>,
    private readonly pollMs: number,
  ) {}

  /** False once stopped (or before start): workers renew and claim nothing then. */
  get active(): boolean {
    return this.running;
  }

  /** Starts polling and runs a first round; false if it was already running. */
  start(): boolean {
    if (this.running) return false;
    this.running = true;
    this.poller = setInterval(() => void this.tick(), this.pollMs);
    this.wake();
    return true;
  }

  /** Runs a round soon (coalesced). */
  wake(): void {
    if (this.wakeScheduled || !this.running) return;
    this.wakeScheduled = true;
    setImmediate(() => {
      this.wakeScheduled = false;
      void this.tick();
    });
  }

  /** Runs a round now, or right after the one in progress. */
  async tick(): Promise<void> {
    if (!this.running) return;
    if (this.claiming) {
      this.again = true;
      return;
    }
    this.claiming = true;
    try {
      do {
        this.again = false;
        await this.round();
      } while (this.again && this.running);
    } finally {
      this.claiming = false;
    }
  }

  stop(): void {
    this.running = false;
    clearInterval(this.poller);
  }
}
