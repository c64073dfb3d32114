import { describe, expect, it } from 'vitest';
import { guestOutputFilter } from '../../src/cli/console.js';

// A hostile guest's console output in `ucloud vm console`: it may not write the
// user's clipboard (OSC 52) or plant links (OSC 8), even split across chunks.
describe("the CLI console's filter of guest output", () => {
  const run = (chunks: string[]) => {
    const f = guestOutputFilter();
    return chunks.map((c) => f(Buffer.from(c, 'latin1')).toString('latin1')).join('');
  };

  it('drops OSC 52 and OSC 8, ended by BEL or ST, and keeps everything else', () => {
    expect(run(['a\x1b]52;c;Y3VybCBldmlsfHNoCg==\x07b'])).toBe('ab');
    expect(run(['a\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\b'])).toBe('alinkb');
    expect(run(['\x1b[31mred\x1b[0m \x1b]0;title\x07 ok\r\n'])).toBe('\x1b[31mred\x1b[0m \x1b]0;title\x07 ok\r\n');
  });

  it('holds a sequence split across chunks until it ends, at any split point', () => {
    const seq = 'x\x1b]52;c;Y3VybCBldmlsfHNoCg==\x07y';
    for (let i = 1; i < seq.length; i++) expect(run([seq.slice(0, i), seq.slice(i)]), `split at ${i}`).toBe('xy');
    // A lone ESC at a chunk's end that turns out to start a colour passes whole.
    expect(run(['a\x1b', '[1mb'])).toBe('a\x1b[1mb');
  });
});
