import { describe, expect, it } from 'vitest';
import { base32, fromBase32, hotp, matchTotp, otpauthUri, totpStep } from '../../src/common/totp.js';

const RFC_SECRET = Buffer.from('12345678901234567890');

describe('TOTP (RFC 6238, SHA-1)', () => {
  it('matches the RFC 6238 test vectors (last 6 of the 8 digits)', () => {
    const vectors: [number, string][] = [
      [59, '94287082'],
      [1111111109, '07081804'],
      [1111111111, '14050471'],
      [1234567890, '89005924'],
      [2000000000, '69279037'],
    ];
    for (const [t, code] of vectors) {
      expect(hotp(RFC_SECRET, totpStep(t * 1000), 8)).toBe(code);
      expect(hotp(RFC_SECRET, totpStep(t * 1000))).toBe(code.slice(2));
    }
  });

  it('accepts a code one step either side, no further, and says which step it was', () => {
    const secret = base32(RFC_SECRET);
    expect(fromBase32(secret)).toEqual(RFC_SECRET);
    const now = 1111111111_000;
    const step = totpStep(now);
    const at = (s: number) => hotp(RFC_SECRET, s);
    expect(matchTotp(secret, at(step), now)).toBe(step);
    expect(matchTotp(secret, at(step - 1), now)).toBe(step - 1);
    expect(matchTotp(secret, at(step + 1), now)).toBe(step + 1);
    expect(matchTotp(secret, at(step - 2), now)).toBeUndefined();
    expect(matchTotp(secret, at(step + 2), now)).toBeUndefined();
    expect(matchTotp(secret, 'abcdef', now)).toBeUndefined();
  });

  it('writes an otpauth URI with issuer, account and parameters', () => {
    expect(otpauthUri('ucloud', 'alice', 'GEZDGNBV')).toBe('otpauth://totp/ucloud:alice?secret=GEZDGNBV&issuer=ucloud&algorithm=SHA1&digits=6&period=30');
  });
});
