import type { Config } from '../../common/config.js';
import { CHECKS, runChecks, type Check, type CheckResult } from '../../common/preflight.js';
import { hostAddress } from './address.js';
import { clockSync } from './clock.js';
import { etcdHealthy, underlay } from './cluster.js';
import { fenceWatchdog } from './fence.js';
import { migrationPorts } from './ports.js';

// `ucloud host preflight`: what a host needs before it joins the cluster, on
// top of what each daemon checks when it starts (docs/operations.md).

/** The checks in the order they are reported; `env` (its PATH) is what the commands they run are found on. */
export function memberChecks(env?: NodeJS.ProcessEnv): Check[] {
  return [hostAddress, clockSync(env), migrationPorts, fenceWatchdog, CHECKS.etcdCredentials, underlay(env), etcdHealthy];
}

export function memberPreflight(config: Config, env?: NodeJS.ProcessEnv): Promise<CheckResult[]> {
  return runChecks(config, memberChecks(env));
}
