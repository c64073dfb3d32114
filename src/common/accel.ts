import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';

export type Accel = 'kvm' | 'tcg';

/**
 * `auto` picks KVM only on a CPU that is not itself virtualised: nested KVM is
 * often present but broken (a guest kernel hangs), and a hung VM is worse than a
 * slow one. Operators of nested setups that work set accel = kvm.
 */
export async function resolveAccel(wanted: 'auto' | Accel): Promise<Accel> {
  if (wanted !== 'auto') return wanted;
  return (await kvmUsable()) && !(await cpuIsVirtualised()) ? 'kvm' : 'tcg';
}

export async function kvmUsable(): Promise<boolean> {
  return access('/dev/kvm', constants.R_OK | constants.W_OK).then(
    () => true,
    () => false,
  );
}

async function cpuIsVirtualised(): Promise<boolean> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  return /^flags\s*:.*\bhypervisor\b/m.test(cpuinfo);
}
