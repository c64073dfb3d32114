// bench/api: what the API's contract costs. One real etcd, two API servers
// built in this process from the same code on the same store, listening side
// by side:
//   on:  as `ucloud api` wires it: the role check (src/api/authz.ts), quotas
//        (QuotaManager: the owner's limits per create, from the API's watch-fed
//        cache of overrides), the rate limit (@fastify/rate-limit, every token
//        counted: a limit nobody reaches) and audit events (EventLog: every
//        changing request, written in batches, one etcd transaction each);
//   off: the same server without them (buildApi's bench-only
//        `contract: { authorize: false }`, no `quotas`, no `rateLimit`, no
//        `eventLog`). It still authenticates every request, and a create still
//        updates its owner's usage record in the VM's transaction: usage is
//        counted whether or not quotas are set, so that part is in both.
// autocannon drives each from a worker thread (its own event loop), alternating
// on and off, the order flipped every round; medians of the rounds:
//   vm show:   GET /v1/vms/<name>, one user's VM;
//   vm create: POST /v1/vms, a new name every request, round-robin over
//              2 × connections users (one user's creates serialize on their
//              usage record). No scheduler runs: the VMs stay pending.
// Every user has an unlimited quota (QuotaManager.set), so no create is refused.
//
// --breakdown also runs both against `off` with one part each (off+authz,
// off+quotas, off+rate, off+audit), to tell which part costs what.
//
// Usage: npm run bench:api [-- --rounds 3 --duration 6 --connections 10 --breakdown]
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Api, Managers } from '../src/api/context.js';
import { buildApi } from '../src/api/server.js';
import { silentLogger } from '../src/common/logger.js';
import { ConsoleManager } from '../src/managers/consoles.js';
import { FileManager } from '../src/managers/files.js';
import { HostManager } from '../src/managers/hosts.js';
import { ImageManager } from '../src/managers/images.js';
import { KeyManager } from '../src/managers/keys.js';
import { NetworkManager } from '../src/managers/networks.js';
import { QuotaManager } from '../src/managers/quotas.js';
import { TokenCache } from '../src/managers/token-cache.js';
import { UserManager } from '../src/managers/users.js';
import { VmManager } from '../src/managers/vms.js';
import { API_ACTOR } from '../src/model/vm-lifecycle.js';
import { EventLog } from '../src/store/event-log.js';
import type { Store } from '../src/store/store.js';
import { TestCluster, until } from '../test/helpers/cluster.js';
import { benchArgs } from './args.js';
import { median } from './harness.js';

interface CannonResult {
  requests: { average: number };
  latency: { average: number; p50: number; p99: number };
  non2xx: number;
  errors: number;
  '2xx': number;
}
const autocannon = createRequire(import.meta.url)('autocannon') as (opts: {
  url: string;
  connections: number;
  duration: number;
  workers?: number;
  headers?: Record<string, string>;
  requests?: { method: string; setupRequest?: string }[];
}) => Promise<CannonResult>;

const args = benchArgs('usage: node dist/bench/api.js [--rounds 3] [--duration 6] [--connections 10] [--breakdown]   (root)', { rounds: 3, duration: 6, connections: 10 }, { flags: ['breakdown'] });
const ROUNDS = args.rounds;
const DURATION = args.duration;
const CONNECTIONS = args.connections;
const USERS = 2 * CONNECTIONS;
const GOAL = 0.9;

/** The daemon's defaults (ucloud.conf's quota_*): limits a create is checked against, lifted per user below. */
const QUOTA_DEFAULTS = { vms: 100, vcpus: 400, ram: 2 ** 40, disk: 10 * 2 ** 40, networks: 20, images: 50, files: 0, rate: 600 };

type Part = 'authz' | 'quotas' | 'rate' | 'audit';
const PARTS: readonly Part[] = ['authz', 'quotas', 'rate', 'audit'];

interface Server {
  label: string;
  api: Api;
  url: string;
  events?: EventLog;
}

/** The managers as `ucloud api` makes them (src/api/main.ts), with those parts of the contract in `parts`. */
async function startServer(store: Store, label: string, parts: readonly Part[]): Promise<Server> {
  const has = (p: Part) => parts.includes(p);
  const tokens = new TokenCache(store, silentLogger);
  const events = has('audit') ? new EventLog(store, { log: silentLogger, bucketMax: Number.MAX_SAFE_INTEGER }) : undefined;
  const m: Managers = {
    store,
    users: new UserManager(store, tokens),
    vms: new VmManager(store, { actor: API_ACTOR }),
    hosts: new HostManager(store),
    images: new ImageManager(store, { admins: () => tokens.admins() }),
    files: new FileManager(store),
    keys: new KeyManager(store),
    networks: new NetworkManager(store, { vniRange: { first: 10000, last: 16000000 }, ipv6Pool: 'fd75:636c:6f75::/48' }),
    consoles: new ConsoleManager(store),
    ...(has('quotas') ? { quotas: new QuotaManager(store, QUOTA_DEFAULTS) } : {}),
    ...(events ? { eventLog: events } : {}),
  };
  const api = buildApi(m, silentLogger, { tokens, contract: { authorize: has('authz') }, ...(has('rate') ? { rateLimit: { perWindow: 1e9 } } : {}) });
  await api.listen({ host: '::1', port: 0 });
  await until('the token cache listed', () => tokens.admins() !== undefined);
  const { port } = api.server.address() as AddressInfo;
  return { label, api, url: `http://[::1]:${port}`, ...(events ? { events } : {}) };
}

/** autocannon's setupRequest for creates, a CommonJS file a worker thread can require: a fresh name and the next user's token. */
function writeCreateRequest(dir: string, tokens: string[]): string {
  const file = join(dir, 'create-request.cjs');
  writeFileSync(
    file,
    `const { threadId } = require('node:worker_threads');
const tokens = ${JSON.stringify(tokens)};
const run = Date.now().toString(36);
let n = 0;
module.exports = (req) => {
  const i = n++;
  req.headers = { ...req.headers, authorization: 'Bearer ' + tokens[i % tokens.length], 'content-type': 'application/json' };
  req.body = JSON.stringify({ name: 'b' + run + '-' + threadId + '-' + i, image: 'ucloud-test', cpu: 1, ram: '256MiB', disk: '1GiB' });
  return req;
};
`,
  );
  return file;
}

interface Figures {
  rps: number;
  p50: number;
  p99: number;
  mean: number;
  bad: number;
}

async function measure(s: Server, kind: 'show' | 'create', ctx: { showToken: string; createRequest: string }, duration: number): Promise<Figures> {
  const r =
    kind === 'show'
      ? await autocannon({ url: `${s.url}/v1/vms/target`, connections: CONNECTIONS, duration, workers: 1, headers: { authorization: `Bearer ${ctx.showToken}` } })
      : await autocannon({ url: `${s.url}/v1/vms`, connections: CONNECTIONS, duration, workers: 1, requests: [{ method: 'POST', setupRequest: ctx.createRequest }] });
  // Audit writes left over never land in the next run.
  await s.events?.flushed();
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, mean: r.latency.average, bad: r.non2xx + r.errors };
}

async function main(): Promise<void> {
  const load0 = loadavg();
  const c = await TestCluster.start();
  const servers: Server[] = [];
  try {
    await c.bootstrap({ guestImage: c.tinyImage() });
    const users = new UserManager(c.store);
    const quotas = new QuotaManager(c.store, QUOTA_DEFAULTS);
    const tokens: string[] = [];
    for (let i = 0; i < USERS; i++) {
      const name = `u${i}`;
      tokens.push((await users.create(name, 'user')).token);
      await quotas.set(name, { vms: 'unlimited', vcpus: 'unlimited', ram: 'unlimited', disk: 'unlimited', networks: 'unlimited' });
    }
    servers.push(await startServer(c.store, 'on', PARTS), await startServer(c.store, 'off', []));
    // --breakdown: `off` plus one part each as well, to see which part costs what.
    const extra = args.breakdown ? await Promise.all(PARTS.map((p) => startServer(c.store, `off+${p}`, [p]))) : [];
    servers.push(...extra);
    // The show target, and each user's default network made now (the first create of a user makes it).
    for (let i = 0; i < USERS; i++) {
      const res = await servers[0]!.api.inject({ method: 'POST', url: '/v1/vms', headers: { authorization: `Bearer ${tokens[i]}` }, payload: { name: i ? 'first' : 'target', image: 'ucloud-test', cpu: 1, ram: '256MiB', disk: '1GiB' } });
      if (res.statusCode !== 201) throw new Error(`warm-up create: ${res.statusCode} ${res.body}`);
    }
    const ctx = { showToken: tokens[0]!, createRequest: writeCreateRequest(c.dir, tokens) };
    for (const s of servers) {
      const res = await s.api.inject({ method: 'GET', url: '/v1/vms/target', headers: { authorization: `Bearer ${ctx.showToken}` } });
      if (res.statusCode !== 200) throw new Error(`${s.label}: vm show answered ${res.statusCode} ${res.body}`);
    }
    // JIT and caches warm on both before anything counts.
    for (const kind of ['show', 'create'] as const) for (const s of servers) await measure(s, kind, ctx, 2);

    const got: Record<string, Figures[]> = {};
    for (let round = 0; round < ROUNDS; round++) {
      for (const kind of ['show', 'create'] as const) {
        for (const s of round % 2 ? [...servers].reverse() : servers) {
          const f = await measure(s, kind, ctx, DURATION);
          (got[`${kind} ${s.label}`] ??= []).push(f);
          console.error(`round ${round + 1} ${kind} ${s.label}: ${f.rps.toFixed(0)} req/s, p50 ${f.p50} ms, p99 ${f.p99} ms, mean ${f.mean.toFixed(2)} ms${f.bad ? `, ${f.bad} non-2xx/errors` : ''} (load ${loadavg()[0]!.toFixed(2)})`);
        }
      }
    }
    const load1 = loadavg();

    const med = (k: string, pick: (f: Figures) => number) => median(got[k]!.map(pick));
    const cell = (k: string) => `${med(k, (f) => f.rps).toFixed(0)} req/s, p50 ${med(k, (f) => f.p50)} ms, p99 ${med(k, (f) => f.p99)} ms, mean ${med(k, (f) => f.mean).toFixed(2)} ms`;
    console.log(`\n## api: the contract's cost (${ROUNDS} rounds alternating, medians; autocannon in a worker thread, ${CONNECTIONS} connections, ${DURATION} s per run)`);
    console.log(`load average (1 min) at start ${load0[0]!.toFixed(2)}, at end ${load1[0]!.toFixed(2)}\n`);
    console.log('| request | contract on (authz, quotas, rate limit, audit) | contract off | on/off throughput |');
    console.log('|---|---|---|---|');
    const verdicts: string[] = [];
    for (const [kind, what] of [
      ['show', '`vm show` (GET /v1/vms/:name)'],
      ['create', `\`vm create\` (POST /v1/vms, ${USERS} users round-robin)`],
    ] as const) {
      const ratio = med(`${kind} on`, (f) => f.rps) / med(`${kind} off`, (f) => f.rps);
      console.log(`| ${what} | ${cell(`${kind} on`)} | ${cell(`${kind} off`)} | ${ratio.toFixed(3)} |`);
      verdicts.push(`${kind} ${((1 - ratio) * 100).toFixed(1)} % slower: ${ratio >= GOAL ? 'met' : 'not met'}`);
    }
    for (const kind of ['show', 'create'] as const) {
      for (const s of extra) {
        const ratio = med(`${kind} ${s.label}`, (f) => f.rps) / med(`${kind} off`, (f) => f.rps);
        console.log(`| \`vm ${kind}\`, ${s.label} | | ${cell(`${kind} ${s.label}`)} | ${ratio.toFixed(3)} (${s.label} / off) |`);
      }
    }
    const bad = Object.entries(got).flatMap(([k, fs]) => (fs.some((f) => f.bad) ? [`${k}: ${fs.map((f) => f.bad).join('/')}`] : []));
    if (bad.length) console.log(`\nnon-2xx or errors: ${bad.join('; ')}`);
    console.log(`\ngoal: the contract ≤ 10 % slower (on/off ≥ ${GOAL}): ${verdicts.join('; ')}`);
  } finally {
    for (const s of servers) await s.api.close();
    await c.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`api bench: ${(err as Error).stack}`);
    process.exit(1);
  },
);
