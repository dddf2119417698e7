/**
 * Worker identity and dead-worker recovery. A worker id is `host:pid:nonce`. On start, running
 * tasks leased to a worker on this host whose process no longer exists are released at once, so a
 * restart picks up a killed process's tasks without waiting for their leases to expire. Workers
 * on other hosts are never touched; their leases simply expire.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

export function newWorkerId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lease owners among `owners` that ran on this host in a process that is gone. */
export function deadLocalWorkers(owners: readonly string[], self: string): string[] {
  const host = hostname();
  return owners.filter((owner) => {
    if (owner === self) return false;
    const parts = owner.split(':');
    parts.pop(); // nonce
    const pid = Number(parts.pop());
    const ownerHost = parts.join(':');
    return ownerHost === host && Number.isInteger(pid) && pid > 0 && pid !== process.pid && !processAlive(pid);
  });
}
