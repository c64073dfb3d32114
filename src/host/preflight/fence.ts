import { CheckFailed, type Check } from '../../common/preflight.js';
import { monoMs } from '../../common/clock.js';
import { BEAT_FRESH_MS, readBeat } from '../fence/files.js';

// The agent arms this host's HA VMs only while the fence watchdog beats; a host
// joining without one would take HA VMs it cannot fence.


export const fenceWatchdog: Check = {
  name: 'fence watchdog',
  async run(c) {
    const beat = await readBeat(c.runDir);
    const fix = 'systemctl enable --now ucloud-fence (it runs `ucloud host fence` with the same configuration as the agent)';
    if (!beat) throw new CheckFailed(`no fence watchdog has beaten under ${c.runDir}: HA VMs will not be armed on this host`, fix);
    const age = monoMs() - beat.at;
    if (age >= BEAT_FRESH_MS) throw new CheckFailed(`the fence watchdog (pid ${beat.pid}) last beat ${(age / 1000).toFixed(1)} s ago: HA VMs will not be armed on this host`, fix);
    return `beating (pid ${beat.pid})`;
  },
};
