import { UcloudError } from '../common/errors.js';
import type { Client } from '../client/client.js';
import type { Vm, VmStatus } from '../model/index.js';
import { note } from './output.js';

/** A --wait that ended with the thing waited for in error (exit code 7). */
export class FailedState extends Error {}

function failed(vm: Vm): FailedState {
  return new FailedState(`VM "${vm.name}" is in error: ${vm.error?.code ?? ''} ${vm.error?.message ?? ''}`.trim());
}

function describe(vm: Vm): string {
  return `${vm.name}: ${vm.status}${vm.reason ? ` (${vm.reason})` : ''}${vm.host ? ` on ${vm.host}` : ''}`;
}

/**
 * Follows a VM until it reaches `target` (or is gone, for 'deleted'), printing
 * each change of state on stderr. Ends with FailedState when the VM lands in
 * error for the latest request, and WAIT_TIMEOUT when time runs out.
 */
export async function waitForVm(client: Client, ref: string, target: VmStatus | 'deleted', timeoutMs: number): Promise<Vm | undefined> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  let name = ref;
  for (;;) {
    let vm: Vm;
    try {
      vm = await client.vms.get(ref);
      name = vm.name;
    } catch (err) {
      if (target === 'deleted' && err instanceof UcloudError && err.code === 'VM_NOT_FOUND') {
        note(`${name}: deleted`);
        return undefined;
      }
      throw err;
    }
    const line = describe(vm);
    if (line !== last) note(line);
    last = line;
    if (vm.status === target && vm.observedGeneration >= vm.generation) return vm;
    if (vm.status === 'error' && vm.observedGeneration >= vm.generation) throw failed(vm);
    if (target === 'running' && vm.desired !== 'running') throw failed(vm);
    if (Date.now() > deadline) throw new UcloudError('WAIT_TIMEOUT', `VM "${ref}" is still ${vm.status} after ${Math.round(timeoutMs / 1000)} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
