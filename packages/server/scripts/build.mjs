// `npm run build` (run at install by the root `prepare`): compiles src/ to dist/ with tsc, from a
// clean dist/ (no module of a deleted source file left behind), then copies what the compiled
// server reads next to its own modules (the numbered SQL migrations of both drivers).
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
rmSync(`${root}dist`, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', `${root}tsconfig.build.json`], { stdio: 'inherit' });
for (const dir of ['store/sqlite/migrations', 'store/postgres/migrations']) {
  cpSync(`${root}src/${dir}`, `${root}dist/${dir}`, { recursive: true, filter: (src) => !/\.[cm]?[jt]s$/.test(src) });
}
