import type { Vm } from '../model/index.js';
import { Keys, Kinds } from '../store/keys.js';
import type { Store } from '../store/store.js';

/**
 * One user's VMs, found through their name index (`vm-name/<owner>/`, written
 * and removed in the same transaction as the record): a read that costs what
 * the user has, not what the fleet has. A record that fails its schema is left
 * out and reported, as `Store.list` does.
 */
export async function vmsOf(store: Store, owner: string): Promise<Vm[]> {
  const names = await store.list(Kinds.vmName, Keys.vmNamesOf(owner));
  const ids = [...new Set(names.items.map((n) => n.value.id))];
  return (await store.getEach(Kinds.vm, ids.map((id) => Keys.vm(id)))).map((v) => v.value).filter((vm) => vm.owner === owner);
}
