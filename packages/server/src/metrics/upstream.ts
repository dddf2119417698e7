/**
 * A channel's adapter, counted: every call hands its HTTP requests an observer (`UpstreamCall.
 * observe`, which providers/upstream/http.ts `send` reports to), and a call that fails is counted
 * by the kind of its typed error. The adapter itself is unchanged: same protocol, recovery, batch
 * size and optional methods.
 */
import {
  UpstreamError, type UpstreamAdapter, type UpstreamCall, type UpstreamRequestObserver,
} from '../core/upstream.js';

export interface AdapterObserver {
  request: UpstreamRequestObserver;
  error(phase: string, kind: string): void;
}

export function instrumentAdapter(inner: UpstreamAdapter, observer: AdapterObserver): UpstreamAdapter {
  const observed = (call: UpstreamCall): UpstreamCall => ({ ...call, observe: observer.request });
  const counted = async <T>(phase: string, call: UpstreamCall, run: (call: UpstreamCall) => Promise<T>): Promise<T> => {
    try {
      return await run(observed(call));
    } catch (err) {
      // Our own abort (cancel, deadline, stop) is no upstream failure.
      if (!call.signal.aborted) observer.error(phase, err instanceof UpstreamError ? err.kind : 'other');
      throw err;
    }
  };
  const adapter: UpstreamAdapter = {
    protocol: inner.protocol,
    recovery: inner.recovery,
    batchSize: inner.batchSize,
    submit: (req, call) => counted('submit', call, (c) => inner.submit(req, c)),
    poll: (refs, call) => counted('poll', call, (c) => inner.poll(refs, c)),
  };
  if (inner.submitFollowUp) {
    const submitFollowUp = inner.submitFollowUp.bind(inner);
    adapter.submitFollowUp = (req, call) => counted('submit', call, (c) => submitFollowUp(req, c));
  }
  if (inner.cancel) {
    const cancel = inner.cancel.bind(inner);
    adapter.cancel = (ref, call) => counted('cancel', call, (c) => cancel(ref, c));
  }
  if (inner.lookup) {
    const lookup = inner.lookup.bind(inner);
    adapter.lookup = (key, call) => counted('lookup', call, (c) => lookup(key, c));
  }
  return adapter;
}
