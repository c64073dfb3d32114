import { copyFile, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';

/**
 * Bundles the dashboard (src/web) into dist/web: index.html, app.js, app.css.
 * Run by `npm run build` after tsc; the API serves the folder (src/api/web.ts).
 * Everything is bundled, nothing comes from a CDN (the page's CSP allows only 'self').
 */
const root = join(import.meta.dirname, '..', '..');
const out = join(root, 'dist', 'web');
await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await build({
  absWorkingDir: root,
  entryPoints: { app: 'src/web/main.ts' },
  outdir: out,
  bundle: true,
  // The console (xterm.js, most of the bytes) and the screen (noVNC) are chunks of their own, fetched when first opened.
  splitting: true,
  chunkNames: 'chunk-[hash]',
  format: 'esm',
  platform: 'browser',
  target: ['chrome111', 'firefox115', 'safari16.4'],
  minify: true,
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning',
});
await copyFile(join(root, 'src', 'web', 'index.html'), join(out, 'index.html'));
