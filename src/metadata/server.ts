// The metadata server: HTTP for VMs. It knows who is asking ONLY from the TCP
// connection: the address it was made to says which network it arrived on
// (`arrival`, given in: each listener is one bridge's fe80::1 or one network's
// <prefix>::1), and the source address must be one a NIC of that network forms
// by SLAAC (fe80::<EUI-64> on that bridge, or <prefix>:<EUI-64>; identity.ts).
// The EUI-64 gives the MAC, the MAC the VM (the `lookup` given in), whose NIC
// with that MAC must be on the arrival network; the VM leads to its owner's SSH
// keys. Anything else — no arrival network, a source outside it, no EUI-64
// interface id (privacy addresses, `::1`, IPv4 / IPv4-mapped), a MAC that no
// VM of this network holds — gets 403 and nothing else, for every path, so a
// stranger cannot even learn which paths exist. Headers (X-Forwarded-For, …)
// are never trusted; bridge filtering on the tap keeps a VM from sending with
// another VM's MAC or address.
//
// Paths (GET and HEAD; a trailing slash is optional everywhere):
//
//   ucloud's own (guest/ucloud-init uses the plain-text ones):
//     /  and /v1/meta-data      {"instanceId","hostname","publicKeys":["ssh-ed25519 AAAA… c", …]}
//     /v1/public-keys           one key per line
//     /v1/hostname, /v1/instance-id
//
//   NoCloud-net seed, as cloud-init 22.4 reads it — sources/DataSourceNoCloud.py
//   (DataSourceNoCloudNet, seed `ds=nocloud-net;s=http://<server>/nocloud/`
//   from the SMBIOS serial) and util.read_seeded():
//     /nocloud/meta-data        YAML (written as JSON, which YAML reads):
//                               instance-id, local-hostname, hostname, public-keys
//     /nocloud/user-data        the VM's user-data (`vm create --user-data`),
//                               200 with an empty body when it has none (a 404
//                               on user-data is retried 10× and then fatal)
//     /nocloud/vendor-data      ucloud's vendor-data (managers/cloud-seed.ts)
//
//   OpenStack metadata service, as cloud-init 22.4 (Debian 12's
//   cloud-init 22.4.2-1+deb12u4) reads it — sources/DataSourceOpenStack.py
//   wait_for_metadata_service() and sources/helpers/openstack.py
//   MetadataReader.read_v2():
//     /openstack                the version list, one per line; cloud-init
//                               picks the newest of OS_VERSIONS it finds
//                               (2012-08-10 … 2018-08-27), else `latest`
//     /openstack/<v>/meta_data.json     required; must have `uuid` (→ instance-id);
//                               `hostname` (→ local-hostname), `name`,
//                               `public_keys` {name: key} (get_public_ssh_keys),
//                               `keys` [{name, type: "ssh", data}] (nova's shape),
//                               `random_seed` (base64, decoded by cloud-init),
//                               `launch_index`, `project_id`, `meta` {}, `devices` []
//     /openstack/<v>/user_data          the VM's user-data; 404 = none (4xx is not retried)
//     /openstack/<v>/vendor_data.json   {"cloud-init": <vendor-data>}: the shape
//                               sources.convert_vendordata() unwraps; {} = none
//     /openstack/<v>/vendor_data2.json  optional (2016-10-06+): {}
//     /openstack/<v>/network_data.json  optional (2015-10-15+): one `phy` link
//                               with the asking NIC's MAC and an `ipv6_slaac`
//                               network on it, which convert_net_json() renders
//                               as SLAAC (ENI `inet6 auto`, netplan accept-ra)
//                               instead of the dhcp4 fallback an IPv6-only
//                               network cannot answer.
//     (read_v2 then also crawls EC2 `latest/meta-data/` — at the hard-coded
//     http://169.254.169.254, not at this server: on an IPv6-only network that
//     fails — after its retries, about 5 s — and is ignored.)
//
//   EC2 instance metadata, as cloud-init 22.4 reads it —
//   sources/DataSourceEc2.py and sources/helpers/ec2.py:
//     wait_for_metadata_service(): GET 2009-04-04/meta-data/instance-id
//       (min_metadata_version) on each metadata_urls entry; the defaults are
//       http://169.254.169.254, http://[fd00:ec2::254], http://instance-data.:8773
//     get_metadata_api_version(): GET <v>/meta-data/instance-id for v in
//       2021-03-23, 2018-09-24, 2016-09-02; the first 200 wins
//     get_instance_userdata(): GET <v>/user-data — the VM's user-data; 404 = none, not retried
//     get_instance_metadata(): GET <v>/meta-data/ and every entry it lists,
//       recursively (MetadataMaterializer): names ending in "/" are
//       directories; a `0=<name>` line under public-keys/ makes it fetch
//       public-keys/0/openssh-key. A leaf whose body contains "\n" becomes a
//       list, so leaves are sent without a trailing newline. `network/` is not
//       offered: convert_ec2_metadata_network_config() would turn on dhcp4.
//     IMDSv2: on a platform it identifies as AWS, cloud-init first does
//       PUT latest/api/token (X-aws-ec2-metadata-token-ttl-seconds: 21600) and
//       gives up without a token (a 403 or 404 there is fatal, there is no
//       fallback to v1); elsewhere it never asks. So the token is implemented:
//       HMAC(MAC, expiry) under a per-process key, TTL 1–21600 s, refused when
//       the PUT carries X-Forwarded-For (as AWS does). GETs work with or
//       without a token ("optional" mode); a token that is present but expired,
//       forged or another NIC's gets 401, which makes cloud-init fetch a new one.
//     On "AWS", crawl_metadata() also reads <v>/dynamic/instance-identity/
//       (get_instance_identity; a 404 there is retried for ~5 s): served, with
//       a `document` of {"instanceId"}.
//     Versions served: 2009-04-04, 2016-09-02, 2018-09-24, 2021-03-23, latest.
//
// All three were checked by running Debian 12's cloud-init code itself
// (MetadataReader.read_v2, DataSourceEc2.crawl_metadata as "unknown" and as
// "aws", util.read_seeded) against this server from a network namespace.
// How a stock cloud image finds this server: see guest/ucloud-init.md.
//
// Every request answered is logged at info (VM, MAC, path, status; a refusal
// with its reason), so an operator can see what a guest did or did not get.
// user-data and vendor-data are read per request (user-data is one etcd get of
// its own key), only for the VM the connection identifies.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { UcloudError, type ErrorBody } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { parseSshPublicKey } from '../common/ssh-keys.js';
import { toHttpError } from '../api/errors.js';
import { renderMetaData } from '../managers/cloud-seed.js';
import { stripZone } from '../common/eui64.js';
import { claimedMac, nicOnArrival, type Arrival, type NicRef } from './identity.js';

/** What the metadata server may tell a VM about itself, and its NICs (to check where it asks from). */
export interface MetadataVm {
  instanceId: string;
  hostname: string;
  owner: string;
  publicKeys: { name: string; key: string }[];
  nics: NicRef[];
  /** Its user-data, read when asked for; '' or absent: none. */
  userData?: () => Promise<string>;
  /** ucloud's vendor-data for it, made when asked for; '' or absent: none. */
  vendorData?: () => Promise<string>;
}

/** Finds the VM that owns a NIC, by its MAC (lowercase, colon-separated). */
export type MetadataLookup = (mac: string) => Promise<MetadataVm | undefined>;

export interface MetadataServerOptions {
  lookup: MetadataLookup;
  /** The network a request arrived on (from the address its connection was made to); undefined: none, refused. */
  arrival: (req: FastifyRequest) => Arrival | undefined;
  log: Logger;
  /** Key for IMDSv2 tokens; random per process when not given. */
  tokenSecret?: Buffer;
}

/** The OpenStack versions offered at /openstack (cloud-init's OS_VERSIONS) and `latest`. */
export const OPENSTACK_VERSIONS = [
  '2012-08-10',
  '2013-04-04',
  '2013-10-17',
  '2015-10-15',
  '2016-06-30',
  '2016-10-06',
  '2017-02-22',
  '2018-08-27',
  'latest',
] as const;

/** The EC2 API versions answered (the ones cloud-init probes) and `latest`. */
export const EC2_VERSIONS = ['2009-04-04', '2016-09-02', '2018-09-24', '2021-03-23', 'latest'] as const;

export const IMDS_TOKEN_HEADER = 'x-aws-ec2-metadata-token';
export const IMDS_TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds';
const IMDS_MAX_TTL = 21600;

const MetaData = Type.Object(
  { instanceId: Type.String(), hostname: Type.String(), publicKeys: Type.Array(Type.String()) },
  { additionalProperties: false },
);
const ErrorResponse = Type.Object({ code: Type.String(), message: Type.String(), hint: Type.Optional(Type.String()) });

interface Caller {
  mac: string;
  vm: MetadataVm;
  /** Checked, one-line keys with names unique within the VM. */
  keys: { name: string; line: string }[];
}

const callers = new WeakMap<FastifyRequest, Caller>();
/** Why a request was refused, for its one log line. */
const refusals = new WeakMap<FastifyRequest, Record<string, unknown>>();

function callerOf(req: FastifyRequest): Caller {
  const c = callers.get(req);
  if (!c) throw new UcloudError('FORBIDDEN', 'the caller is not identified');
  return c;
}

/** One line, no control characters: a name goes into `0=<name>` listings. */
function oneLine(s: string): string {
  return s.replace(/\p{Cc}+/gu, ' ').trim();
}

function checkedKeys(vm: MetadataVm, log: FastifyBaseLogger): Caller['keys'] {
  const out: Caller['keys'] = [];
  const names = new Set<string>();
  for (const k of vm.publicKeys) {
    let line: string;
    try {
      line = parseSshPublicKey(k.key).canonical;
    } catch (err) {
      log.warn({ instanceId: vm.instanceId, key: k.name, err }, 'skipping an SSH key that does not parse');
      continue;
    }
    const base = oneLine(k.name) || 'key';
    let name = base;
    for (let i = 2; names.has(name); i++) name = `${base}-${i}`;
    names.add(name);
    out.push({ name, line });
  }
  return out;
}

function text(reply: FastifyReply, body: string): FastifyReply {
  return reply.type('text/plain; charset=utf-8').send(body);
}

const notFound = (what: string) => new UcloudError('NOT_FOUND', what);
const userDataOf = async (req: FastifyRequest) => (await callerOf(req).vm.userData?.()) ?? '';
const vendorDataOf = async (req: FastifyRequest) => (await callerOf(req).vm.vendorData?.()) ?? '';

export function buildMetadataServer(opts: MetadataServerOptions): FastifyInstance {
  const { lookup, log } = opts;
  const secret = opts.tokenSecret ?? randomBytes(32);
  const app = Fastify({
    loggerInstance: log,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 4096,
    routerOptions: { ignoreTrailingSlash: true },
  }).setValidatorCompiler(TypeBoxValidatorCompiler) as unknown as FastifyInstance;

  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const e = toHttpError(err);
    let body: ErrorBody = e.toBody();
    if (e.httpStatus >= 500) {
      req.log.error({ err: e.cause ?? err, reqId: req.id, code: e.code }, 'metadata request failed');
      if (e.code === 'INTERNAL') body = { code: 'INTERNAL', message: `internal error (request ${req.id}); see the metadata log` };
    }
    void reply.status(e.httpStatus).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ code: 'NOT_FOUND', message: `no route ${req.method} ${req.url}` } satisfies ErrorBody);
  });

  // Identify every request (the 404 handler's too) before anything else runs.
  app.addHook('onRequest', async (req) => {
    const address = req.socket.remoteAddress ?? '';
    const shown = stripZone(address) || '(none)';
    const arrival = opts.arrival(req);
    if (!arrival) {
      refusals.set(req, { address, local: req.socket.localAddress, why: 'not arrived on a network bridge' });
      throw new UcloudError('FORBIDDEN', 'this address serves no network');
    }
    const claim = claimedMac(address, arrival);
    if ('refused' in claim) {
      refusals.set(req, { address, bridge: arrival.bridge, vni: arrival.vni, why: claim.refused });
      throw new UcloudError('FORBIDDEN', `the source address ${shown} is not a SLAAC address of this network (an EUI-64 address in ${arrival.prefix} or fe80::/64 is needed)`);
    }
    const vm = await lookup(claim.mac);
    // One answer for "no such MAC" and "a MAC of another network": nothing about other networks leaks.
    if (!vm || !nicOnArrival(vm.nics, claim.mac, arrival)) {
      refusals.set(req, { address, mac: claim.mac, bridge: arrival.bridge, vni: arrival.vni, known: vm !== undefined, why: 'no VM of this network has this MAC' });
      throw new UcloudError('FORBIDDEN', `no VM on this network answers to the source address ${shown}`);
    }
    callers.set(req, { mac: claim.mac, vm, keys: checkedKeys(vm, req.log) });
  });
  app.addHook('onResponse', async (req, reply) => {
    const c = callers.get(req);
    const line = { method: req.method, path: req.url.slice(0, 200), status: reply.statusCode };
    if (c) req.log.info({ ...line, vm: c.vm.instanceId, name: c.vm.hostname, owner: c.vm.owner, mac: c.mac }, 'metadata request');
    else req.log.info({ ...line, ...refusals.get(req) }, 'metadata: refused');
  });

  // ------------------------------------------------------------ ucloud --
  const ownJson = async (req: FastifyRequest) => {
    const c = callerOf(req);
    return { instanceId: c.vm.instanceId, hostname: c.vm.hostname, publicKeys: c.keys.map((k) => k.line) };
  };
  const ownSchema = { schema: { response: { 200: MetaData, 403: ErrorResponse } } };
  app.get('/', ownSchema, ownJson);
  app.get('/v1/meta-data', ownSchema, ownJson);
  app.get('/v1/public-keys', async (req, reply) => text(reply, callerOf(req).keys.map((k) => `${k.line}\n`).join('')));
  app.get('/v1/hostname', async (req, reply) => text(reply, `${oneLine(callerOf(req).vm.hostname)}\n`));
  app.get('/v1/instance-id', async (req, reply) => text(reply, `${oneLine(callerOf(req).vm.instanceId)}\n`));

  // ----------------------------------------------------------- NoCloud --
  app.get('/nocloud/meta-data', async (req, reply) => {
    const c = callerOf(req);
    return text(reply, renderMetaData({ instanceId: c.vm.instanceId, hostname: c.vm.hostname, publicKeys: c.keys.map((k) => k.line) }));
  });
  app.get('/nocloud/user-data', async (req, reply) => text(reply, await userDataOf(req)));
  app.get('/nocloud/vendor-data', async (req, reply) => text(reply, await vendorDataOf(req)));

  // --------------------------------------------------------- OpenStack --
  app.get('/openstack', async (_req, reply) => text(reply, OPENSTACK_VERSIONS.join('\n')));
  for (const v of OPENSTACK_VERSIONS) {
    const base = `/openstack/${v}`;
    const since = (first: string) => v === 'latest' || v >= first;
    const files = ['meta_data.json', 'vendor_data.json'];
    if (since('2015-10-15')) files.push('network_data.json');
    if (since('2016-10-06')) files.push('vendor_data2.json');
    app.get(base, async (_req, reply) => text(reply, files.sort().join('\n')));
    app.get(`${base}/meta_data.json`, async (req) => {
      const c = callerOf(req);
      return {
        uuid: c.vm.instanceId,
        name: c.vm.hostname,
        hostname: c.vm.hostname,
        launch_index: 0,
        project_id: c.vm.owner,
        meta: {},
        public_keys: Object.fromEntries(c.keys.map((k) => [k.name, k.line])),
        keys: c.keys.map((k) => ({ name: k.name, type: 'ssh', data: k.line })),
        random_seed: randomBytes(512).toString('base64'),
        devices: [],
      };
    });
    app.get(`${base}/user_data`, async (req, reply) => {
      const ud = await userDataOf(req);
      if (!ud) throw notFound('this VM has no user data');
      return text(reply, ud);
    });
    app.get(`${base}/vendor_data.json`, async (req) => {
      const vd = await vendorDataOf(req);
      return vd ? { 'cloud-init': vd } : {};
    });
    if (since('2016-10-06')) app.get(`${base}/vendor_data2.json`, async () => ({}));
    if (since('2015-10-15')) {
      app.get(`${base}/network_data.json`, async (req) => {
        const link = 'ucloud0';
        return {
          links: [{ id: link, type: 'phy', ethernet_mac_address: callerOf(req).mac }],
          networks: [{ id: 'network0', link, type: 'ipv6_slaac' }],
          services: [],
        };
      });
    }
  }

  // --------------------------------------------------------------- EC2 --
  const tokenFor = (mac: string, expires: number): string =>
    `${expires}.${createHmac('sha256', secret).update(`${mac}|${expires}`).digest('base64url')}`;
  const tokenValid = (mac: string, token: string): boolean => {
    const m = /^(\d{1,12})\.[A-Za-z0-9_-]{43}$/.exec(token);
    if (!m || Number(m[1]) * 1000 < Date.now()) return false;
    const want = Buffer.from(tokenFor(mac, Number(m[1])));
    const got = Buffer.from(token);
    return want.length === got.length && timingSafeEqual(want, got);
  };

  app.put('/latest/api/token', async (req, reply) => {
    const c = callerOf(req);
    if (req.headers['x-forwarded-for'] !== undefined) throw new UcloudError('FORBIDDEN', 'token requests through a proxy are refused');
    const raw = req.headers[IMDS_TTL_HEADER];
    const ttl = typeof raw === 'string' && /^\d{1,5}$/.test(raw.trim()) ? Number(raw) : NaN;
    if (!(ttl >= 1 && ttl <= IMDS_MAX_TTL)) {
      throw new UcloudError('VALIDATION_FAILED', `send the header ${IMDS_TTL_HEADER} with a lifetime of 1 to ${IMDS_MAX_TTL} seconds`);
    }
    const expires = Math.floor(Date.now() / 1000) + ttl;
    void reply.header(IMDS_TTL_HEADER, String(ttl));
    return text(reply, tokenFor(c.mac, expires));
  });

  const checkToken = async (req: FastifyRequest) => {
    const token = req.headers[IMDS_TOKEN_HEADER];
    if (token === undefined) return; // IMDSv1
    if (typeof token !== 'string' || !tokenValid(callerOf(req).mac, token)) {
      throw new UcloudError('UNAUTHENTICATED', 'the IMDSv2 token is invalid or expired', { hint: 'get a new one: PUT /latest/api/token' });
    }
  };

  for (const v of EC2_VERSIONS) {
    const ec2 = (path: string, leaf: (c: Caller, params: Record<string, string | undefined>) => string | undefined) =>
      app.get(`/${v}${path}`, { preHandler: checkToken }, async (req, reply) => {
        const body = leaf(callerOf(req), req.params as Record<string, string | undefined>);
        if (body === undefined) throw notFound(`no ${req.url} here`);
        return text(reply, body);
      });
    const keyAt = (c: Caller, index: string | undefined) => (index && /^(0|[1-9]\d{0,3})$/.test(index) ? c.keys[Number(index)] : undefined);
    ec2('', () => 'dynamic\nmeta-data');
    // On a platform it takes for AWS, cloud-init also reads the identity
    // document (get_instance_identity) and retries a 404 there for seconds.
    ec2('/dynamic', () => 'instance-identity/');
    ec2('/dynamic/instance-identity', () => 'document');
    ec2('/dynamic/instance-identity/document', (c) => JSON.stringify({ instanceId: c.vm.instanceId }));
    ec2('/meta-data', (c) => ['hostname', 'instance-id', 'local-hostname', 'mac', ...(c.keys.length ? ['public-keys/'] : [])].join('\n'));
    ec2('/meta-data/instance-id', (c) => oneLine(c.vm.instanceId));
    ec2('/meta-data/hostname', (c) => oneLine(c.vm.hostname));
    ec2('/meta-data/local-hostname', (c) => oneLine(c.vm.hostname));
    ec2('/meta-data/mac', (c) => c.mac);
    ec2('/meta-data/public-keys', (c) => (c.keys.length ? c.keys.map((k, i) => `${i}=${k.name}`).join('\n') : undefined));
    ec2('/meta-data/public-keys/:index', (c, p) => (keyAt(c, p.index) ? 'openssh-key' : undefined));
    ec2('/meta-data/public-keys/:index/openssh-key', (c, p) => keyAt(c, p.index)?.line);
    app.get(`/${v}/user-data`, { preHandler: checkToken }, async (req, reply) => {
      const ud = await userDataOf(req);
      if (!ud) throw notFound('this VM has no user data');
      return text(reply, ud);
    });
  }
  return app;
}
