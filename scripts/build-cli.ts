import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { build, type Plugin } from 'esbuild';

/**
 * Bundles the compiled CLI (dist/src/cli/main.js, with every daemon it starts)
 * into dist/src/bundle: run by `npm run build` after tsc, started by bin/ucloud.
 * Node spends most of a short command's start resolving and loading modules
 * one file at a time (~150 files for `ucloud vm list`, 0.45 s of CPU before
 * the first request; a daemon several hundred): a few files load in a third
 * of that.
 *
 * The bundle sits as deep in dist/ as the modules it replaces, so the paths
 * they find from their own location (common/paths.ts, api/web.ts) still hold.
 * Each daemon is a chunk loaded when its command runs (`splitting`), sharing one
 * copy of each module with the CLI. The etcd client and its gRPC stay in
 * node_modules as they are: etcd3 reads its .proto file beside its own code.
 */
const LEFT_OUT = new Set(['etcd3', '@grpc/grpc-js', '@grpc/proto-loader', 'protobufjs']);

const root = join(import.meta.dirname, '..', '..');
const out = join(root, 'dist', 'src', 'bundle');

const packagesOutside: Plugin = {
  name: 'packages-outside',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:')) return { path: args.path, external: true };
      const name = args.path.startsWith('@') ? args.path.split('/').slice(0, 2).join('/') : args.path.split('/')[0]!;
      return LEFT_OUT.has(name) ? { path: args.path, external: true } : undefined;
    });
  },
};

await rm(out, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: { main: 'dist/src/cli/main.js' },
  outdir: out,
  bundle: true,
  splitting: true,
  chunkNames: 'chunk-[hash]',
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Most inlined packages are CommonJS: their `require` of Node's own modules needs one in ESM.
  banner: { js: "import { createRequire as __ucloudRequire } from 'node:module'; const require = __ucloudRequire(import.meta.url);" },
  plugins: [packagesOutside],
  logLevel: 'warning',
});
