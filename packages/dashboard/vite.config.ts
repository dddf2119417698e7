// The dashboard is served by the gateway at /dashboard (packages/server/src/http/dashboard):
// one index.html plus hashed assets, everything bundled (no CDN), hash routing.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/dashboard/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 200,
    reportCompressedSize: true,
  },
  server: {
    // `npm run dev -w @taskgate/dashboard` against a gateway on :8787.
    proxy: { '/admin': 'http://127.0.0.1:8787', '/v1': 'http://127.0.0.1:8787', '/files': 'http://127.0.0.1:8787' },
  },
});
