/** Small shared pieces. */
import type { ComponentChildren } from 'preact';
import { json } from '../lib/format';

export function StateBadge({ state }: { state: string }) {
  return <mark class={`state state-${state}`}>{state}</mark>;
}

export function JsonBlock({ value }: { value: unknown }) {
  return <pre class="json"><code>{json(value)}</code></pre>;
}

export function Section({ title, children, testid }: { title: string; children: ComponentChildren; testid?: string }) {
  return (
    <section data-testid={testid}>
      <h3>{title}</h3>
      {children}
    </section>
  );
}

export function Failed({ error }: { error: unknown }) {
  if (error === null || error === undefined) return null;
  return <p role="alert">{error instanceof Error ? error.message : String(error)}</p>;
}
