import { setFlagsFromString } from 'node:v8';

/**
 * For a daemon that holds the fleet in watch-fed caches (api, scheduler): turns
 * off V8's allocation-site pretenuring. Listing and following 100,000 VMs
 * teaches V8 that objects from the sites on that path survive, so it allocates
 * from them straight into the old generation; the short-lived objects that
 * later come from the same sites under read load then pile up there until a
 * major GC: the API's RSS climbed 725 → 1,045 MiB during each read run of
 * bench/scale and fell back after, and with pretenuring off it stayed flat
 * (peak 706 MiB) and the CPU per request fell. Called as the daemon starts,
 * before its caches list anything.
 */
export function tuneHeapForCaches(): void {
  setFlagsFromString('--no-allocation-site-pretenuring');
}

/**
 * Node flags for a daemon's process, given where it is started (`ucloud up`,
 * bench/scale's fleet; deploy/systemd's units, checked by systemd-units.test).
 *
 * For the two that hold the fleet in caches, a floor under the young
 * generation (per semi-space, MiB). V8 shrinks it to 1 MiB when the process
 * idles and grows it back only as objects survive, which a server's request
 * objects hardly do, so after a quiet minute the API scavenged every ~1 MB of
 * garbage, each scavenge 2–3 ms in a heap holding 100,000 VMs: a fifth to a
 * half of its GC time under read load then, and +0.08–0.14 on the list and
 * show ratios of bench/scale. Costs up to 32 MiB of RSS.
 *
 * For the API, no memory reducer. The reducer's first memory-reducing full GC
 * after the API goes idle (9–17 s after a quiet start) leaves the feedback
 * of Node's own `process.nextTick` megamorphic for the rest of the process's
 * life (`%DebugPrint(process.nextTick)`: its object literal's keyed-define
 * slots turn MONOMORPHIC → MEGAMORPHIC at that GC and never back), so every
 * tick, five per HTTP request in Node's server, goes through V8's runtime:
 * 10.7 % of the API's busy time under `vm show` load in a V8 profile, 1.1 %
 * without. Three APIs on one 100,000-VM fleet, alternated: 24.3–29.1 µs of
 * CPU per `vm show` without the reducer against 26.3–33.3 µs with it
 * (docs/performance.md). The heap then stays near its high-water mark when
 * idle instead of shrinking (bench/scale: RSS ≈ its peak, under 1 GiB at
 * 100,000 VMs).
 *
 * Command-line flags only: V8 reads them when the heap is set up, and
 * NODE_OPTIONS refuses them.
 */
export function daemonNodeFlags(daemon: string): string[] {
  const caches = daemon === 'api' || daemon === 'scheduler' ? ['--min-semi-space-size=16'] : [];
  return daemon === 'api' ? [...caches, '--no-memory-reducer'] : caches;
}
