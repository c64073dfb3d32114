import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS } from '../../src/common/config.js';
import { ROOT } from '../helpers/cluster.js';

// The example Prometheus configuration and alert rules (docs/prometheus/) are
// what Prometheus itself accepts, and scrape the ports ucloud listens on by default.
const PROMTOOL = '/usr/bin/promtool';
const DIR = join(ROOT, 'docs', 'prometheus');

describe.skipIf(!existsSync(PROMTOOL))('docs/prometheus', () => {
  it('promtool accepts the example configuration and its rules', () => {
    const out = execFileSync(PROMTOOL, ['check', 'config', join(DIR, 'prometheus.yml')], { encoding: 'utf8' });
    expect(out).toContain('SUCCESS');
    expect(execFileSync(PROMTOOL, ['check', 'rules', join(DIR, 'alerts.yml')], { encoding: 'utf8' })).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('scrapes every daemon at its default metrics address', () => {
    const config = readFileSync(join(DIR, 'prometheus.yml'), 'utf8');
    for (const d of ['api', 'scheduler', 'host', 'imagescanner', 'metadata', 'filescanner'] as const) {
      const listen = CONFIG_KEYS[`${d}_metrics_listen`].default;
      expect(config).toMatch(new RegExp(`job_name: ${d}\\n\\s+static_configs:\\n\\s+- targets: \\['${listen.replace(/[[\]]/g, '\\$&')}'\\]`));
    }
  });

  it('has the alerts the issue asks for: host dead, VM pending too long, import failing', () => {
    const rules = readFileSync(join(DIR, 'alerts.yml'), 'utf8');
    for (const a of ['UcloudHostDead', 'UcloudVmPendingTooLong', 'UcloudImageImportFailing']) expect(rules).toContain(`alert: ${a}`);
  });
});
