// bench/cli-start: how long a short CLI command takes from exec to exit, the
// bundled CLI that bin/ucloud starts (dist/src/bundle, scripts/build-cli.ts)
// next to the same compiled modules loaded one file at a time
// (dist/src/cli/main.js) and next to the physical limit, Node starting and
// exiting (`node -e 0`). Two commands: `vm list --help` (the command tree) and
// `vm list` against an API that is not there (config, client, the error and
// its exit code: everything but the request). Alternating rounds; medians.
//
// Usage: npm run bench:cli-start [-- --rounds 30]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/common/paths.js';
import { benchArgs } from './args.js';
import { median } from './harness.js';

const args = benchArgs('usage: node dist/bench/cli-start.js [--rounds 30]', { rounds: 30 });
const root = packageRoot();
const dir = mkdtempSync(join(tmpdir(), 'ucloud-bench-cli-'));
const config = join(dir, 'config.json');
// port 1 on ::1: refused at once, so what is timed is the CLI, not a network
writeFileSync(config, JSON.stringify({ url: 'http://[::1]:1', token: 'ucloud-bench' }), { mode: 0o600 });
const env = { ...process.env, UCLOUD_CLI_CONFIG: config, NO_COLOR: '1' };

const starts = {
  bundled: [join(root, 'bin', 'ucloud')],
  'one file at a time': [join(root, 'dist', 'src', 'cli', 'main.js')],
} as const;
const commands = { 'vm list --help': ['vm', 'list', '--help'], 'vm list (no API)': ['vm', 'list'] } as const;

function run(argv: readonly string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, argv, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.error) throw r.error;
  return ms;
}
const times = new Map<string, number[]>();
const add = (k: string, ms: number) => {
  const xs = times.get(k);
  if (xs) xs.push(ms);
  else times.set(k, [ms]);
};
try {
  run(starts.bundled.concat('--help')); // the page cache warm for both
  run(starts['one file at a time'].concat('--help'));
  for (let i = 0; i < args.rounds; i++) {
    add('node -e 0', run(['-e', '0']));
    for (const [cmd, cargs] of Object.entries(commands)) {
      for (const [how, argv] of Object.entries(starts)) add(`${cmd} | ${how}`, run([...argv, ...cargs]));
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const node = median(times.get('node -e 0')!);
console.log(`cli-start: ${args.rounds} alternating rounds, load ${loadavg()[0]!.toFixed(1)}; Node alone (node -e 0): ${node.toFixed(0)} ms`);
for (const cmd of Object.keys(commands)) {
  const b = median(times.get(`${cmd} | bundled`)!);
  const f = median(times.get(`${cmd} | one file at a time`)!);
  console.log(`  ${cmd.padEnd(18)} bundled ${b.toFixed(0)} ms (${(b / node).toFixed(2)}× Node alone), one file at a time ${f.toFixed(0)} ms (${(f / node).toFixed(2)}×): ${(f / b).toFixed(2)}× faster bundled`);
}
