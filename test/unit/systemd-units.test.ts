import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { daemonNodeFlags } from '../../src/common/cache-heap.js';
import { commandExists } from '../../src/common/exec.js';
import { ROOT, UCLOUD } from '../helpers/cluster.js';

// The units in deploy/systemd run the CLI by name: a daemon renamed, or a flag
// dropped, must fail here rather than on an operator's host at boot.

const run = promisify(execFile);
const UNIT_DIR = join(ROOT, 'deploy', 'systemd');
const INSTALLED = '/usr/local/bin/ucloud';
/** How a unit gives Node flags: node found on systemd's PATH, as the launcher's own `#!/usr/bin/env node` finds it. */
const ENV_NODE = ['/usr/bin/env', 'node'];
const units = readdirSync(UNIT_DIR).filter((f) => f.endsWith('.service')).sort();

/** The `key=value` lines of a unit's section (comments and blank lines left out). */
function section(text: string, name: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = header[1]!;
      continue;
    }
    if (current !== name) continue;
    const eq = line.indexOf('=');
    out.set(line.slice(0, eq), [...(out.get(line.slice(0, eq)) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

/**
 * ExecStart split into Node's flags (a daemon `ucloud up` starts with some runs as
 * `/usr/bin/env node <flags> /usr/local/bin/ucloud …`), the ucloud binary, the
 * subcommand path, its options (`--config FILE` pairs) and every argument after the binary.
 */
function execStart(file: string): { nodeFlags: string[]; binary: string; path: string[]; options: string[]; args: string[] } {
  const exec = section(readFileSync(join(UNIT_DIR, file), 'utf8'), 'Service').get('ExecStart') ?? [];
  expect(exec, `${file}: one ExecStart`).toHaveLength(1);
  const words = exec[0]!.split(/\s+/);
  const viaNode = words[0] === ENV_NODE[0] && words[1] === ENV_NODE[1];
  const at = viaNode ? words.findIndex((w, i) => i >= 2 && !w.startsWith('-')) : 0;
  const [binary, ...args] = words.slice(at);
  const firstOption = args.findIndex((a) => a.startsWith('-'));
  return { nodeFlags: viaNode ? words.slice(2, at) : [], binary: binary!, path: firstOption < 0 ? args : args.slice(0, firstOption), options: args.filter((a) => a.startsWith('--')), args };
}

describe('systemd units (deploy/systemd)', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'ucloud-systemd-units-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('cover every daemon the CLI runs', async () => {
    // The daemons are the commands whose help says "run …": `ucloud --help` (less `up`, the all-in-one) and `ucloud host --help`.
    const daemonsIn = async (path: string[]) => {
      const { stdout } = await run(process.execPath, [UCLOUD, ...path, '--help']);
      return [...stdout.matchAll(/^ {2}(\S+) \[options\]\s+run /gm)].map((m) => [...path, m[1]!].join(' '));
    };
    const daemons = [...(await daemonsIn([])).filter((d) => d !== 'up'), ...(await daemonsIn(['host']))];
    expect(daemons).toEqual(expect.arrayContaining(['api', 'scheduler', 'metadata', 'filescanner', 'imagescanner', 'host agent', 'host fence']));
    const ran = units.map((u) => execStart(u).path.join(' '));
    for (const d of daemons) expect(ran, `a unit for \`ucloud ${d}\``).toContain(d);
  });

  it.each(units)('%s runs a real ucloud subcommand with options it parses', async (unit) => {
    const { nodeFlags, binary, path, options, args: line } = execStart(unit);
    expect(binary).toBe(INSTALLED);
    expect(path.length).toBeGreaterThan(0);
    // The same Node flags as `ucloud up` gives this daemon, no more, no fewer.
    expect(nodeFlags, `${unit}: node flags`).toEqual(daemonNodeFlags(path.join(' ')));
    // --help on the exact command line: commander prints the help of the command it resolved to.
    const { stdout } = await run(process.execPath, [UCLOUD, ...path, '--help']);
    expect(stdout.split('\n')[0]).toBe(`Usage: ucloud ${path.join(' ')} [options]`);
    for (const o of options) expect(stdout, `${unit}: ${o}`).toMatch(new RegExp(`(^|[ ,])${o}[ ,<]`, 'm'));
    // And the command line itself parses: an unknown option or a missing value would exit 2 before anything runs.
    // A bad log_level stops every daemon right after, while it reads its configuration (exit 1).
    const conf = join(scratch, `${basename(unit)}.conf`);
    writeFileSync(conf, '');
    const args = line.map((a) => (a === '/etc/ucloud/ucloud.conf' ? conf : a));
    const r = await run(process.execPath, [...nodeFlags, UCLOUD, ...args, '--set', 'log_level=nonesuch']).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(r.stderr).toMatch(/INVALID_CONFIG: log_level must be one of/);
    expect(r.code).toBe(1);
  });

  it('restart for ever, after the network, and the host agent leaves its VMs running when it stops and brings its fence watchdog', () => {
    for (const unit of units) {
      const text = readFileSync(join(UNIT_DIR, unit), 'utf8');
      const service = section(text, 'Service');
      const u = section(text, 'Unit');
      expect(service.get('Restart'), unit).toEqual(['always']);
      expect(service.get('RestartSec'), unit).toBeDefined();
      expect(u.get('StartLimitIntervalSec'), unit).toEqual(['0']);
      // All but the fence watchdog, which must act exactly when the network and etcd are gone.
      if (unit !== 'ucloud-fence.service') {
        expect(u.get('After')?.join(' '), unit).toContain('network-online.target');
        expect(u.get('Wants')?.join(' '), unit).toContain('network-online.target');
      }
      expect(section(text, 'Install').get('WantedBy'), unit).toEqual(['multi-user.target']);
    }
    const host = readFileSync(join(UNIT_DIR, 'ucloud-host.service'), 'utf8');
    expect(section(host, 'Service').get('KillMode')).toEqual(['process']);
    // The agent arms HA VMs only while its watchdog beats: it brings the watchdog along, started first.
    expect(section(host, 'Unit').get('Wants')).toContain('ucloud-fence.service');
    expect(section(host, 'Unit').get('After')?.join(' ')).toContain('ucloud-fence.service');
  });

  it('pass systemd-analyze verify', async (ctx) => {
    if (!(await commandExists('systemd-analyze'))) ctx.skip();
    // Pointed at this checkout's CLI: verify also checks that ExecStart's binary exists (for the units that
    // give Node flags that is /usr/bin/env; the ucloud path after it is checked exactly above).
    const files = units.map((u) => {
      const copy = join(scratch, u);
      writeFileSync(copy, readFileSync(join(UNIT_DIR, u), 'utf8').replaceAll(INSTALLED, UCLOUD));
      return copy;
    });
    const r = await run('systemd-analyze', ['verify', ...files]).then(
      (o) => ({ code: 0, stderr: o.stderr }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(r.stderr.trim()).toBe('');
    expect(r.code).toBe(0);
  });
});
