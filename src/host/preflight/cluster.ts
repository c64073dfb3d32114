import type { Config } from '../../common/config.js';
import { run } from '../../common/exec.js';
import { CheckFailed, type Check } from '../../common/preflight.js';
import { tcpProbe, urlHostPort } from '../../common/tcp-probe.js';
import { etcdCredentials, storeOptions } from '../../store/etcd-auth.js';
import { etcdHealth, judgeEtcdHealth } from '../../store/etcd-health.js';
import { Keys, Kinds } from '../../store/keys.js';
import { Store } from '../../store/store.js';

// What a host needs of the cluster it joins: an etcd that is whole (every
// member answering, a quorum, one leader) and an underlay on which it reaches
// etcd and every other registered host.

/** The etcd endpoints a daemon on this host would use (`ucloud up`'s local etcd when none are configured). */
export const endpointsOf = (c: Config): string[] => (c.etcdEndpoints.length ? c.etcdEndpoints : [c.localEtcdUrl]);

export const etcdHealthy: Check = {
  name: 'etcd health',
  async run(c) {
    const endpoints = endpointsOf(c);
    const health = await etcdHealth(endpoints, await etcdCredentials(c));
    const verdict = judgeEtcdHealth(health, endpoints);
    if (!verdict.ok) {
      throw new CheckFailed(
        verdict.summary,
        'start the members that do not answer (systemctl start etcd there) and check etcd_endpoints and the credentials; `etcdctl endpoint status --cluster -w table` shows the same from etcd\'s side',
      );
    }
    // Through the store too: a read that needs the quorum, with ucloud's own user.
    const store = new Store(await storeOptions({ ...c, etcdEndpoints: endpoints }));
    try {
      await store.ping();
    } catch (err) {
      throw new CheckFailed(`the members answer, but a read of ucloud's keys fails: ${(err as Error).message}`, 'check etcd_username and etcd_password_file, and that the user may read etcd_prefix');
    } finally {
      store.close();
    }
    return verdict.summary;
  },
};

/** ICMPv6 echo: undefined when answered, else why not. */
async function ping(address: string, env: NodeJS.ProcessEnv | undefined): Promise<string | undefined> {
  try {
    await run('ping', ['-6', '-n', '-q', '-c', '1', '-W', '2', address], { timeoutMs: 5000, ...(env ? { env } : {}) });
    return undefined;
  } catch (err) {
    return (err as Error).message.replace(/^ping failed \(exit \d+\): /, '') || 'no answer';
  }
}

/**
 * Every etcd endpoint takes a TCP connection, and every other host registered
 * in etcd answers a ping on its address. `env` (its PATH) decides which ping runs.
 */
export function underlay(env?: NodeJS.ProcessEnv): Check {
  return {
    name: 'underlay reachability',
    async run(c) {
      const problems: string[] = [];
      const reached: string[] = [];
      for (const e of endpointsOf(c)) {
        const { host, port } = urlHostPort(e, 2379);
        const err = await tcpProbe(host, port, 3000);
        if (err) problems.push(`etcd ${e}: ${err}`);
        else reached.push(`etcd ${e}`);
      }
      const store = new Store(await storeOptions({ ...c, etcdEndpoints: endpointsOf(c) }));
      let others: { name: string; address: string }[] = [];
      try {
        others = (await store.list(Kinds.host, Keys.hosts())).items.map((h) => h.value).filter((h) => h.name !== c.hostName);
      } catch (err) {
        problems.push(`cannot list the registered hosts: ${(err as Error).message}`);
      } finally {
        store.close();
      }
      const answers = await Promise.all(others.map(async (h) => ({ h, err: await ping(h.address, env) })));
      for (const { h, err } of answers) {
        if (err) problems.push(`host ${h.name} (${h.address}): ${err}`);
        else reached.push(`host ${h.name}`);
      }
      if (answers.some((a) => /cannot run ping: not installed/.test(a.err ?? ''))) {
        throw new CheckFailed(`${problems.join('; ')}`, 'apt-get install iputils-ping, then run the preflight again');
      }
      if (problems.length) {
        throw new CheckFailed(problems.join('; '), `route the underlay between the hosts (${c.vxlanUnderlay}) and open etcd's client port and ICMPv6 echo between them; a host that is gone for good is forgotten with \`ucloud host remove\``);
      }
      return reached.length ? `reached ${reached.join(', ')}` : 'nothing to reach';
    },
  };
}
