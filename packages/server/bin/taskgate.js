#!/usr/bin/env node
// Runs the compiled CLI (dist/, built at install by `npm run build`). A checkout that has not been
// built, or TASKGATE_FROM_SOURCE=1, runs the TypeScript sources through tsx's loader instead.
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/cli/main.js', import.meta.url);
if (process.env.TASKGATE_FROM_SOURCE !== '1' && existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
