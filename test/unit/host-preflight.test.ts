import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type ConfigKey } from '../../src/common/config.js';
import { runChecks, type Check, type CheckResult } from '../../src/common/preflight.js';
import { writeBeat } from '../../src/host/fence/files.js';
import { hostAddress } from '../../src/host/preflight/address.js';
import { clockSync } from '../../src/host/preflight/clock.js';
import { fenceWatchdog } from '../../src/host/preflight/fence.js';
import { migrationPorts } from '../../src/host/preflight/ports.js';
import { judgeEtcdHealth, type EtcdHealth } from '../../src/store/etcd-health.js';
import { monoMs } from '../../src/common/clock.js';

// The checks of `ucloud host preflight` that need no etcd, each against the
// real thing it reads: programs on a PATH, this host's interfaces, its sockets.
// The etcd ones are in test/integration/host-preflight.test.ts.

const dir = mkdtempSync(join(tmpdir(), 'ucloud-host-preflight-'));
const config = (overrides: Partial<Record<ConfigKey, string>> = {}) => loadConfig({ file: '/dev/null', env: {}, overrides }).config;
const one = async (check: Check, overrides: Partial<Record<ConfigKey, string>> = {}): Promise<CheckResult> => (await runChecks(config(overrides), [check]))[0]!;

/** A PATH holding only the given programs, each a shell script printing `out` and exiting `code`. */
function fakePath(name: string, programs: Record<string, { out: string; code?: number }>): NodeJS.ProcessEnv {
  const bin = join(dir, name);
  mkdirSync(bin);
  for (const [prog, { out, code = 0 }] of Object.entries(programs)) {
    writeFileSync(join(bin, prog), `#!/bin/sh\nprintf '%s\\n' '${out}'\nexit ${code}\n`);
    chmodSync(join(bin, prog), 0o755);
  }
  return { PATH: bin };
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('clock synchronised', () => {
  it('believes timedatectl first', async () => {
    const synced = await one(clockSync(fakePath('td-yes', { timedatectl: { out: 'yes' }, chronyc: { out: 'Leap status     : Not synchronised' } })));
    expect(synced).toEqual({ name: 'clock synchronised', ok: true, message: 'timedatectl: NTPSynchronized=yes' });
    const not = await one(clockSync(fakePath('td-no', { timedatectl: { out: 'no' } })));
    expect(not.ok).toBe(false);
    expect(not.message).toBe('timedatectl says the clock is not synchronised (NTPSynchronized=no)');
    expect(not.fix).toMatch(/apt-get install chrony/);
  });

  it('asks chronyc, then ntpstat, when timedatectl cannot answer (no systemd as PID 1)', async () => {
    const noBus = { out: 'System has not been booted with systemd as init system (PID 1).', code: 1 };
    expect(await one(clockSync(fakePath('chrony-ok', { timedatectl: noBus, chronyc: { out: 'Reference ID    : C0A80001\nLeap status     : Normal' } })))).toMatchObject({ ok: true, message: 'chronyc: leap status Normal' });
    expect(await one(clockSync(fakePath('chrony-no', { timedatectl: noBus, chronyc: { out: 'Leap status     : Not synchronised' } })))).toMatchObject({
      ok: false,
      message: 'chronyc says the clock is not synchronised (leap status Not synchronised)',
    });
    expect(await one(clockSync(fakePath('ntpstat-no', { ntpstat: { out: 'unsynchronised', code: 1 } })))).toMatchObject({ ok: false, message: 'ntpstat says the clock is not synchronised (unsynchronised)' });
    expect(await one(clockSync(fakePath('ntpstat-ok', { chronyc: { out: '506 Cannot talk to daemon', code: 1 }, ntpstat: { out: 'synchronised to NTP server' } })))).toMatchObject({ ok: true, message: 'ntpstat: synchronised to NTP server' });
  });

  it('says so plainly when no time daemon can be asked', async () => {
    const r = await one(clockSync(fakePath('none', { ntpstat: { out: 'Unable to talk to NTP daemon', code: 2 } })));
    expect(r.ok).toBe(false);
    expect(r.message).toBe(
      'cannot tell whether the clock is synchronised: no time daemon answered (timedatectl: cannot run timedatectl: not installed; chronyc: cannot run chronyc: not installed; ntpstat: ntpd cannot be asked (exit 2))',
    );
  });
});

describe('host address', () => {
  // A bridge of this file's own (no dummy module everywhere), holding an address no other test uses.
  const ifname = 'ucpfltest0';
  const address = 'fd00:5ec:f117::7';
  const drop = () => {
    try {
      execFileSync('ip', ['link', 'del', ifname], { stdio: 'ignore' });
    } catch {
      // not there
    }
  };
  beforeAll(drop);
  afterAll(drop);

  it('is found on an interface, not on loopback, and vxlan_underlay exists', async () => {
    execFileSync('ip', ['link', 'add', ifname, 'type', 'bridge']);
    execFileSync('ip', ['-6', 'addr', 'add', `${address}/128`, 'dev', ifname, 'nodad']);
    execFileSync('ip', ['link', 'set', ifname, 'up']);
    expect(await one(hostAddress, { host_address: 'FD00:5EC:F117:0::7', vxlan_underlay: ifname })).toEqual({ name: 'host address', ok: true, message: `${address} on ${ifname}` });
    const noUnderlay = await one(hostAddress, { host_address: address, vxlan_underlay: 'ucpflnone0' });
    expect(noUnderlay).toMatchObject({ ok: false, message: 'vxlan_underlay ucpflnone0 is no interface of this host', fix: `set vxlan_underlay to the interface that carries host_address (${ifname})` });
    const absent = await one(hostAddress, { host_address: 'fd00:5ec:f117::8', vxlan_underlay: ifname });
    expect(absent.ok).toBe(false);
    expect(absent.message).toBe('host_address fd00:5ec:f117::8 is on no interface of this host');
    expect(absent.fix).toContain(`${address} on ${ifname}`);
    expect(await one(hostAddress, { host_address: '::1' })).toMatchObject({ ok: false, message: 'host_address ::1 is a loopback address: other hosts cannot reach it' });
    expect(await one(hostAddress, { host_address: 'hv1.example' })).toMatchObject({ ok: false, message: 'host_address "hv1.example" is not an IPv6 address' });
  });
});

describe('migration ports free', () => {
  let server: Server;
  let port = 0;
  beforeAll(async () => {
    server = createServer();
    await new Promise<void>((r) => server.listen(0, '::', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => void (server.listening && server.close()));

  it('names the process that holds a port of the range', async () => {
    const r = await one(migrationPorts, { migration_ports: `${port - 1}-${port + 1}` });
    expect(r.ok).toBe(false);
    expect(r.message).toMatch(new RegExp(`^migration_ports ${port - 1}-${port + 1}: ${port} is held by \\S+ \\(pid ${process.pid}\\)$`));
    expect(r.fix).toMatch(/set migration_ports/);
  });

  it('passes once nothing listens there', async () => {
    await new Promise<void>((r) => server.close(() => r()));
    expect(await one(migrationPorts, { migration_ports: `${port}-${port}` })).toEqual({ name: 'migration ports free', ok: true, message: '1 ports, none in use' });
  });
});

describe('fence watchdog', () => {
  it('passes while the watchdog beats, as the agent judges it', async () => {
    const runDir = join(dir, 'run-fence');
    expect(await one(fenceWatchdog, { run_dir: runDir })).toMatchObject({ ok: false, message: `no fence watchdog has beaten under ${runDir}: HA VMs will not be armed on this host` });
    await writeBeat(runDir, { at: monoMs(), pid: 4242 });
    expect(await one(fenceWatchdog, { run_dir: runDir })).toEqual({ name: 'fence watchdog', ok: true, message: 'beating (pid 4242)' });
    await writeBeat(runDir, { at: monoMs() - 10_000, pid: 4242 });
    const stale = await one(fenceWatchdog, { run_dir: runDir });
    expect(stale.message).toMatch(/^the fence watchdog \(pid 4242\) last beat 10\.\d s ago: HA VMs will not be armed on this host$/);
    expect(stale.fix).toMatch(/^systemctl enable --now ucloud-fence/);
  });
});

describe('etcd health verdict', () => {
  const member = (id: string, name: string, learner = false) => ({ id, name, clientURLs: [`http://${name}:2379`], learner });
  const members = [member('a1', 'hv1'), member('b2', 'hv2'), member('c3', 'hv3')];
  const answer = (id: string, leader = 'a1') => ({ endpoint: `http://${members.find((m) => m.id === id)!.name}:2379`, id, leader, version: '3.5.9', learner: false, alarms: [] });
  const configured = members.map((m) => m.clientURLs[0]!);

  it('is ok with every member answering and one leader', () => {
    expect(judgeEtcdHealth({ members, statuses: [answer('a1'), answer('b2'), answer('c3')] }, configured)).toEqual({ ok: true, summary: '3 of 3 members answer, leader hv1, etcd 3.5.9' });
  });

  it('names a dead member, a lost quorum, a missing or disputed leader, a learner and alarms', () => {
    const dead: EtcdHealth = { members, statuses: [answer('a1'), answer('b2'), { endpoint: 'http://hv3:2379', error: 'ECONNREFUSED 10.0.0.3:2379' }] };
    expect(judgeEtcdHealth(dead, configured)).toEqual({ ok: false, summary: 'endpoint http://hv3:2379 does not answer (ECONNREFUSED 10.0.0.3:2379); member hv3 (http://hv3:2379) does not answer' });
    const lost: EtcdHealth = { members, statuses: [answer('a1', '0')] };
    expect(judgeEtcdHealth(lost, ['http://hv1:2379']).summary).toBe('only 1 of 3 voting members answer; a quorum is 2; member hv2 (http://hv2:2379) does not answer; member hv3 (http://hv3:2379) does not answer; no leader is known');
    expect(judgeEtcdHealth({ members, statuses: [answer('a1', 'a1'), answer('b2', 'b2'), answer('c3', 'a1')] }, configured).summary).toBe('members disagree on the leader (a1, b2)');
    // A learner is no voter: two voters answering is the whole quorum.
    const withLearner: EtcdHealth = { members: [...members.slice(0, 2), member('c3', 'hv3', true)], statuses: [answer('a1'), answer('b2')] };
    expect(judgeEtcdHealth(withLearner, configured.slice(0, 2))).toEqual({ ok: true, summary: '2 of 2 members answer, leader hv1, etcd 3.5.9' });
    const full: EtcdHealth = { members, statuses: [answer('a1'), answer('b2'), { ...answer('c3'), alarms: ['NOSPACE'] }] };
    expect(judgeEtcdHealth(full, configured)).toEqual({ ok: false, summary: 'http://hv3:2379 raises NOSPACE' });
    expect(judgeEtcdHealth({ members: [], statuses: [{ endpoint: 'http://hv1:2379', error: 'x' }] }, ['http://hv1:2379']).summary).toBe('endpoint http://hv1:2379 does not answer (x); no endpoint could list the members');
  });
});
