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
 * Follows a drain (`host drain --wait`): polls the VMs until none is on `host`,
 * printing one line per VM that left with its new host. When every VM still
 * there stays (fits nowhere, or is not running), FailedState naming each with
 * its reason; WAIT_TIMEOUT when time runs out (the drain goes on).
 */
export async function waitForDrain(client: Client, host: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const seen = new Map<string, string>();
  for (;;) {
    const all = await client.vms.list(true);
    const here = all.filter((v) => v.host === host);
    for (const v of all) {
      if (seen.has(v.id) && v.host !== host) {
        note(`${seen.get(v.id)}: moved to ${v.host ?? '(no host)'}`);
        seen.delete(v.id);
      }
    }
    for (const id of [...seen.keys()]) if (!all.some((v) => v.id === id)) {
      note(`${seen.get(id)}: deleted`);
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
