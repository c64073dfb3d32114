import { describe, expect, it } from 'vitest';
import { toHttpError } from '../../src/api/errors.js';
import { CATALOGUE, exitCodeOf, httpStatusOf, UcloudError, type ErrorCode } from '../../src/common/errors.js';

describe('error catalogue → HTTP', () => {
  it.each<[ErrorCode, number]>([
    ['VALIDATION_FAILED', 400],
    ['UNKNOWN_FIELD', 400],
    ['INVALID_SIZE', 400],
    ['UNAUTHENTICATED', 401],
    ['FORBIDDEN', 403],
    ['VM_NOT_FOUND', 404],
    ['IMAGE_NOT_FOUND', 404],
    ['VM_NAME_TAKEN', 409],
    ['ETCD_UNAVAILABLE', 503],
    ['INTERNAL', 500],
  ])('%s → %d', (code, status) => {
    expect(httpStatusOf(code)).toBe(status);
    expect(new UcloudError(code, 'x').httpStatus).toBe(status);
  });

  it('gives every code a status and an exit code', () => {
    for (const code of Object.keys(CATALOGUE) as ErrorCode[]) {
      expect(httpStatusOf(code)).toBeGreaterThanOrEqual(400);
      expect(exitCodeOf(code)).toBeGreaterThan(0);
    }
  });

  it('maps schema validation to UNKNOWN_FIELD or VALIDATION_FAILED, naming the field', () => {
    const unknown = toHttpError(Object.assign(new Error('x'), { validation: [{ keyword: 'additionalProperties', params: { additionalProperties: ['colour'] } }], validationContext: 'body' }));
    expect(unknown.code).toBe('UNKNOWN_FIELD');
    expect(unknown.message).toContain('colour');
    const missing = toHttpError(Object.assign(new Error('x'), { validation: [{ keyword: 'required', params: { requiredProperties: ['image'] } }] }));
    expect(missing.code).toBe('VALIDATION_FAILED');
    expect(missing.message).toContain('image');
  });

  it('hides what an unknown error says', () => {
    const e = toHttpError(new Error('ENOENT /var/lib/secret/path'));
    expect(e.code).toBe('INTERNAL');
    expect(e.httpStatus).toBe(500);
    expect(e.message).not.toContain('secret');
  });

  it('keeps ucloud errors as they are', () => {
    const e = new UcloudError('VM_NAME_TAKEN', 'taken');
    expect(toHttpError(e)).toBe(e);
    expect(e.toBody()).toEqual({ code: 'VM_NAME_TAKEN', message: 'taken', hint: CATALOGUE.VM_NAME_TAKEN.hint });
  });
});
