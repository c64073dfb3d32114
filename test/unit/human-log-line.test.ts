import { describe, expect, it } from 'vitest';
import { humanLine } from '../../src/common/logger.js';

// The daemons' stderr lines (what `ucloud up` shows the operator): names that
// come from users — a file in a user's folder the filescanner logs, a VM
// name — never reach the terminal as control sequences.

describe('humanLine', () => {
  const rec = (extra: Record<string, unknown>) => JSON.stringify({ level: 20, time: Date.parse('2026-12-03T19:00:00Z'), component: 'filescanner', msg: 'fs event', ...extra });

  it('writes a file name with terminal escapes as escapes: no ESC, BEL, C1 or bidi override reaches the screen', () => {
    // OSC 52 (writes the operator's clipboard), a title change, a C1 CSI, a right-to-left override, a line break.
    const hostile = 'a\u001b]52;c;ZWNobyBwd25lZA==\u0007b\u001b]0;pwned\u0007c\u009b2Jd\u202eexe.txt\nINFO  fake';
    const line = humanLine(rec({ dir: '/srv/files/mallory', file: hostile, type: 'rename' }));
    expect(line).toBe('19:00:00 DEBUG filescanner: fs event dir=/srv/files/mallory file=a\\x1b]52;c;ZWNobyBwd25lZA==\\x07b\\x1b]0;pwned\\x07c\\x9b2Jd\\u202eexe.txt\\x0aINFO  fake type=rename\n');
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    expect(line.slice(0, -1)).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/);
  });

  it('the message and an error message too; a line that is not JSON as well', () => {
    const line = humanLine(JSON.stringify({ level: 40, time: 0, component: 'api', msg: 'vm \u001b[2J', err: { message: 'bad \u001b[31mname' } }));
    expect(line).toContain('vm \\x1b[2J');
    expect(line).toContain('error=bad \\x1b[31mname');
    expect(humanLine('not json \u001b[2J\n')).toBe('not json \\x1b[2J\n');
  });
});
