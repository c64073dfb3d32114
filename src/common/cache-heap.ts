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
