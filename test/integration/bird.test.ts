// route_mode on one fake host (a network namespace) next to an upstream
// router namespace running BIRD 2 (the BGP peer): HostNetwork.announce starts
// the host's BIRD, reloads it when the set of addresses changes and the
// upstream's kernel table follows; a routed network gets a default router
// lifetime, forwarding and its bridge in the firewall's `routed` set, an
// isolated one none of it. No QEMU: the kernel and BIRD are real.

import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/common/exec.js';
import { birdPid, renderBirdConf, routerIdFor } from '../../src/host/network/bird.js';
import { canonicalCidr, controlPlanePrefixes, readHostFirewall, renderHostFirewall } from '../../src/host/network/hostfw.js';
import { HostNetwork } from '../../src/host/network/index.js';
import { Ip } from '../../src/host/network/ip.js';
import { renderRadvdConf, ROUTER_LIFETIME_S } from '../../src/host/network/radvd.js';
import { announcedAddresses } from '../../src/host/routes.js';
import type { Vm } from '../../src/model/index.js';
import { until } from '../helpers/cluster.js';

const tag = (0x1000 + (randomBytes(2).readUInt16BE() % 0xf000)).toString(16);
const NS = { h: `ucl-bh-${tag}`, up: `ucl-bu-${tag}`, x: `ucl-bx-${tag}`, g: `ucl-bg-${tag}` };
const HOST = `fdfe:${tag}::10`;
const UP = `fdfe:${tag}::fe`;
const VNI_R = 0x20000 + randomBytes(2).readUInt16BE();
const VNI_I = VNI_R + 1;
const sh = (cmd: string, args: string[]) => run(cmd, args, { timeoutMs: 15_000 });
/** One echo from `ns` to `dst` answered. */
const ping = async (ns: string, dst: string) => (await run('ip', ['netns', 'exec', ns, 'busybox', 'ping', '-6', '-c', '1', '-W', '2', dst], { timeoutMs: 10_000, okCodes: [0, 1] })).code === 0;
const upRoute = async (a: string) => (await sh('ip', ['-n', NS.up, '-6', 'route', 'show', `${a}/128`])).stdout.trim();

describe('route_mode pieces (pure)', () => {
  it('renders one static /128 per address and one eBGP session per peer', () => {
    const conf = renderBirdConf({ routerId: '10.1.2.3', localAs: 65001, peers: [{ address: '2001:DB8::1', as: 65000 }], addresses: ['fd00::2', 'FD00::1', 'fd00::2'] });
    expect(conf).toContain('router id 10.1.2.3;');
    expect(conf.match(/route \S+ unreachable;/g)).toEqual(['route fd00::1/128 unreachable;', 'route fd00::2/128 unreachable;']);
    expect(conf).toContain('neighbor 2001:db8::1 as 65000;');
    expect(conf).toContain('ipv6 { table vms; import none; export all; };');
    expect(() => renderBirdConf({ routerId: 'x', localAs: 1, peers: [], addresses: [] })).toThrow(/dotted quad/);
    expect(() => renderBirdConf({ routerId: '10.0.0.1', localAs: 0, peers: [{ address: '2001:db8::1', as: 1 }], addresses: [] })).toThrow(/AS number/);
    expect(routerIdFor('h1')).toBe(routerIdFor('h1'));
    expect(routerIdFor('h1')).not.toBe(routerIdFor('h2'));
    expect(routerIdFor('h1')).toMatch(/^10\.\d+\.\d+\.\d+$/);
  });

  it('closes the underlay prefixes, written as nft lists them', () => {
    expect(canonicalCidr('FD97:0b06:00c1:1::11/64')).toBe('fd97:b06:c1:1::/64');
    expect(canonicalCidr('2001:db8::1/128')).toBe('2001:db8::1/128');
    expect(renderHostFirewall()).toContain('add rule inet ucloud from-vm-routed ip6 daddr @underlay_nets counter name "vm_to_underlay" drop');
    expect(renderHostFirewall()).not.toContain('unrouted_forward" drop'); // route_mode off: the host's own forwarding is left alone
    expect(renderHostFirewall(80, undefined, true)).toContain('add rule inet ucloud forward iifname != @routed oifname != @routed counter name "unrouted_forward" drop');
    expect(controlPlanePrefixes(['http://[2001:DB8::5]:2379', 'http://[::1]:2379', 'http://etcd:2379'], ['::', '::1', 'fe80::1', '2001:db8::7'])).toEqual(['2001:db8::5/128', '2001:db8::7/128']);
    expect(() => canonicalCidr('2001:db8::1')).toThrow(/prefix/);
  });

  it('advertises a default router only on a routed network', () => {
    expect(renderRadvdConf({ interface: 'ucbr7', prefix: 'fd00:1:2:3::/64' })).toContain('AdvDefaultLifetime 0;');
    expect(renderRadvdConf({ interface: 'ucbr7', prefix: 'fd00:1:2:3::/64', routed: true })).toContain(`AdvDefaultLifetime ${ROUTER_LIFETIME_S};`);
  });

  it('announces the NICs on routed networks of the VMs running here, and nothing else', () => {
    const nic = (vni: number, address: string) => ({ network: 'n', vni, prefix: 'fd00::/64', mac: '52:54:00:00:00:01', address });
    const vm = (o: Partial<Vm>) => ({ host: 'h1', desired: 'running', status: 'running', nics: [nic(1, 'fd00::1')], ...o }) as Vm;
    const routed = new Set([1]);
    expect(announcedAddresses('h1', [vm({})], routed)).toEqual(['fd00::1']);
    expect(announcedAddresses('h1', [vm({ status: 'migrating' })], routed)).toEqual(['fd00::1']); // until the record names the new host
    expect(announcedAddresses('h1', [vm({ host: 'h2' })], routed)).toEqual([]); // migrated away
    expect(announcedAddresses('h1', [vm({ desired: 'stopped' })], routed)).toEqual([]); // being stopped
    expect(announcedAddresses('h1', [vm({ status: 'stopped' })], routed)).toEqual([]);
    expect(announcedAddresses('h1', [vm({ desired: 'deleted' })], routed)).toEqual([]);
    expect(announcedAddresses('h1', [vm({ nics: [nic(2, 'fd01::1'), nic(1, 'fd00::1')] })], routed)).toEqual(['fd00::1']); // the isolated NIC is not
  });
});

describe('route_mode bgp on a fake host with a BIRD upstream', () => {
  let dir: string;
  let hn: HostNetwork;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `ucloud-bird-${tag}-`));
    for (const ns of Object.values(NS)) await sh('ip', ['netns', 'add', ns]);
    await sh('ip', ['link', 'add', 'name', 'eth0', 'netns', NS.h, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS.up]);
    for (const [ns, a] of [[NS.h, HOST], [NS.up, UP]] as const) {
      await sh('ip', ['-n', ns, 'addr', 'add', `${a}/64`, 'dev', 'eth0', 'nodad']);
      await sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    // A second, non-VM interface of the host (another LAN): the host must not route to it.
    await sh('ip', ['link', 'add', 'name', 'eth1', 'netns', NS.h, 'type', 'veth', 'peer', 'name', 'eth1', 'netns', NS.x]);
    for (const [ns, a] of [[NS.h, `fdfd:${tag}::1`], [NS.x, `fdfd:${tag}::2`]] as const) {
      await sh('ip', ['-n', ns, 'addr', 'add', `${a}/64`, 'dev', 'eth1', 'nodad']);
      await sh('ip', ['-n', ns, 'link', 'set', 'eth1', 'up']);
    }
    await sh('ip', ['-n', NS.x, '-6', 'route', 'add', 'default', 'via', `fdfd:${tag}::1`]);
    // Beyond the upstream: an address a routed guest may reach (the internet, for this test).
    await sh('ip', ['-n', NS.up, 'addr', 'add', `fdee:${tag}::1/128`, 'dev', 'lo']);
    await sh('ip', ['-n', NS.h, '-6', 'route', 'add', `fdee:${tag}::/64`, 'via', UP]);
    for (const p of [`fd43:${tag}:0:1::/64`, `fdfd:${tag}::/64`]) await sh('ip', ['-n', NS.up, '-6', 'route', 'add', p, 'via', HOST]);
    const conf = ['router id 192.0.2.254;', 'protocol device {}', 'protocol kernel { ipv6 { import none; export all; }; }', `protocol bgp h { local as 65000; neighbor ${HOST} as 65001; ipv6 { import all; export none; }; }`, ''].join('\n');
    await writeFile(join(dir, 'up.conf'), conf);
    await sh('ip', ['netns', 'exec', NS.up, 'bird', '-c', join(dir, 'up.conf'), '-s', join(dir, 'up.ctl'), '-P', join(dir, 'up.pid')]);
    hn = new HostNetwork({
      runDir: join(dir, 'h'),
      underlay: 'eth0',
      netns: NS.h,
      routing: { routed: async (vni) => vni === VNI_R, protectedPrefixes: [`2001:db8:${tag}::5/48`], bgp: { routerId: routerIdFor('h'), localAs: 65001, peers: [{ address: UP, as: 65000 }] } },
    });
  });

  afterAll(async () => {
    await hn?.stopAnnouncing().catch(() => undefined);
    for (const vni of [VNI_R, VNI_I]) await hn?.removeNetwork(vni).catch(() => undefined);
    const upPid = Number((await readFile(join(dir, 'up.pid'), 'utf8').catch(() => '')).trim());
    if (upPid > 0) process.kill(upPid, 'SIGTERM');
    for (const ns of Object.values(NS)) await sh('ip', ['netns', 'del', ns]).catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a routed network forwards and advertises a default route; an isolated one does neither', async () => {
    const r = await hn.ensureNetwork({ vni: VNI_R, prefix: `fd43:${tag}:0:1::/64` });
    const i = await hn.ensureNetwork({ vni: VNI_I, prefix: `fd43:${tag}:0:2::/64` });
    expect([r.routed, i.routed]).toEqual([true, false]);
    const ip = new Ip(NS.h);
    expect(await ip.getSysctl('net/ipv6/conf/all/forwarding')).toBe('1');
    const fw = await readHostFirewall(ip);
    expect(fw?.routed).toEqual(new Set([r.bridge]));
    // Closed to what is routed from VM networks: the underlay's prefix, the host's other LAN, the protected prefixes.
    expect(fw?.underlayNets).toEqual(new Set([`fdfe:${tag}::/64`, `fdfd:${tag}::/64`, `2001:db8:${tag}::/48`]));
    expect(await ip.getSysctl('net/ipv6/conf/eth0/accept_ra')).toBe('2'); // still takes its RAs while forwarding
    expect(await readFile(join(dir, 'h', `radvd-${VNI_R}.conf`), 'utf8')).toContain(`AdvDefaultLifetime ${ROUTER_LIFETIME_S};`);
    expect(await readFile(join(dir, 'h', `radvd-${VNI_I}.conf`), 'utf8')).toContain('AdvDefaultLifetime 0;');

    // The routed gateway <prefix>::1 answers the host itself, but nobody from outside (nor anything bound to [::] behind it).
    const counter = async (name: string) => (await readHostFirewall(ip))?.counters[name]?.packets ?? 0;
    const gw = `fd43:${tag}:0:1::1`;
    expect(await ping(NS.h, gw)).toBe(true);
    const outside = await counter('outside_metadata');
    expect(await ping(NS.up, gw)).toBe(false);
    await until('the gateway address dropped from outside', async () => (await counter('outside_metadata')) > outside, 5000);
    // Forwarding is for routed networks only: the upstream cannot route through the host to its other LAN.
    const unrouted = await counter('unrouted_forward');
    expect(await ping(NS.up, `fdfd:${tag}::2`)).toBe(false);
    await until('forwarding between non-VM interfaces dropped', async () => (await counter('unrouted_forward')) > unrouted, 5000);

    // A guest on the routed network reaches beyond the upstream, but not the host's other LAN (a management or BMC network).
    const mac = '52:54:00:0b:1d:01';
    await sh('ip', ['link', 'add', 'name', 'gh', 'netns', NS.h, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS.g]);
    await sh('ip', ['-n', NS.h, 'link', 'set', 'gh', 'master', r.bridge, 'up']);
    await sh('ip', ['-n', NS.g, 'link', 'set', 'eth0', 'address', mac, 'up']);
    await sh('ip', ['-n', NS.g, 'addr', 'add', `fd43:${tag}:0:1:5054:ff:fe0b:1d01/64`, 'dev', 'eth0', 'nodad']);
    await sh('ip', ['-n', NS.g, '-6', 'route', 'add', 'default', 'via', 'fe80::1', 'dev', 'eth0']);
    expect(await until('the guest reaches beyond the upstream', () => ping(NS.g, `fdee:${tag}::1`), 20_000)).toBe(true);
    const toLan = await counter('vm_to_underlay');
    expect(await ping(NS.g, `fdfd:${tag}::2`)).toBe(false);
    await until('the guest kept off the host\'s other LAN', async () => (await counter('vm_to_underlay')) > toLan, 5000);

    // Removing the routed network takes its bridge out of the set, and forwarding goes off with the last one.
    await hn.removeNetwork(VNI_R);
    expect((await readHostFirewall(ip))?.routed).toEqual(new Set());
    expect(await ip.getSysctl('net/ipv6/conf/all/forwarding')).toBe('0');
  });

  it('announces, re-announces on change (reload, same BIRD) and withdraws', async () => {
    const a1 = `fd43:${tag}:0:1:5054:ff:fe00:1`;
    const a2 = `fd43:${tag}:0:1:5054:ff:fe00:2`;
    const started = await hn.announce([a1]);
    expect(started?.action).toBe('started');
    const t0 = Date.now();
    expect(await until('a1 at the upstream', async () => (await upRoute(a1)) || undefined, 30_000)).toContain(`via ${HOST}`);
    console.log(`bird: first route at the upstream ${Date.now() - t0} ms after BIRD started`);
    expect((await hn.announce([a1]))?.action).toBe('none');

    const t1 = Date.now();
    const reloaded = await hn.announce([a2]);
    expect(reloaded).toMatchObject({ action: 'reloaded', pid: started!.pid });
    await until('a2 at the upstream', async () => (await upRoute(a2)) || undefined, 10_000);
    await until('a1 withdrawn', async () => (await upRoute(a1)) === '', 10_000);
    console.log(`bird: a changed set reached the upstream's kernel ${Date.now() - t1} ms after the reload`);

    // BIRD killed: the next announce starts it again.
    process.kill(started!.pid, 'SIGKILL');
    await until('BIRD gone', async () => (await birdPid(join(dir, 'h'))) === undefined, 10_000);
    expect((await hn.announce([a2]))?.action).toBe('started');

    expect(await hn.stopAnnouncing()).toBe(true);
    await until('a2 withdrawn with BIRD stopped', async () => (await upRoute(a2)) === '', 30_000);
  }, 90_000);
});
