/** The task state machine: which transitions exist. The store enforces them by compare-and-set. */
import type { TaskState } from './types.js';

const TRANSITIONS: Record<TaskState, readonly TaskState[]> = {
  queued: ['running', 'failed', 'cancelled'],
  // running → running is a re-claim after lease expiry (a new attempt).
  running: ['running', 'succeeded', 'failed', 'cancelled'],
  succeeded: [],
  failed: [],
  cancelled: [],
};

export function canTransition(from: TaskState, to: TaskState): boolean {
  return TRANSITIONS[from].includes(to);
}
