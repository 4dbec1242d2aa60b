// The console's production build: static files in dist/console, served by the engine's `api`
// role. Hashed file names under assets/ (cached for a year); no inline script, so the engine's
// Content-Security-Policy needs no 'unsafe-inline' for scripts.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/',
  logLevel: 'warn',
  // React's production build whatever NODE_ENV the builder runs under (jest sets `test`).
  define: { 'process.env.NODE_ENV': JSON.stringify('production') },
  oxc: { jsx: { runtime: 'automatic', development: false } },
  build: {
    outDir: fileURLToPath(new URL('../../dist/console', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    // A module-preload polyfill would be an inline script.
    modulePreload: { polyfill: false },
    sourcemap: true,
    chunkSizeWarningLimit: 600,
    rolldownOptions: {
      // React libraries mark their modules "use client" (a server-components hint, meaningless here).
      onwarn(warning, warn) {
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
    },
  },
});
