// Issue 7, point 1: a VM of user A crafts what a hostile guest can — VXLAN
// frames with user B's VNI to every host address it can reach (its bridge's
// fe80::1 and <prefix>::1, B's network's <prefix>::1 and the host's underlay
// address, the last two "routed" through its bridge's MAC), router
// advertisements, neighbour advertisements for B's address, frames from
// foreign MACs — and not one frame reaches B's bridge or B's VM, and B's VXLAN
// device learns nothing.
//
// One hypervisor in its own network namespace (the host agent and metadata
// server run there, so nothing here touches the machine's own bridges or
// nftables); its underlay is a veth to this namespace, where etcd and the API
// run and from where a legitimate VXLAN peer's frame is sent. The attacker's
// raw-frame tool (guest/tools/rawsend.c) is compiled here and copied into the
// VM over SSH: busybox cannot craft frames.
//
// Counting is done on the host, in a bridge-family nftables table of this test
// (counters on B's VXLAN port and B's tap). Negative counts are read only
// after two frames that must arrive have arrived: the attacker's own last
// frame (sent after every attack) at its sibling VM, and then a legitimate
// peer's VXLAN frame for B at B's VM.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseIPv6 } from '../../src/common/ipv6.js';
import { VmRuntime } from '../../src/host/vm-runtime.js';
import type { Vm } from '../../src/model/index.js';
import { GiB, ROOT, TestCluster, until } from '../helpers/cluster.js';
import { ssh, sshSession } from '../helpers/ssh.js';

const sh = (cmd: string, args: string[], input?: string) => execFileSync(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], input }).toString();

// ---- frames -----------------------------------------------------------------

const macBytes = (mac: string) => Buffer.from(mac.replace(/:/g, ''), 'hex');
const ip6Bytes = (addr: string) => Buffer.from(parseIPv6(addr).toString(16).padStart(32, '0'), 'hex');

/** The Internet checksum of the IPv6 pseudo-header and an upper-layer packet. */
function checksum6(src: string, dst: string, proto: number, data: Buffer): number {
  const pseudo = Buffer.alloc(40);
  ip6Bytes(src).copy(pseudo, 0);
  ip6Bytes(dst).copy(pseudo, 16);
  pseudo.writeUInt32BE(data.length, 32);
  pseudo.writeUInt32BE(proto, 36);
  const all = Buffer.concat([pseudo, data, Buffer.alloc(data.length % 2)]);
  let sum = 0;
  for (let i = 0; i < all.length; i += 2) sum += all.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff || 0xffff;
}
function ipv6(src: string, dst: string, proto: number, hopLimit: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(40);
  h.writeUInt32BE(0x60000000, 0);
  h.writeUInt16BE(payload.length, 4);
  h.writeUInt8(proto, 6);
  h.writeUInt8(hopLimit, 7);
  ip6Bytes(src).copy(h, 8);
  ip6Bytes(dst).copy(h, 24);
  return Buffer.concat([h, payload]);
}
function udp6(src: string, dst: string, sport: number, dport: number, data: Buffer, hopLimit = 64): Buffer {
  const u = Buffer.concat([Buffer.alloc(8), data]);
  u.writeUInt16BE(sport, 0);
  u.writeUInt16BE(dport, 2);
  u.writeUInt16BE(u.length, 4);
  u.writeUInt16BE(checksum6(src, dst, 17, u), 6);
  return ipv6(src, dst, 17, hopLimit, u);
}
function icmp6(src: string, dst: string, type: number, body: Buffer): Buffer {
  const m = Buffer.concat([Buffer.from([type, 0, 0, 0]), body]);
  m.writeUInt16BE(checksum6(src, dst, 58, m), 2);
  return ipv6(src, dst, 58, 255, m);
}
const eth = (dst: string, src: string, payload: Buffer) => Buffer.concat([macBytes(dst), macBytes(src), Buffer.from([0x86, 0xdd]), payload]);
function vxlan(vni: number, inner: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(0x08000000, 0);
  h.writeUInt32BE(vni * 256, 4);
  return Buffer.concat([h, inner]);
}
/** Modified EUI-64 link-local address of a MAC. */
function linkLocal(mac: string): string {
  const b = [...macBytes(mac)];
  b[0]! ^= 2;
  const g = [(b[0]! << 8) | b[1]!, (b[2]! << 8) | 0xff, (0xfe << 8) | b[3]!, (b[4]! << 8) | b[5]!];
  return `fe80::${g.map((x) => x.toString(16)).join(':')}`;
}

// ---- the test ---------------------------------------------------------------

describe('cross-tenant isolation: a hostile VM cannot reach another network (issue 7)', () => {
  const id = (0x1000 + (randomBytes(2).readUInt16BE() % 0xf000)).toString(16);
  const ns = `ucl-xt-${id}`;
  const rootEnd = `ucxt${id}`; // this namespace's end of the underlay veth
  const net6 = `fd9b:${id}:0:1`;
  const underlayHost = `${net6}::10`;
  const underlayPeer = `${net6}::1`;
  const ATTACK_MAC = '52:54:00:ba:dd:01'; // the inner source of every forged VXLAN frame
  const FOREIGN_MAC = '52:54:00:ba:dd:02';
  const CTRL_MAC = '52:54:00:c0:ff:ee'; // the legitimate peer's frame
  let c: TestCluster;
  const token: Record<string, string> = {};
  const key = () => join(c.dir, 'alice_ed25519');
  const vms: Record<'a1' | 'a2' | 'b1', Vm> = {} as never;

  /** ssh into a VM from the hypervisor's namespace (where the networks' bridges are); optional stdin. */
  const inGuest = (address: string, command: string, input?: Buffer) => sshSession(key(), address, command, { netns: ns, input, timeoutMs: 60_000 });

  beforeAll(async () => {
    sh('ip', ['netns', 'add', ns]);
    sh('ip', ['link', 'add', rootEnd, 'type', 'veth', 'peer', 'name', 'u0', 'netns', ns]);
    sh('ip', ['addr', 'add', `${underlayPeer}/64`, 'dev', rootEnd, 'nodad']);
    sh('ip', ['link', 'set', rootEnd, 'up']);
    sh('ip', ['-n', ns, 'addr', 'add', `${underlayHost}/64`, 'dev', 'u0', 'nodad']);
    sh('ip', ['-n', ns, 'link', 'set', 'u0', 'up']);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    c = await TestCluster.start({ etcdHost: underlayPeer });
    await c.bootstrap({ guestImage: inject('guestImage'), hosts: [{ name: 'hx', cpu: 3, ram: 1 * GiB, disk: 10 * GiB }] });
    for (const u of ['alice', 'bob']) token[u] = (await c.managers().users.create(u, 'user')).token;
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key()]);
    execFileSync('gcc', ['-static', '-O2', '-o', join(c.dir, 'rawsend'), join(ROOT, 'guest', 'tools', 'rawsend.c')]);
    await Promise.all([c.spawn('api').ready, c.spawn('scheduler').ready]);
    const env = {
      UCLOUD_HOST_NAME: 'hx',
      UCLOUD_HOST_ADDRESS: underlayHost,
      UCLOUD_VXLAN_UNDERLAY: 'u0',
      UCLOUD_RUN_DIR: join(c.dir, 'run-hx'),
      UCLOUD_LOG_DIR: join(c.dir, 'log-hx'),
    };
    await Promise.all([c.spawn('host', env, ns).ready, c.spawn('metadata', env, ns).ready]);
  }, 180_000);

  afterAll(async () => {
    await c?.stop();
    for (const args of [['netns', 'del', ns], ['link', 'del', rootEnd]]) {
      try {
        execFileSync('ip', args, { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
  });

  it('forged VXLAN (B’s VNI, to every host address), RAs, NAs for B’s address and foreign MACs from A’s VM: zero frames reach B', async () => {
    const cli = async (user: string, args: string[]) => {
      const r = await c.cli([...args, '-o', 'json'], { UCLOUD_TOKEN: token[user] });
      if (r.code !== 0) throw new Error(`ucloud ${args.join(' ')}: ${r.stderr}`);
      return JSON.parse(r.stdout) as Vm;
    };
    await cli('alice', ['key', 'add', 'laptop', '--file', `${key()}.pub`]);
    await cli('alice', ['network', 'create', 'a']);
    await cli('bob', ['network', 'create', 'b']);
    const made = await Promise.all([
      cli('alice', ['vm', 'create', 'a1', '--image', 'ucloud-test', '--network', 'a', '--ram', '128MiB', '--wait']),
      cli('alice', ['vm', 'create', 'a2', '--image', 'ucloud-test', '--network', 'a', '--ram', '128MiB', '--wait']),
      cli('bob', ['vm', 'create', 'b1', '--image', 'ucloud-test', '--network', 'b', '--ram', '128MiB', '--wait']),
    ]);
    [vms.a1, vms.a2, vms.b1] = made as [Vm, Vm, Vm];
    const nic = (vm: Vm) => vm.nics![0]!;
    const [a1, a2, b1] = [nic(vms.a1), nic(vms.a2), nic(vms.b1)];
    const tap = (vm: Vm) => VmRuntime.tapName(vm.id, 0);
    const vxB = `vx${b1.vni}`;
    const brA = `ucbr${a1.vni}`;
    const prefixA1 = `${a1.prefix.replace('::/64', '')}::1`;
    const prefixB1 = `${b1.prefix.replace('::/64', '')}::1`;
    const brAMac = (JSON.parse(sh('ip', ['-n', ns, '-j', 'link', 'show', brA])) as { address: string }[])[0]!.address;

    // The test's counters, on the hypervisor.
    sh('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], [
      'add table bridge uctest',
      'add chain bridge uctest c_pre { type filter hook prerouting priority -300; }',
      'add chain bridge uctest c_fwd { type filter hook forward priority -300; }',
      `add rule bridge uctest c_pre iifname "${vxB}" ether saddr != ${CTRL_MAC} counter comment "fromVxB"`,
      `add rule bridge uctest c_pre iifname "${vxB}" ether saddr ${CTRL_MAC} counter comment "ctrlVxB"`,
      `add rule bridge uctest c_pre ether saddr ${ATTACK_MAC} counter comment "attackAnywhere"`,
      `add rule bridge uctest c_fwd oifname "${tap(vms.b1)}" ether saddr != ${CTRL_MAC} counter comment "toB1"`,
      `add rule bridge uctest c_fwd oifname "${tap(vms.b1)}" ether saddr ${CTRL_MAC} counter comment "ctrlB1"`,
      `add rule bridge uctest c_fwd oifname "${tap(vms.a2)}" ether saddr ${a1.mac} udp dport 40002 counter comment "ctrlA2"`,
      `add rule bridge uctest c_fwd oifname "${tap(vms.a2)}" icmpv6 type nd-router-advert counter comment "raA2"`,
      `add rule bridge uctest c_fwd oifname "${tap(vms.a2)}" icmpv6 type nd-neighbor-advert @th,64,128 0x${parseIPv6(b1.address).toString(16).padStart(32, '0')} counter comment "naA2"`,
      `add rule bridge uctest c_fwd iifname "${tap(vms.a1)}" ether saddr != ${a1.mac} counter comment "foreignMac"`,
      '',
    ].join('\n'));
    const counters = () => {
      const out = JSON.parse(sh('ip', ['netns', 'exec', ns, 'nft', '-j', 'list', 'table', 'bridge', 'uctest'])) as { nftables: { rule?: { comment?: string; expr: { counter?: { packets: number } }[] } }[] };
      const n: Record<string, number> = {};
      for (const o of out.nftables) if (o.rule?.comment) n[o.rule.comment] = o.rule.expr.find((e) => e.counter)?.counter?.packets ?? 0;
      return n;
    };
    const hostFirewall = () => {
      const tables = sh('ip', ['netns', 'exec', ns, 'nft', 'list', 'tables', 'inet']);
      if (!/\bucloud\b/.test(tables)) return {} as Record<string, number>; // (code without the host firewall: let the counts below fail)
      const out = JSON.parse(sh('ip', ['netns', 'exec', ns, 'nft', '-j', 'list', 'counters', 'table', 'inet', 'ucloud'])) as { nftables: { counter?: { name: string; packets: number } }[] };
      return Object.fromEntries(out.nftables.flatMap((o) => (o.counter ? [[o.counter.name, o.counter.packets]] : []))) as Record<string, number>;
    };

    // A's VM, with its raw-frame tool.
    await until('ssh into a1', async () => (await ssh(key(), a1.address, 'true', { netns: ns })).code === 0, 150_000, 2000);
    const upload = await inGuest(a1.address, 'cat > /tmp/rawsend && chmod 755 /tmp/rawsend && echo ok', readFileSync(join(c.dir, 'rawsend')));
    expect(upload.out).toContain('ok');

    // The frames, in the order sent.
    const a1ll = linkLocal(a1.mac);
    const frames: Buffer[] = [];
    const vxlanTargets = ['fe80::1', prefixA1, prefixB1, underlayHost];
    for (const target of vxlanTargets) {
      const src = target.startsWith('fe80:') ? a1ll : a1.address;
      for (const [innerMac, innerDst] of [[b1.mac, b1.address], ['ff:ff:ff:ff:ff:ff', 'ff02::1']] as const) {
        const inner = eth(innerMac, ATTACK_MAC, udp6(`${b1.prefix.replace('::/64', '')}::bad`, innerDst, 7, 7, Buffer.from('XTENANT')));
        for (let i = 0; i < 5; i++) frames.push(eth(brAMac, a1.mac, udp6(src, target, 40100 + i, 4789, vxlan(b1.vni, inner))));
      }
    }
    const vxlanFrames = frames.length;
    const prefixB = ip6Bytes(b1.prefix.replace('/64', ''));
    const ra = Buffer.concat([
      Buffer.from([64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0]), // hop limit, flags, lifetime 1800 s, reachable, retrans
      Buffer.from([3, 4, 64, 0xc0, 0, 1, 0x51, 0x80, 0, 0, 0x38, 0x40, 0, 0, 0, 0]), prefixB, // prefix information: B's /64
    ]);
    const na = Buffer.concat([Buffer.from([0x20, 0, 0, 0]), ip6Bytes(b1.address), Buffer.from([2, 1]), macBytes(a1.mac)]); // override, target B's address, our MAC
    for (let i = 0; i < 5; i++) {
      frames.push(eth('33:33:00:00:00:01', a1.mac, icmp6(a1ll, 'ff02::1', 134, ra)));
      frames.push(eth('33:33:00:00:00:01', a1.mac, icmp6(a1ll, 'ff02::1', 136, na)));
      frames.push(eth(brAMac, a1.mac, icmp6(a1ll, 'fe80::1', 136, na)));
      frames.push(eth('ff:ff:ff:ff:ff:ff', b1.mac, udp6(a1.address, 'ff02::1', 7, 7, Buffer.from('FOREIGN'))));
      frames.push(eth(a2.mac, FOREIGN_MAC, udp6(a1.address, a2.address, 7, 7, Buffer.from('FOREIGN'))));
    }
    // Last, what must arrive: a plain frame to A's own other VM.
    for (let i = 0; i < 3; i++) frames.push(eth(a2.mac, a1.mac, udp6(a1.address, a2.address, 40001, 40002, Buffer.from('CONTROL'))));

    const before = { ...counters(), ...hostFirewall() };
    const sent = await inGuest(a1.address, '/tmp/rawsend eth0', Buffer.from(frames.map((f) => f.toString('hex')).join('\n') + '\n'));
    expect(sent.out).toContain(`rawsend: sent ${frames.length}`);
    await until('the attacker’s control frames reach its sibling', () => counters().ctrlA2! - (before.ctrlA2 ?? 0) >= 3, 20_000);

    // A legitimate peer host's VXLAN frame for B (from the underlay) must still arrive.
    const peer = createSocket({ type: 'udp6' });
    await new Promise<void>((r) => peer.bind(0, underlayPeer, () => r()));
    const ctrl = vxlan(b1.vni, eth(b1.mac, CTRL_MAC, udp6(`${b1.prefix.replace('::/64', '')}::c0`, b1.address, 7, 7, Buffer.from('PEER'))));
    // Sent again every 200 ms (until's pace) while B's VM has not counted it: the first may
    // arrive before B's neighbour entries exist.
    await until('a peer’s VXLAN frame reaches B’s VM', async () => {
      if (counters().ctrlB1! > 0) return true;
      await new Promise<void>((r, j) => peer.send(ctrl, 4789, underlayHost, (e) => (e ? j(e) : r())));
      return false;
    }, 20_000, 200);
    peer.close();

    const n = counters();
    const fw = hostFirewall();
    console.log('cross-tenant counters:', JSON.stringify({ before, after: { ...n, ...fw }, sent: frames.length, vxlanFrames }));
    const learned = (JSON.parse(sh('bridge', ['-n', ns, '-j', 'fdb', 'show', 'dev', vxB]) || '[]') as { mac: string; dst?: string }[])
      .filter((r) => r.dst && r.mac !== '00:00:00:00:00:00')
      .map((r) => `${r.mac} dst ${r.dst}`);
    // Zero: nothing entered B's bridge from its VXLAN port but the peer's frame, nothing but it reached B's VM ...
    expect({ fromVxB: n.fromVxB, toB1: n.toB1, attackAnywhere: n.attackAnywhere }).toEqual({ fromVxB: 0, toB1: 0, attackAnywhere: 0 });
    // ... B's VXLAN device learned only the peer ...
    expect(learned).toEqual([`${CTRL_MAC} dst ${underlayPeer}`]);
    // ... and the other forgeries reached nobody, not even A's own other VM.
    expect({ raA2: n.raA2, naA2: n.naA2, foreignMac: n.foreignMac }).toEqual({ raA2: 0, naA2: 0, foreignMac: 0 });
    // Every forged VXLAN frame did reach the hypervisor and was dropped there.
    expect(fw.vm_vxlan! - (before.vm_vxlan ?? 0)).toBe(vxlanFrames);
    // The host's neighbour entry for B's VM still points at B's VM.
    expect(sh('ip', ['-n', ns, 'neigh', 'show', b1.address])).not.toContain(a1.mac);

    // A's VM still has what it needs from the host: metadata on both addresses, ping.
    const md = await inGuest(a1.address, `for u in 'http://[fe80::1%eth0]/v1/hostname' 'http://[${prefixA1}]/v1/hostname'; do timeout 10 wget -q -O - "$u"; echo " rc=$?"; done; ping -6 -c 1 -W 2 ${prefixA1} >/dev/null; echo ping=$?`);
    expect(md.out.match(/a1\s*rc=0/g)).toHaveLength(2);
    expect(md.out).toContain('ping=0');
    // ... and nothing else: B's metadata address and the underlay are not even reachable.
    const other = await inGuest(a1.address, `ip -6 route add ${b1.prefix} via fe80::1 dev eth0; ip -6 route add ${underlayHost}/128 via fe80::1 dev eth0; for h in ${prefixB1} ${underlayHost}; do timeout 5 wget -q -O - "http://[$h]/v1/hostname"; echo " rc=$?"; done`);
    expect(other.out).not.toMatch(/rc=0/);
    expect(hostFirewall().vm_dropped! - fw.vm_dropped!).toBeGreaterThanOrEqual(2);
  }, 400_000);
});
