import { UcloudError } from '../common/errors.js';
import { matchTotp, newTotpSecret, otpauthUri } from '../common/totp.js';
import { nowIso, type TotpRecord } from '../model/index.js';
import { Keys, Kinds } from '../store/keys.js';
import type { Store } from '../store/store.js';

/** The name authenticator apps show above the code (the seed's realm). */
export const TOTP_ISSUER = 'ucloud';
/** Wrong codes in a row before a pause, and the pause: guessing 6 digits stays hopeless. */
const MAX_FAILURES = 5;
const PAUSE_MS = 5 * 60_000;

/**
 * A user's optional second factor for making tokens: enabled in two steps
 * (the secret is shown once, then a first code confirms it), so a mistyped
 * scan never locks anyone out of making tokens.
 */
export class TotpManager {
  constructor(private readonly store: Store) {}

  async status(user: string): Promise<{ enabled: boolean; pending: boolean }> {
    const r = (await this.store.get(Kinds.totp, Keys.totp(user)))?.value;
    return { enabled: Boolean(r?.confirmed), pending: Boolean(r && !r.confirmed) };
  }

  /** A new secret, pending until confirmed; a pending one is replaced, a confirmed one refused. */
  async begin(user: string): Promise<{ otpauthUri: string; secret: string }> {
    const secret = newTotpSecret();
    await this.store.update(Kinds.totp, Keys.totp(user), (cur) => {
      if (cur?.confirmed) throw new UcloudError('TOTP_ENABLED', `user "${user}" already has a second factor`);
      return { secret, confirmed: false, createdAt: nowIso() };
    });
    return { otpauthUri: otpauthUri(TOTP_ISSUER, user, secret), secret };
  }

  async confirm(user: string, code: string): Promise<void> {
    const cur = (await this.store.get(Kinds.totp, Keys.totp(user)))?.value;
    if (!cur) throw new UcloudError('TOTP_NOT_ENABLED', `user "${user}" has not started enabling a second factor`);
    if (cur.confirmed) throw new UcloudError('TOTP_ENABLED', `user "${user}" already has a second factor`);
    await this.consume(user, code, true);
  }

  /** Turns it off: with a code from its owner, or without one by an admin (`code` undefined). */
  async disable(user: string, code: string | undefined): Promise<void> {
    const cur = await this.store.get(Kinds.totp, Keys.totp(user));
    if (!cur) throw new UcloudError('TOTP_NOT_ENABLED', `user "${user}" has no second factor`);
    if (code !== undefined && cur.value.confirmed) await this.consume(user, code, false);
    await this.store.delete(Keys.totp(user));
  }

  /** Passes when the user has no confirmed second factor, or `code` is a fresh one. */
  async check(user: string, code: string | undefined): Promise<void> {
    const cur = (await this.store.get(Kinds.totp, Keys.totp(user)))?.value;
    if (!cur?.confirmed) return;
    if (code === undefined) throw new UcloudError('TOTP_REQUIRED', 'making a token needs your TOTP code');
    await this.consume(user, code, false);
  }

  /** Accepts `code` once (its step must be above the last accepted), counting wrong ones; CAS so two requests cannot both use one code. */
  private async consume(user: string, code: string, confirm: boolean): Promise<void> {
    let refusal: UcloudError | undefined;
    await this.store.update(Kinds.totp, Keys.totp(user), (cur) => {
      refusal = undefined;
      if (!cur) throw new UcloudError('TOTP_NOT_ENABLED', `user "${user}" has no second factor`);
      const now = Date.now();
      if ((cur.failures ?? 0) >= MAX_FAILURES && cur.failedAt && now - Date.parse(cur.failedAt) < PAUSE_MS) {
        throw new UcloudError('TOTP_INVALID', `too many wrong codes; try again after ${new Date(Date.parse(cur.failedAt) + PAUSE_MS).toISOString()}`);
      }
      const step = matchTotp(cur.secret, code, now);
      if (step === undefined || step <= (cur.lastStep ?? -1)) {
        refusal = new UcloudError('TOTP_INVALID', step === undefined ? 'the TOTP code is wrong' : 'that TOTP code was used already; wait for the next one');
        return { ...cur, failures: (cur.failures ?? 0) + 1, failedAt: new Date(now).toISOString() };
      }
      const { failures: _f, failedAt: _a, ...rest } = cur;
      const next: TotpRecord = { ...rest, lastStep: step };
      if (confirm) next.confirmed = true;
      return next;
    });
    if (refusal) throw refusal;
  }
}
