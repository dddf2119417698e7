/** The signed-in session and its live feed, for every view. */
import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks';
import type { LiveFeed, LiveListener, LiveStatus } from './live';
import type { Session } from './session';

export interface AppContext {
  session: Session;
  live: LiveFeed;
}

export const Ctx = createContext<AppContext | null>(null);

export function useApp(): AppContext {
  const ctx = useContext(Ctx);
  if (!ctx) throw new Error('useApp outside the signed-in app');
  return ctx;
}

/** Subscribes to the live feed for the component's lifetime (the newest handlers are used). */
export function useLive(listener: LiveListener): void {
  const { live } = useApp();
  const ref = useRef(listener);
  ref.current = listener;
  useEffect(() => live.on({ task: (t) => ref.current.task?.(t), resync: () => ref.current.resync?.() }), [live]);
}

export function useLiveStatus(): LiveStatus {
  const { live } = useApp();
  const [status, setStatus] = useState(live.status);
  useEffect(() => {
    setStatus(live.status);
    return live.onStatus(setStatus);
  }, [live]);
  return status;
}

/** Loads `fn` when `deps` change; `reload` re-runs it. */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[]): { data: T | null; error: unknown; loading: boolean; reload: () => void } {
  const [state, setState] = useState<{ data: T | null; error: unknown; loading: boolean }>({ data: null, error: null, loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    fn().then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error: unknown) => live && setState((s) => ({ data: s.data, error, loading: false })),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { ...state, reload };
}
