// The NoCloud seed of a VM — meta-data, user-data, vendor-data — as the
// metadata server serves it (http://[<prefix>::1]/nocloud/) and as the host
// agent writes it onto a `cidata` disk for a VM without a network.
//
// vendor-data is ucloud's own part and is written for cloud-init 22.4
// (Debian 12), whose rules shape it:
//   - user-data keys REPLACE vendor-data keys of the same name (the configs
//     are merged key by key, lists are not appended), so nothing of ours may
//     live under a key a user is likely to set (write_files, runcmd, bootcmd):
//     the resolvers go in a `text/x-shellscript` part of a MIME multipart,
//     which cloud-init writes to scripts/vendor/ and cc_scripts_vendor runs
//     once per instance, whatever the user's cloud-config says;
//   - cc_resolv_conf does not run on Debian (not in its distros), and
//     NoCloud-net never fetches network-config (and ifupdown ignores RDNSS),
//     so the script writes the resolvers itself: a systemd-resolved drop-in
//     when /etc/resolv.conf is resolved's, else /etc/resolv.conf;
//   - a user's `vendor_data: {enabled: false}` in user-data turns all of this
//     off (cloud-init checks it before consuming vendor-data).
// The multipart was checked with cloud-init 22.4.2's own code
// (UserDataProcessor, Init.consume_data): test/integration/user-data.test.ts.

import { checkResolvers } from '../common/resolvers.js';
import { parseSshPublicKey } from '../common/ssh-keys.js';
import type { Vm } from '../model/index.js';
import { Keys, Kinds } from '../store/keys.js';
import type { Store } from '../store/store.js';

export interface SeedMetaData {
  instanceId: string;
  hostname: string;
  /** One OpenSSH public key per entry, each one line. */
  publicKeys: string[];
}

export interface CloudSeed {
  metaData: string;
  userData: string;
  vendorData: string;
}

/** NoCloud meta-data: YAML, written as JSON (which YAML reads and which cannot be mis-quoted). */
export function renderMetaData(m: SeedMetaData): string {
  const md = { 'instance-id': m.instanceId, 'local-hostname': m.hostname, hostname: m.hostname, 'public-keys': m.publicKeys };
  return `${JSON.stringify(md, null, 2)}\n`;
}

/**
 * The script (run once per instance, as root, in cloud-final) that makes the
 * guest use `resolvers`: a resolved drop-in and a restart when /etc/resolv.conf
 * links to systemd-resolved's (stub or not), else /etc/resolv.conf rewritten
 * with them first, keeping its search/domain/options lines (a link elsewhere,
 * e.g. resolvconf's, becomes a plain file: these resolvers are meant to stay).
 */
export function resolversScript(resolvers: readonly string[]): string {
  // canonical IPv6 (hex digits and colons): safe inside the script's quotes
  const list = checkResolvers(resolvers, 'INVALID_CONFIG', 'resolvers').join(' ');
  return `#!/bin/sh
# ucloud vendor-data: this network's DNS resolvers.
ns='${list}'
case "$(readlink /etc/resolv.conf)" in
*run/systemd/resolve/*)
  mkdir -p /etc/systemd/resolved.conf.d
  printf '# written once by ucloud vendor-data: the network'"'"'s resolvers\\n[Resolve]\\nDNS=%s\\n' "$ns" >/etc/systemd/resolved.conf.d/50-ucloud.conf
  systemctl try-restart systemd-resolved.service
  ;;
*)
  tmp=$(mktemp /etc/.resolv.conf.ucloud.XXXXXX) || exit 1
  {
    echo '# written once by ucloud vendor-data: the network'"'"'s resolvers'
    for a in $ns; do echo "nameserver $a"; done
    [ -r /etc/resolv.conf ] && grep -E '^[[:space:]]*(search|domain|options)[[:space:]]' /etc/resolv.conf
  } >"$tmp"
  chmod 644 "$tmp" && mv -f "$tmp" /etc/resolv.conf
  ;;
esac
`;
}

/** ucloud's cloud-config: /etc/hosts kept, root grown to the disk, no password SSH. */
export function vendorCloudConfig(): string {
  // The hostname itself comes from meta-data (local-hostname = the VM's name):
  // a `hostname:` here would also beat a user's own `fqdn:`.
  return `#cloud-config
# ucloud vendor-data; user-data overrides any key, \`vendor_data: {enabled: false}\` drops it all
preserve_hostname: false
manage_etc_hosts: true
growpart:
  mode: auto
  devices: ['/']
  ignore_growroot_disabled: false
resize_rootfs: true
ssh_pwauth: false
`;
}

export const VENDOR_DATA_BOUNDARY = '==ucloud-vendor-data==';

function part(type: string, filename: string, body: string): string {
  return `--${VENDOR_DATA_BOUNDARY}\nContent-Type: ${type}; charset="utf-8"\nMIME-Version: 1.0\nContent-Transfer-Encoding: 8bit\nContent-Disposition: attachment; filename="${filename}"\n\n${body}`;
}

/** vendor-data: a MIME multipart of ucloud's cloud-config and, with resolvers, the script that sets them. */
export function renderVendorData(opts: { resolvers: readonly string[] }): string {
  const parts = [part('text/cloud-config', 'ucloud.cfg', vendorCloudConfig())];
  if (opts.resolvers.length) parts.push(part('text/x-shellscript', 'ucloud-resolvers.sh', resolversScript(opts.resolvers)));
  return `Content-Type: multipart/mixed; boundary="${VENDOR_DATA_BOUNDARY}"\nMIME-Version: 1.0\n\n${parts.join('\n')}\n--${VENDOR_DATA_BOUNDARY}--\n`;
}

/** The owner's keys as one-line OpenSSH keys; keys that do not parse are left out. */
export function publicKeyLines(keys: readonly { key: string }[]): string[] {
  const out: string[] = [];
  for (const k of keys) {
    try {
      out.push(parseSshPublicKey(k.key).canonical);
    } catch {
      // stored before the checks of today, or damaged: a guest gets the others
    }
  }
  return out;
}

/** A VM's user-data, read from its own key (not the VM record); '' when it has none. */
export async function userDataOf(store: Store, vmId: string): Promise<string> {
  return (await store.get(Kinds.userData, Keys.userData(vmId)))?.value.text ?? '';
}

/** The whole NoCloud seed of `vm`: what a `cidata` disk holds, and what /nocloud/ serves. */
export async function seedForVm(store: Store, vm: Vm, opts: { resolvers: string[] }): Promise<CloudSeed> {
  const [keys, userData] = await Promise.all([store.list(Kinds.sshKey, Keys.keysOf(vm.owner)), userDataOf(store, vm.id)]);
  const owned = keys.items.map((i) => i.value).sort((a, b) => a.name.localeCompare(b.name));
  return {
    metaData: renderMetaData({ instanceId: vm.id, hostname: vm.name, publicKeys: publicKeyLines(owned.map((k) => ({ key: k.publicKey }))) }),
    userData,
    vendorData: renderVendorData({ resolvers: opts.resolvers }),
  };
}
