import { UcloudError } from '../../src/common/errors.js';

/** The UcloudError `p` rejects with; fails the test if it resolves or rejects with anything else. */
export async function rejection(p: Promise<unknown>): Promise<UcloudError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof UcloudError) return err;
    throw err;
  }
  throw new Error('expected a UcloudError, but it succeeded');
}
