import { UcloudError } from './errors.js';

/** Bytes of user-data a VM may have: EC2's 16 KiB. */
export const MAX_USER_DATA_BYTES = 16384;

// cloud-init reads user-data as text (YAML, a #! script, MIME): a NUL or bytes
// that are not UTF-8 would be mangled on the way or stop its parsers, so they
// are refused here with a code instead of failing silently in the guest.

/**
 * Checks user-data the API received (a JSON string) and gives it back; an empty
 * one is no user-data (undefined). A lone surrogate (`"\ud800"` in JSON) has no
 * UTF-8 form, so it is refused as invalid.
 */
export function checkUserData(text: string): string | undefined {
  if (text === '') return undefined;
  if (/\p{Cs}/u.test(text)) throw new UcloudError('USER_DATA_INVALID', 'user-data is not valid UTF-8 (a lone surrogate)');
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_USER_DATA_BYTES) {
    throw new UcloudError('USER_DATA_TOO_LARGE', `user-data is ${bytes} bytes; at most ${MAX_USER_DATA_BYTES} are allowed`, { details: { bytes, max: MAX_USER_DATA_BYTES } });
  }
  const nul = text.indexOf('\0');
  if (nul >= 0) throw new UcloudError('USER_DATA_INVALID', `user-data contains a NUL byte (at byte ${Buffer.byteLength(text.slice(0, nul), 'utf8')}); binary or gzipped user-data is not accepted`);
  return text;
}

/** User-data read from a file (the CLI): the bytes must be UTF-8; then as checkUserData. */
export function userDataFromBytes(bytes: Uint8Array, what = 'the user-data file'): string | undefined {
  if (bytes.length > MAX_USER_DATA_BYTES) {
    throw new UcloudError('USER_DATA_TOO_LARGE', `${what} has more than ${MAX_USER_DATA_BYTES} bytes, the most user-data may have`, { details: { max: MAX_USER_DATA_BYTES } });
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new UcloudError('USER_DATA_INVALID', `${what} is not UTF-8 text; binary or gzipped user-data is not accepted`);
  }
  return checkUserData(text);
}
