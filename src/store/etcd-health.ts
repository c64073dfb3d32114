import { noop } from 'cockatiel';
import { Etcd3, type IMember } from 'etcd3';
import { tcpProbe, urlHostPort } from '../common/tcp-probe.js';
import { UcloudError } from '../common/errors.js';
import { withTimeout } from '../common/timeout.js';
import type { EtcdCredentials } from './etcd-auth.js';

// What an operator asks of an etcd cluster before trusting a host to it: does
// every endpoint answer, do enough members answer for a quorum, and do they
// agree on a leader. Each member is asked on its own connection (the store's
// client would fail over to another endpoint and hide a dead one).

export interface MemberStatus {
  /** The URL it was asked on. */
  endpoint: string;
  /** Its member id (hex, as etcdctl prints it); absent when it did not answer. */
  id?: string;
  /** The member id it believes leads (hex); '0': none. */
  leader?: string;
  version?: string;
  learner?: boolean;
  /** Raised alarms (NOSPACE, CORRUPT). */
  alarms?: string[];
  error?: string;
}

export interface EtcdHealth {
  /** One per configured endpoint, then one per member not reached through them. */
  statuses: MemberStatus[];
  /** The cluster's members, from the first endpoint that listed them; empty when none could. */
  members: { id: string; name: string; clientURLs: string[]; learner: boolean }[];
}

const hex = (id: string): string => BigInt(id).toString(16);

/** The error of a member that took the connection and answered nothing in time. */
const silent = (endpoint: string, ms: number) => () => new UcloudError('ETCD_UNAVAILABLE', `no answer from ${endpoint} within ${ms} ms`, { details: { silent: true } });
const isSilent = (err: unknown): boolean => err instanceof UcloudError && err.details?.silent === true;

async function askOne(endpoint: string, auth: EtcdCredentials | undefined, timeoutMs: number): Promise<{ status: MemberStatus; members?: IMember[] }> {
  const client = new Etcd3({ hosts: [endpoint], dialTimeout: timeoutMs, ...(auth ? { auth } : {}), faultHandling: { host: () => noop, global: noop } });
  try {
    const s = await withTimeout(client.maintenance.status(), timeoutMs, silent(endpoint, timeoutMs));
    const members = await withTimeout(client.cluster.memberList({ linearizable: false }), timeoutMs, silent(endpoint, timeoutMs)).then(
      (r) => r.members,
      () => undefined,
    );
    return {
      status: { endpoint, id: hex(s.header.member_id), leader: hex(s.leader), version: s.version, learner: s.isLearner, alarms: s.errors },
      ...(members ? { members } : {}),
    };
  } catch (err) {
    const msg = (err as Error).message;
    // Connected yet silent: with auth on, a member without a quorum cannot even hand out a token.
    if (isSilent(err) && !(await tcpProbe(urlHostPort(endpoint, 2379).host, urlHostPort(endpoint, 2379).port, timeoutMs))) {
      return { status: { endpoint, error: `it takes connections but answers nothing within ${timeoutMs} ms: no quorum, or still starting` } };
    }
    // gRPC's "14 UNAVAILABLE: No connection established. Last error: …" says it in its socket error.
    const socket = /connect (E[A-Z]+ \S+)/.exec(msg)?.[1]?.replace(/\.$/, '') ?? (/No connection established/.test(msg) ? 'no connection' : undefined);
    return { status: { endpoint, error: socket ?? msg.split('\n')[0]!.replace(/^\d+ [A-Z_]+: (etcdserver: )?/, '') } };
  } finally {
    client.close();
  }
}

/** Asks every endpoint, then every member the endpoints did not reach, for its status. */
export async function etcdHealth(endpoints: readonly string[], auth: EtcdCredentials | undefined, timeoutMs = 3000): Promise<EtcdHealth> {
  const first = await Promise.all(endpoints.map((e) => askOne(e, auth, timeoutMs)));
  const listed = first.find((r) => r.members)?.members ?? [];
  const members = listed.map((m) => ({ id: hex(m.ID), name: m.name, clientURLs: m.clientURLs, learner: m.isLearner }));
  const seen = new Set(first.map((r) => r.status.id).filter(Boolean));
  const rest = await Promise.all(
    members
      // A URL asked already (a configured endpoint) is not asked twice.
      .filter((m) => !seen.has(m.id) && m.clientURLs.some((u) => !endpoints.includes(u)))
      .map(async (m) => {
        const urls = m.clientURLs.filter((u) => !endpoints.includes(u));
        let last: MemberStatus = { endpoint: urls[0]!, error: 'no client URL answered' };
        for (const url of urls) {
          last = (await askOne(url, auth, timeoutMs)).status;
          if (last.id) break;
        }
        return last;
      }),
  );
  return { statuses: [...first.map((r) => r.status), ...rest], members };
}

export interface HealthVerdict {
  ok: boolean;
  /** One line: what is wrong, or what was found. */
  summary: string;
}

/** Every endpoint answers, a quorum of voting members answers, and they agree on a leader that is a member. */
export function judgeEtcdHealth(h: EtcdHealth, configured: readonly string[]): HealthVerdict {
  const problems: string[] = [];
  for (const s of h.statuses.filter((x) => configured.includes(x.endpoint) && !x.id)) problems.push(`endpoint ${s.endpoint} does not answer (${s.error ?? 'no status'})`);
  const voters = h.members.filter((m) => !m.learner);
  const answering = new Set(h.statuses.filter((s) => s.id && voters.some((m) => m.id === s.id)).map((s) => s.id));
  const quorum = Math.floor(voters.length / 2) + 1;
  if (!h.members.length) problems.push('no endpoint could list the members');
  else if (answering.size < quorum) problems.push(`only ${answering.size} of ${voters.length} voting members answer; a quorum is ${quorum}`);
  for (const m of voters.filter((v) => !answering.has(v.id))) problems.push(`member ${m.name || m.id} (${m.clientURLs.join(', ') || 'not started'}) does not answer`);
  const leaders = new Set(h.statuses.filter((s) => s.id).map((s) => s.leader));
  const leader = [...leaders][0];
  if (answering.size && (leaders.size !== 1 || leader === '0')) problems.push(leaders.size > 1 ? `members disagree on the leader (${[...leaders].join(', ')})` : 'no leader is known');
  else if (leader && h.members.length && !h.members.some((m) => m.id === leader)) problems.push(`the leader ${leader} is not a listed member`);
  for (const s of h.statuses.filter((x) => x.alarms?.length)) problems.push(`${s.endpoint} raises ${s.alarms!.join(', ')}`);
  if (problems.length) return { ok: false, summary: problems.join('; ') };
  const name = h.members.find((m) => m.id === leader)?.name;
  return { ok: true, summary: `${answering.size} of ${voters.length} members answer, leader ${name || leader}, etcd ${h.statuses.find((s) => s.version)?.version ?? '?'}` };
}
