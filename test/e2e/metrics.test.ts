import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Vm } from '../../src/model/index.js';
import { TestCluster, until } from '../helpers/cluster.js';
import { guestVariant } from '../helpers/guest-variant.js';
import { freePort } from '../helpers/ports.js';

// Issue 15, "Must show": a real Prometheus (Debian's package) scrapes every
// daemon of a cluster; its HTTP API shows a running VM's CPU seconds
// increasing and its disk-write bytes growing after the guest writes.

// A guest that, with a second disk, writes 1 MiB to it every 2 s (fsync'd, so
// it reaches QEMU) and says so on its console.
const GUEST = `#!/bin/sh
if [ -b /dev/vdb ]; then
  i=0
  while :; do
    dd if=/dev/zero of=/dev/vdb bs=1M count=1 seek=$((i % 16)) conv=fsync 2>/dev/null
    echo UCLOUD-METRICS-WROTE $i >/dev/console
    i=$((i + 1))
    sleep 2
  done
fi
`;

const PROMETHEUS = '/usr/bin/prometheus';
const JOBS = ['api', 'scheduler', 'host', 'imagescanner'] as const;
const MiB = 2 ** 20;

describe.skipIf(!existsSync(PROMETHEUS))('metrics: a real Prometheus scrapes every daemon', () => {
  let c: TestCluster;
  let prom: ChildProcess | undefined;
  let promUrl = '';
  let promLog = '';

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: guestVariant('diskwriter', GUEST, c.dir) });
    // Each daemon's endpoint on a port of this test's own.
    const ports = Object.fromEntries(await Promise.all(JOBS.map(async (j) => [j, await freePort('::1')] as const)));
    await Promise.all(JOBS.map((j) => c.spawn(j, { [`UCLOUD_${j.toUpperCase()}_METRICS_LISTEN`]: `[::1]:${ports[j]}` }).ready));

    const dir = join(c.dir, 'prometheus');
    mkdirSync(join(dir, 'data'), { recursive: true });
    const config = ['global:', '  scrape_interval: 1s', '  scrape_timeout: 1s', 'scrape_configs:', ...JOBS.flatMap((j) => [`  - job_name: ${j}`, '    static_configs:', `      - targets: ['[::1]:${ports[j]}']`])].join('\n');
    writeFileSync(join(dir, 'prometheus.yml'), `${config}\n`);
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prom = spawn(PROMETHEUS, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--storage.tsdb.retention.time=1h'], { stdio: ['ignore', 'ignore', 'pipe'] });
    prom.stderr!.on('data', (b: Buffer) => (promLog = (promLog + b.toString()).slice(-20_000)));
    await until('Prometheus ready', async () => (await fetch(`${promUrl}/-/ready`)).ok, 60_000, 200);
  }, 300_000);

  afterAll(async () => {
    if (prom && prom.exitCode === null) {
      const exited = new Promise((r) => prom!.once('exit', r));
      prom.kill('SIGTERM');
      await exited;
    }
    await c?.stop();
  }, 60_000);

  /** An instant query through Prometheus's HTTP API: each series' labels and value. */
  async function query(q: string): Promise<{ metric: Record<string, string>; value: number }[]> {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = (await res.json()) as { status: string; error?: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    if (body.status !== 'success') throw new Error(`${q}: ${body.error}`);
    return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  }
  const one = async (q: string) => (await query(q))[0]?.value;

  it('finds every daemon up', async () => {
    const up = await until('every job up', async () => {
      const r = await query('up');
      return JOBS.every((j) => r.some((s) => s.metric.job === j && s.value === 1)) && r;
    }, 60_000, 250);
    console.log(`prometheus up: ${up.map((s) => `${s.metric.job}=${s.value}`).join(' ')}`);
  }, 90_000);

  it("sees a running VM's CPU seconds increase and its disk-write bytes grow after the guest writes", async () => {
    await c.client().vms.create({ name: 'm1', image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB', hdd: ['32MiB'] });
    const running = await until('m1 running', async () => {
      const v: Vm | undefined = await c.client().vms.get('m1');
      return v?.status === 'running' && v.qemu && v;
    }, 120_000);
    const sel = `name="m1",owner="admin",host="hv1",vm="${running.id}"`;

    expect(await until('state running in Prometheus', () => one(`ucloud_vm_state{${sel},state="running"}`), 30_000, 250)).toBe(1);
    const cpu1 = await until('CPU seconds scraped', () => one(`ucloud_vm_cpu_seconds_total{${sel}}`), 30_000, 250);
    const cpu2 = await until('CPU seconds increasing', async () => {
      const v = await one(`ucloud_vm_cpu_seconds_total{${sel}}`);
      return v !== undefined && v > cpu1 && v;
    }, 30_000, 250);
    expect(cpu2).toBeGreaterThan(cpu1);

    const written = () => one(`ucloud_vm_disk_written_bytes_total{${sel},disk="hdd0"}`);
    const w1 = await until('disk-write bytes scraped', written, 60_000, 250);
    const marks = () => (readFileSync(running.qemu!.serialLog, 'utf8').match(/UCLOUD-METRICS-WROTE \d+/g) ?? []).length;
    const marksBefore = marks();
    // Two more writes of 1 MiB each, as the guest's console says, and then Prometheus sees at least that much more.
    await until('the guest wrote twice more', () => marks() >= marksBefore + 2, 60_000, 200);
    const w2 = await until('disk-write bytes grown by 2 MiB', async () => {
      const v = await written();
      return v !== undefined && v >= w1 + 2 * MiB && v;
    }, 30_000, 250);
    console.log(`prometheus: m1 CPU ${cpu1.toFixed(2)} -> ${cpu2.toFixed(2)} s; hdd0 written ${(w1 / MiB).toFixed(1)} -> ${(w2 / MiB).toFixed(1)} MiB (console: ${marks()} writes)`);
    expect(w2 - w1).toBeGreaterThanOrEqual(2 * MiB);
    expect(await one(`ucloud_vm_memory_rss_bytes{${sel}}`)).toBeGreaterThan(16 * MiB);

    // The same readings for the VM's owner through the API (the dashboard's graphs), fetched from the host with a ticket.
    const stats = await c.client().vms.stats('m1');
    expect(stats).toMatchObject({ vm: 'm1', host: 'hv1' });
    expect(stats.cpuSeconds).toBeGreaterThanOrEqual(cpu2);
    expect(stats.memoryRssBytes).toBeGreaterThan(16 * MiB);
    expect(stats.disks.find((d) => d.disk === 'hdd0')!.writtenBytes).toBeGreaterThanOrEqual(w2);
    const shown = await c.cli(['vm', 'stats', 'm1']);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^cpu seconds: +\d+\.\d\d$/m);
    expect(shown.stdout).toMatch(/^disk hdd0: +read .* written \d/m);
    // Another user's VM answers like a missing one, and asks nothing of the host.
    const eve = c.client((await c.managers().users.create('eve', 'user')).token);
    await expect(eve.vms.stats('m1')).rejects.toMatchObject({ code: 'VM_NOT_FOUND' });
    await expect(eve.vms.stats(running.id)).rejects.toMatchObject({ code: 'VM_NOT_FOUND' });

    // The other daemons' figures, with bounded labels: the route pattern, never the VM's name in a URL.
    expect(await until('VM creates counted by route', () => one('sum(ucloud_api_requests_total{method="POST",route="/v1/vms",status="201"})'), 30_000, 250)).toBeGreaterThanOrEqual(1);
    expect(await until('VM shows counted by route pattern', () => one('sum(ucloud_api_requests_total{method="GET",route="/v1/vms/:ref"})'), 30_000, 250)).toBeGreaterThanOrEqual(1);
    expect(await query('ucloud_api_requests_total{route=~".*m1.*"}')).toEqual([]);
    expect(await until('a placement counted', () => one('ucloud_scheduler_placements_total'), 30_000, 250)).toBeGreaterThanOrEqual(1);
    expect(await one('ucloud_scheduler_leader')).toBe(1);
    // Nothing waits: no pending series at all, and the oldest waiting VM's age is 0.
    expect(await query('ucloud_scheduler_pending_vms')).toEqual([]);
    expect(await one('ucloud_scheduler_oldest_pending_vm_age_seconds')).toBe(0);
    expect(await one('ucloud_image_imports_total{result="error"}')).toBe(0);
    const etcd = await query('sum by (job) (ucloud_etcd_request_duration_seconds_count)');
    expect(new Set(etcd.filter((s) => s.value > 0).map((s) => s.metric.job))).toEqual(new Set(JOBS));
  }, 300_000);

  it('keeps Prometheus healthy (no scrape errors in its log)', () => {
    expect(promLog).not.toMatch(/level=error/);
  });
});
