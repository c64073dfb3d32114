import { UcloudError } from '../common/errors.js';
import type { Client } from '../client/client.js';
import type { Vm } from '../model/index.js';
import { note } from './output.js';
import { FailedState } from './wait.js';

/** Why a VM left on a drained host will not move by itself, or undefined while it may still. */
function staysBecause(vm: Vm): string | undefined {
  if (vm.migration || vm.status === 'migrating') return undefined;
  // The scheduler moves running VMs only; one that fits nowhere carries the reason.
  if (vm.status === 'running') return vm.reason;
  if (vm.status === 'stopped' || vm.status === 'error') return `${vm.status}: only running VMs are migrated`;
  return undefined;
}

/**
 * Follows a drain (`host drain --wait`): polls the host's VMs until none is left,
 * printing one line per VM that left with its new host. When every VM still
 * there stays (fits nowhere, or is not running), FailedState naming each with
 * its reason; WAIT_TIMEOUT when time runs out (the drain goes on).
 */
export async function waitForDrain(client: Client, host: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const seen = new Map<string, string>();
  for (;;) {
    // The host's VMs only (the API's index by host): a poll costs that host's VMs, not the fleet's.
    const here = await client.vms.list(true, { host });
    const still = new Set(here.map((v) => v.id));
    for (const [id, name] of [...seen]) {
      if (still.has(id)) continue;
      const now = await client.vms.get(id).catch((err: unknown) => {
        if (err instanceof UcloudError && err.code === 'VM_NOT_FOUND') return undefined;
        throw err;
      });
      // Another API server's cache may be a moment behind the list's: still here, it is looked at again.
      if (now?.host === host) continue;
      note(now ? `${name}: moved to ${now.host ?? '(no host)'}` : `${name}: deleted`);
      seen.delete(id);
    }
    for (const v of here) seen.set(v.id, v.name);
    if (here.length === 0) {
      note(`host ${host} holds no VM`);
      return;
    }
    const stays = here.map((v) => ({ v, why: staysBecause(v) }));
    if (stays.every((s) => s.why !== undefined)) {
      const n = here.length;
      throw new FailedState(`host ${host} still holds ${n} VM${n === 1 ? ' that stays' : 's that stay'}: ${stays.map((s) => `${s.v.name} (${s.why})`).join('; ')}`);
    }
    if (Date.now() > deadline) throw new UcloudError('WAIT_TIMEOUT', `host ${host} still holds ${here.length} VM(s) after ${Math.round(timeoutMs / 1000)} s; the drain goes on`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
