import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/common/config.js';
import { upUrls } from '../../src/up/urls.js';

const file = join(mkdtempSync(join(tmpdir(), 'ucloud-up-urls-')), 'ucloud.conf');
writeFileSync(file, '# nothing set\n');

describe('what `ucloud up` tells its user to open', () => {
  const config = (overrides: Record<string, string>) => loadConfig({ file, env: {}, overrides }).config;

  it('the dashboard at the API address, and each metrics endpoint that is on', () => {
    const u = upUrls(config({ api_listen: '[::]:8470', host_metrics_listen: '[2001:db8::5]:9999', imagescanner_metrics_listen: 'off' }));
    expect(u.dashboard).toBe('http://[::1]:8470/');
    expect(u.metrics).toEqual({
      api: 'http://[::1]:9470/metrics',
      scheduler: 'http://[::1]:9471/metrics',
      host: 'http://[2001:db8::5]:9999/metrics',
      metadata: 'http://[::1]:9474/metrics',
      filescanner: 'http://[::1]:9475/metrics',
    });
  });

  it('no dashboard when web = off', () => {
    expect(upUrls(config({ web: 'off' })).dashboard).toBeUndefined();
  });
});
