import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { parseRatio } from './capacity.js';
import { UcloudError } from './errors.js';
import { formatIPv6, parseIPv6 } from './ipv6.js';
import { checkResolvers } from './resolvers.js';
import { parseDuration, parseSize } from './units.js';

// Every configuration key, its default, where it may come from and what it means,
// as data: `ucloud config show` and docs/configuration.md are both made from it.
// Precedence: defaults < config file < environment < flags (--set key=value).

type Kind = 'string' | 'int' | 'number' | 'duration' | 'enum' | 'list';

interface KeySpec {
  kind: Kind;
  default: string;
  env?: string[];
  values?: readonly string[];
  doc: string;
}

export const CONFIG_KEYS = {
  etcd_endpoints: {
    kind: 'list',
    default: '',
    env: ['UCLOUD_ETCD_ENDPOINTS', 'ETCD_ENDPOINTS'],
    doc: 'Comma-separated etcd URLs. Empty: `ucloud up` starts a local etcd (see local_etcd_*) and every daemon uses it.',
  },
  etcd_prefix: { kind: 'string', default: '/ucloud/', env: ['UCLOUD_ETCD_PREFIX'], doc: 'Key prefix of every ucloud record in etcd.' },
  local_etcd_url: {
    kind: 'string',
    default: 'http://127.0.0.1:12379',
    env: ['UCLOUD_LOCAL_ETCD_URL'],
    doc: 'Client URL of the etcd that `ucloud up` starts when etcd_endpoints is empty. It is its only TCP port (members talk over a unix socket in a root-only directory) and requires the user and password below.',
  },
  etcd_username: { kind: 'string', default: 'root', env: ['UCLOUD_ETCD_USERNAME'], doc: "The etcd user ucloud authenticates as when etcd_password_file is set. The local etcd's user is always root." },
  etcd_password_file: {
    kind: 'string',
    default: '',
    env: ['UCLOUD_ETCD_PASSWORD_FILE'],
    doc: "File holding the etcd user's password (mode 600; a trailing newline is ignored). Empty: <state_dir>/etcd-password when etcd_endpoints is empty (`ucloud up` generates it once and hands it to its daemons), else no credentials.",
  },
  state_dir: { kind: 'string', default: '/var/lib/ucloud', env: ['UCLOUD_STATE_DIR'], doc: 'Persistent state: local etcd data, the built test image.' },
  run_dir: { kind: 'string', default: '/run/ucloud', env: ['UCLOUD_RUN_DIR'], doc: 'Per-VM pid files, QMP and serial sockets and console logs.' },
  console_log_size: {
    kind: 'string',
    default: '1MiB',
    env: ['UCLOUD_CONSOLE_LOG_SIZE'],
    doc: "Most of a VM's console output kept on its host (console.log + console.log.1, each at most half; at least 8KiB). Older output is dropped.",
  },
  console_listen: {
    kind: 'string',
    default: '[::1]:8471',
    env: ['UCLOUD_CONSOLE_LISTEN'],
    doc: "Where the host agent serves its VMs' console logs to the API (with a ticket from etcd). Port 0: any free port. In a fleet, listen on the host's registered address.",
  },
  log_dir: { kind: 'string', default: '/var/log/ucloud', env: ['UCLOUD_LOG_DIR'], doc: 'One structured (JSON) log file per component.' },
  log_level: { kind: 'enum', default: 'info', env: ['UCLOUD_LOG_LEVEL'], values: ['debug', 'info', 'warn', 'error'], doc: 'Lowest level written to the log files and stderr.' },
  image_path: {
    kind: 'string',
    default: '/var/lib/ucloud/images',
    env: ['IMAGE_PATH', 'UCLOUD_IMAGE_PATH'],
    doc: 'Directory of the filesystem image store `local` that `ucloud up` creates once.',
  },
  files_path: { kind: 'string', default: '/var/lib/ucloud/files', env: ['FILES_PATH', 'UCLOUD_FILES_PATH'], doc: "The filescanner's base directory: one folder per user." },
  filescanner_interval: { kind: 'duration', default: '5s', env: ['UCLOUD_FILESCANNER_INTERVAL'], doc: 'How often the filescanner walks files_path for new, changed and deleted files.' },
  api_body_timeout: {
    kind: 'duration',
    default: '30s',
    env: ['UCLOUD_API_BODY_TIMEOUT'],
    doc: 'A request body (other than an upload) must arrive within this, or the connection is closed (slow clients holding connections). Uploads have upload_idle_timeout instead.',
  },
  upload_idle_timeout: {
    kind: 'duration',
    default: '60s',
    env: ['UCLOUD_UPLOAD_IDLE_TIMEOUT'],
    doc: 'An upload that sends nothing for this long is cut off (UPLOAD_INCOMPLETE) and its part file removed; part files left by a stopped API are removed once this much older.',
  },
  upload_max_size: { kind: 'string', default: '64GiB', env: ['UCLOUD_UPLOAD_MAX_SIZE'], doc: 'Largest file `ucloud file upload` takes through the API (FILE_TOO_LARGE beyond it).' },
  files_quota: {
    kind: 'string',
    default: '0',
    env: ['UCLOUD_FILES_QUOTA'],
    doc: "Most bytes one user's folder under files_path may hold after an upload (QUOTA_EXCEEDED beyond it), counting the files already there and the uploads in progress. 0: no quota. Files put into the folder by other means are counted but never refused.",
  },
  quota_vms: { kind: 'int', default: '100', env: ['UCLOUD_QUOTA_VMS'], doc: 'VMs one user may have (QUOTA_VMS_EXCEEDED beyond). 0: no limit. An admin overrides it per user: `ucloud user quota NAME --vms N`.' },
  quota_vcpus: { kind: 'int', default: '400', env: ['UCLOUD_QUOTA_VCPUS'], doc: "vCPUs one user's VMs may have together (QUOTA_VCPUS_EXCEEDED beyond). 0: no limit." },
  quota_ram: { kind: 'string', default: '1TiB', env: ['UCLOUD_QUOTA_RAM'], doc: "RAM one user's VMs may have together (QUOTA_RAM_EXCEEDED beyond). 0: no limit." },
  quota_disk: { kind: 'string', default: '10TiB', env: ['UCLOUD_QUOTA_DISK'], doc: "Disk one user's VMs may have together, OS disks and hdds (QUOTA_DISK_EXCEEDED beyond). 0: no limit." },
  quota_networks: { kind: 'int', default: '20', env: ['UCLOUD_QUOTA_NETWORKS'], doc: "Networks one user may have (QUOTA_NETWORKS_EXCEEDED beyond); the `default` network made with a user's first VM counts but is never refused. 0: no limit." },
  quota_images: { kind: 'int', default: '50', env: ['UCLOUD_QUOTA_IMAGES'], doc: 'Images one user may have (QUOTA_IMAGES_EXCEEDED beyond). 0: no limit.' },
  rate_limit_per_minute: {
    kind: 'int',
    default: '1200',
    env: ['UCLOUD_RATE_LIMIT_PER_MINUTE'],
    doc: 'Requests one token may make to the API per minute (a request without a known token counts against its IP address); beyond it the API answers 429 RATE_LIMITED with Retry-After. /v1/health is never limited. 0: off. An admin overrides it per user: `ucloud user quota NAME --rate N`.',
  },
  default_image_store: {
    kind: 'string',
    default: '',
    env: ['UCLOUD_DEFAULT_IMAGE_STORE'],
    doc: 'The image store `image create` uses when no store is named. Empty: the only store, if there is exactly one (else IMAGE_STORE_REQUIRED).',
  },
  event_retention: {
    kind: 'duration',
    default: '168h',
    env: ['UCLOUD_EVENT_RETENTION'],
    doc: 'How long audit events (`ucloud events`) are kept (168h: a week): each goes with its bucket\'s etcd lease (buckets of retention/24, 1s to 1h), so between this and this plus one bucket. At least 1s.',
  },
  event_bucket_max: {
    kind: 'int',
    default: '2000',
    env: ['UCLOUD_EVENT_BUCKET_MAX'],
    doc: 'Most audit events one daemon records per bucket (an hour with the default retention; see event_retention) for each owner\'s log (the cluster\'s is one more); more of that owner\'s are dropped with a warning in its log, so the events on record stay bounded whatever the request rate, and one tenant\'s flood silences only their own log: at most daemons × (retention/bucket + 1) × owners × this (with the defaults, about 340,000 per owner and daemon). At least 1.',
  },
  import_concurrency: { kind: 'int', default: '2', env: ['UCLOUD_IMPORT_CONCURRENCY'], doc: 'Image imports the imagescanner runs at once (each a sandboxed qemu-img); more requests wait their turn, oldest first. At least 1.' },
  vni_range: { kind: 'string', default: '10000-16000000', env: ['UCLOUD_VNI_RANGE'], doc: 'VXLAN network identifiers handed to networks, as first-last.' },
  ipv6_pool: { kind: 'string', default: 'fd75:636c:6f75::/48', env: ['UCLOUD_IPV6_POOL'], doc: 'Each network gets one /64 of this pool (a /48 holds 65536 networks).' },
  vxlan_underlay: { kind: 'string', default: 'lo', env: ['UCLOUD_VXLAN_UNDERLAY'], doc: 'The interface VXLAN traffic between hosts uses (lo: one machine only).' },
  metadata_port: {
    kind: 'int',
    default: '80',
    env: ['UCLOUD_METADATA_PORT'],
    doc: "The metadata server's port on each network bridge of its host: fe80::1 (scoped to the bridge) and <prefix>::1, nothing else. Guests use http://[fe80::1%eth0]/ and http://[<prefix>::1]/, so keep 80.",
  },
  dns_resolvers: {
    kind: 'list',
    default: '',
    env: ['UCLOUD_DNS_RESOLVERS'],
    doc: "Comma-separated IPv6 resolvers (at most 3) guests are given when their network names none of its own (`network create --dns`): radvd advertises them (RDNSS) and vendor-data writes them into the guest's resolver configuration. Empty: none; ucloud runs no resolver and networks have no route out by default, so name one your guests can reach (e.g. 2620:fe::fe, Quad9). A change reaches a host's radvd when its `ucloud host` restarts, and vendor-data when `ucloud metadata` restarts (read by a guest's cloud-init on its first boot).",
  },
  route_mode: {
    kind: 'enum',
    default: 'off',
    env: ['UCLOUD_ROUTE_MODE'],
    values: ['off', 'static', 'bgp'],
    doc: "How routed networks (`network create --routed`) reach the world. off: none may be created, every network is isolated (no default route, no forwarding). static: hosts forward for routed networks and advertise a default route to their guests; the operator routes each network's /64 to a host. bgp: as static, and each host announces a /128 per running VM NIC on a routed network to bgp_peers with BIRD 2 (withdrawn when the VM stops, is deleted or leaves the host). Set it alike on every host; the host enables IPv6 forwarding in its namespace when it is not off.",
  },
  network_routed_default: {
    kind: 'enum',
    default: 'isolated',
    env: ['UCLOUD_NETWORK_ROUTED_DEFAULT'],
    values: ['isolated', 'routed'],
    doc: 'What `network create` makes without --routed or --isolated (and the `default` network made on first use). routed needs route_mode static or bgp.',
  },
  bgp_peers: {
    kind: 'list',
    default: '',
    env: ['UCLOUD_BGP_PEERS'],
    doc: 'route_mode bgp: the upstream routers each host opens a BGP session to, comma-separated `ADDRESS as ASN` (e.g. `2001:db8:0:1::1 as 65000`); global IPv6 addresses directly connected to the host. Required with bgp.',
  },
  bgp_local_as: {
    kind: 'int',
    default: '65001',
    env: ['UCLOUD_BGP_LOCAL_AS'],
    doc: "route_mode bgp: the AS number hosts announce from (1-4294967295). One for the whole cluster is enough (hosts only talk to the upstream, which takes each host's routes by eBGP); set it per host in that host's ucloud.conf if the upstream wants one AS a host. Each host's BGP router id is derived from its host_name.",
  },
  routed_protected_prefixes: {
    kind: 'list',
    default: '',
    env: ['UCLOUD_ROUTED_PROTECTED_PREFIXES'],
    doc: "route_mode static or bgp: comma-separated IPv6 prefixes (e.g. `2001:db8:0:5::/64, fd00:10::/48`) that packets routed from VM networks may never reach, on top of the prefixes of the host's own global addresses (every interface but the VM bridges: vxlan_underlay, a management or BMC LAN) and the addresses of etcd_endpoints and api_listen when they are IPv6 literals. Name here the networks where other hosts, etcd, the API or your management machines live when they are not on the prefixes of the host's own interfaces.",
  },
  metadata_recheck: { kind: 'duration', default: '1s', env: ['UCLOUD_METADATA_RECHECK'], doc: "How often the metadata server re-reads the host's bridges to listen on new ones and let go of removed ones (a network change in etcd re-reads at once)." },
  api_listen: { kind: 'string', default: '[::1]:8470', env: ['UCLOUD_API_LISTEN'], doc: 'Address and port the API server listens on.' },
  api_metrics_listen: {
    kind: 'string',
    default: '[::1]:9470',
    env: ['UCLOUD_API_METRICS_LISTEN'],
    doc: "Where the API serves its Prometheus metrics (GET /metrics, docs/metrics.md): requests by route and status, their latency, etcd round trips. `off`: not served. Unauthenticated: keep it on a loopback or management address.",
  },
  scheduler_metrics_listen: { kind: 'string', default: '[::1]:9471', env: ['UCLOUD_SCHEDULER_METRICS_LISTEN'], doc: "Where the scheduler serves its Prometheus metrics (placements, pending VMs by reason, pass duration). `off`: not served." },
  host_metrics_listen: {
    kind: 'string',
    default: '[::1]:9472',
    env: ['UCLOUD_HOST_METRICS_LISTEN'],
    doc: "Where the host agent serves its Prometheus metrics: per VM CPU, memory, disk and network counters, read when scraped. `off`: not served. In a fleet, listen on an address your Prometheus reaches.",
  },
  imagescanner_metrics_listen: { kind: 'string', default: '[::1]:9473', env: ['UCLOUD_IMAGESCANNER_METRICS_LISTEN'], doc: 'Where the imagescanner serves its Prometheus metrics (imports and their bytes). `off`: not served.' },
  metadata_metrics_listen: { kind: 'string', default: '[::1]:9474', env: ['UCLOUD_METADATA_METRICS_LISTEN'], doc: "Where the metadata server serves its Prometheus metrics (the process's own and etcd round trips). `off`: not served." },
  filescanner_metrics_listen: { kind: 'string', default: '[::1]:9475', env: ['UCLOUD_FILESCANNER_METRICS_LISTEN'], doc: "Where the filescanner serves its Prometheus metrics (the process's own and etcd round trips). `off`: not served." },
  host_name: { kind: 'string', default: '', env: ['UCLOUD_HOST_NAME'], doc: "This hypervisor's name in ucloud. Empty: the machine's hostname." },
  host_address: { kind: 'string', default: '::1', env: ['UCLOUD_HOST_ADDRESS'], doc: "This hypervisor's IPv6 address (migration, VXLAN underlay)." },
  host_lease_ttl: {
    kind: 'duration',
    default: '5s',
    env: ['UCLOUD_HOST_LEASE_TTL'],
    doc: "Whole seconds, at least 2 s: the TTL of each host agent's presence lease, renewed every second. A host whose agent renewed nothing for this long is dead: its lease ends, its HA VMs restart elsewhere after failover_margin, its other VMs are marked HOST_DEAD. Shorter fails over sooner; too short for your etcd's worst latency and a busy agent is fenced for nothing (docs/architecture.md, HA and fencing).",
  },
  fence_timeout: {
    kind: 'duration',
    default: '4s',
    env: ['UCLOUD_FENCE_TIMEOUT'],
    doc: "HA: the host's fence watchdog (`ucloud host fence`) kills this host's HA VMs once this long has passed since the agent sent the last presence renewal etcd answered. At least 1 s below host_lease_ttl, so an HA VM is dead before its host's lease can end.",
  },
  failover_margin: {
    kind: 'duration',
    default: '2s',
    env: ['UCLOUD_FAILOVER_MARGIN'],
    doc: "HA: how long the scheduler waits after a host's presence lease ended before it restarts that host's HA VMs elsewhere. Covers the watchdog's kill (it looks every 200 ms) and the rates of the clocks of etcd's leader and the host.",
  },
  web: { kind: 'enum', default: 'on', env: ['UCLOUD_WEB'], values: ['on', 'off'], doc: "Whether the API serves the web dashboard at `/` (docs/web.md): static files under a strict Content-Security-Policy, no token needed to load them (every call the page makes needs one). `off`: `/` answers 401 like any unknown path." },
  ha_default: { kind: 'enum', default: 'off', env: ['UCLOUD_HA_DEFAULT'], values: ['off', 'on'], doc: 'Whether a VM is HA when `vm create` says neither --ha nor --no-ha (read by the API).' },
  accel: {
    kind: 'enum',
    default: 'auto',
    env: ['UCLOUD_ACCEL'],
    values: ['auto', 'kvm', 'tcg'],
    doc: 'QEMU accelerator. auto: KVM when /dev/kvm opens and the CPU is not itself virtualised (nested KVM is often broken), else TCG.',
  },
  qemu_binary: { kind: 'string', default: 'qemu-system-x86_64', env: ['UCLOUD_QEMU_BINARY'], doc: 'The QEMU system emulator to run.' },
  qemu_uid_range: {
    kind: 'string',
    default: '1000000000-1000999999',
    env: ['UCLOUD_QEMU_UID_RANGE'],
    doc: "Each VM's QEMU runs as its own uid and gid from this range (first-last), unique on the host and kept across restarts; no user or group of the host may have one of them. `off`: QEMU stays root (not for production).",
  },
  qemu_machine: { kind: 'enum', default: 'pc', env: ['UCLOUD_QEMU_MACHINE'], values: ['pc', 'q35'], doc: 'QEMU machine type.' },
  cpu_model: {
    kind: 'string',
    default: 'Nehalem-v1',
    env: ['UCLOUD_CPU_MODEL'],
    doc: 'The CPU model a VM gets when it starts (`qemu-system-x86_64 -cpu help`), recorded on the VM with its versioned machine type: a named, versioned model is the same on every host, so the VM can live-migrate to any host whose QEMU offers it. `host` (KVM) or `max` pass the host CPU through: faster features, but such a VM migrates only to a host with the same CPU and QEMU.',
  },
  // 100, not QEMU's 300: an idle guest switches over at the first chance whatever the limit (its pause is QEMU's fixed cost),
  // and a busy one then stops with at most ~100 ms of dirty RAM left, auto-converge slowing it until it gets there (docs/performance.md).
  migration_max_downtime_ms: { kind: 'int', default: '100', env: ['UCLOUD_MIGRATION_MAX_DOWNTIME_MS'], doc: 'Live migration: the longest pause of the guest (ms) QEMU may take to switch over (its downtime-limit).' },
  migration_max_bandwidth: { kind: 'string', default: '0', env: ['UCLOUD_MIGRATION_MAX_BANDWIDTH'], doc: 'Live migration: bytes a second one migration may send (e.g. 100MiB); 0: no limit.' },
  drain_parallel: { kind: 'int', default: '2', env: ['UCLOUD_DRAIN_PARALLEL'], doc: 'Drain: how many VMs of one drained host the scheduler migrates at once.' },
  leader_lease_ttl: {
    kind: 'duration',
    default: '5s',
    env: ['UCLOUD_LEADER_LEASE_TTL'],
    doc: "The scheduler and the imagescanner work only while they lead their etcd election (run several for a standby; the others wait): the leader holds it on a lease of this TTL, in whole seconds, renewed every third of it. A leader that dies (SIGKILL, crash, host down) is replaced after at most this long; one that stops cleanly resigns and is replaced at once. 5s keeps a takeover within seconds yet lets a leader ride out a 3 s stall (a busy event loop, a slow etcd disk) without a needless change; etcd raises anything under its minimum (2 s with its default timing). Correctness never depends on it: every placement is a compare-and-swap.",
  },
  migration_ports: {
    kind: 'string',
    default: '49152-49407',
    env: ['UCLOUD_MIGRATION_PORTS'],
    doc: "Live migration: the TCP ports (first-last) an incoming migration's QEMU listens on, one per migration under way. The host firewall refuses every new connection to them but the source host's to its own migration's port, so open this range between hypervisors only.",
  },
  migration_prepare_timeout_ms: { kind: 'int', default: '60000', env: ['UCLOUD_MIGRATION_PREPARE_TIMEOUT_MS'], doc: 'Live migration: how long the source waits for the destination to listen before it fails the migration (MIGRATION_DESTINATION_LOST).' },
  migration_timeout_s: { kind: 'int', default: '3600', env: ['UCLOUD_MIGRATION_TIMEOUT_S'], doc: 'Live migration: how long a migration may take from its request; past it the source cancels the transfer and the VM keeps running where it was (MIGRATION_TIMEOUT).' },
  migration_tls: {
    kind: 'enum',
    default: 'off',
    env: ['UCLOUD_MIGRATION_TLS'],
    values: ['off', 'on'],
    doc: "Live migration: `on` sends guest RAM (and copied disks) over TLS with this host's certificates in migration_tls_dir; only a host whose client certificate the cluster CA signed may send, and the source checks the destination's certificate names its address. Off by default: it needs a CA the operator keeps (`ucloud host certs`), a single host never migrates, and the firewall already admits only the source host to each incoming port. Turn it on on every host alike when the underlay is not a network you trust with guest memory.",
  },
  migration_tls_dir: {
    kind: 'string',
    default: '/etc/ucloud/pki/migration',
    env: ['UCLOUD_MIGRATION_TLS_DIR'],
    doc: "Live migration TLS: directory holding this host's ca-cert.pem, server-cert.pem, server-key.pem, client-cert.pem and client-key.pem (QEMU's names; keys mode 600), as `ucloud host certs` writes them. With migration_tls on, the agent refuses to start without all five (MIGRATION_TLS_FILES_MISSING).",
  },
  stop_timeout: { kind: 'duration', default: '30s', env: ['UCLOUD_STOP_TIMEOUT'], doc: 'How long a stop waits for the guest to power off after the ACPI request before QEMU is told to quit.' },
  capacity_cpu: {
    kind: 'int',
    default: '0',
    env: ['UCLOUD_CAPACITY_CPU'],
    doc: "Physical cores `ucloud up` registers for this host when it first registers it (it may book cpu_allocation_ratio times as many vCPUs). 0: the number of cores. Afterwards `ucloud host set` changes it.",
  },
  capacity_ram: { kind: 'string', default: '', env: ['UCLOUD_CAPACITY_RAM'], doc: 'RAM `ucloud up` registers for this host (e.g. 16GiB) when it first registers it. Empty: total memory less reserved_ram.' },
  capacity_disk: { kind: 'string', default: '', env: ['UCLOUD_CAPACITY_DISK'], doc: 'Disk `ucloud up` registers for this host when it first registers it. Empty: the size of the filesystem holding image_path.' },
  cpu_allocation_ratio: {
    kind: 'number',
    default: '4.0',
    env: ['UCLOUD_CPU_ALLOCATION_RATIO'],
    doc: "vCPUs a host may book per physical core (a decimal above 0, at most 100). Written into a host's record when it is registered (by `ucloud up`, or `POST /v1/hosts` without ratios; `up` also gives it, once, to its own host recorded by an older ucloud when that record's CPU count is the detected core count and capacity_cpu is unset: such records otherwise count 1:1); afterwards the record rules: `ucloud host set NAME --cpu-ratio X` changes it, a config change does not.",
  },
  ram_allocation_ratio: { kind: 'number', default: '1.0', env: ['UCLOUD_RAM_ALLOCATION_RATIO'], doc: 'RAM a host may book per byte of its RAM capacity; like cpu_allocation_ratio (`host set --ram-ratio`). Above 1 only if guests never use all their RAM at once.' },
  disk_allocation_ratio: { kind: 'number', default: '1.0', env: ['UCLOUD_DISK_ALLOCATION_RATIO'], doc: 'Disk a host may book per byte of its disk capacity; like cpu_allocation_ratio (`host set --disk-ratio`). Disks are thin, so above 1 books more than the filesystem holds.' },
  reserved_ram: { kind: 'string', default: '1GiB', env: ['UCLOUD_RESERVED_RAM'], doc: 'RAM kept for the host itself when capacity_ram is detected.' },
} as const satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof CONFIG_KEYS;

export interface Config {
  etcdEndpoints: string[];
  etcdPrefix: string;
  localEtcdUrl: string;
  etcdUsername: string;
  /** '' when ucloud sends no etcd credentials. */
  etcdPasswordFile: string;
  stateDir: string;
  runDir: string;
  consoleLogBytes: number;
  consoleListen: { host: string; port: number };
  logDir: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  imagePath: string;
  filesPath: string;
  filescannerIntervalMs: number;
  importConcurrency: number;
  eventRetentionMs: number;
  eventBucketMax: number;
  uploadMaxBytes: number;
  /** 0: no quota. */
  filesQuotaBytes: number;
  uploadIdleMs: number;
  /** The per-user defaults (`quota_*`); 0: no limit. */
  quotaDefaults: { vms: number; vcpus: number; ram: number; disk: number; networks: number; images: number };
  /** Requests a minute per token; 0: off. */
  rateLimitPerMinute: number;
  apiBodyTimeoutMs: number;
  defaultImageStore: string;
  apiListen: { host: string; port: number };
  /** The *_metrics_listen keys; undefined: `off`. */
  metricsListen: Record<MetricsComponent, { host: string; port: number } | undefined>;
  vniRange: { first: number; last: number };
  ipv6Pool: string;
  vxlanUnderlay: string;
  metadataPort: number;
  metadataRecheckMs: number;
  /** Canonical IPv6 addresses; empty: none. */
  dnsResolvers: string[];
  routeMode: 'off' | 'static' | 'bgp';
  /** What a network is when its create says neither routed nor isolated. */
  routedDefault: boolean;
  /** route_mode bgp: the upstream peers (canonical addresses); empty otherwise allowed. */
  bgpPeers: BgpPeer[];
  bgpLocalAs: number;
  /** routed_protected_prefixes: canonical `addr/len`; empty: none. */
  routedProtectedPrefixes: string[];
  hostName: string;
  hostAddress: string;
  hostLeaseTtlMs: number;
  fenceTimeoutMs: number;
  failoverMarginMs: number;
  haDefault: boolean;
  /** The API serves the web dashboard at `/`. */
  web: boolean;
  accel: 'auto' | 'kvm' | 'tcg';
  qemuBinary: string;
  qemuMachine: 'pc' | 'q35';
  cpuModel: string;
  /** Undefined when qemu_uid_range is `off`. */
  qemuUidRange: { first: number; last: number } | undefined;
  stopTimeoutMs: number;
  migrationMaxDowntimeMs: number;
  /** Bytes a second; 0: unlimited. */
  migrationMaxBandwidth: number;
  migrationPrepareTimeoutMs: number;
  migrationTimeoutMs: number;
  migrationPorts: { first: number; last: number };
  /** migration_tls on: the directory of this host's certificates; undefined: off. */
  migrationTlsDir: string | undefined;
  /** VMs of one drained host migrating at once. */
  drainParallel: number;
  /** The lease TTL of the scheduler's and the imagescanner's leadership (whole seconds, in ms). */
  leaderLeaseTtlMs: number;
  capacityCpu: number;
  capacityRam: string;
  capacityDisk: string;
  reservedRam: string;
  /** The *_allocation_ratio keys: what a newly registered host gets. */
  allocationRatio: { cpu: number; ram: number; disk: number };
}

/** The daemons that serve Prometheus metrics, each on its own `<name>_metrics_listen`. */
export const METRICS_COMPONENTS = ['api', 'scheduler', 'host', 'imagescanner', 'metadata', 'filescanner'] as const;
export type MetricsComponent = (typeof METRICS_COMPONENTS)[number];

export type ConfigSource = 'default' | 'file' | 'env' | 'flag';

export interface LoadedConfig {
  config: Config;
  raw: Record<ConfigKey, string>;
  sources: Record<ConfigKey, ConfigSource>;
  file: string;
}

export const DEFAULT_CONFIG_FILE = '/etc/ucloud/ucloud.conf';

/** `key = value` lines; `#` starts a comment; unknown keys are an error, not a silent typo. */
export function parseConfigFile(text: string, file: string): Partial<Record<ConfigKey, string>> {
  const out: Partial<Record<ConfigKey, string>> = {};
  text.split('\n').forEach((line, i) => {
    const t = line.replace(/#.*$/, '').trim();
    if (!t) return;
    const eq = t.indexOf('=');
    if (eq < 0) throw new UcloudError('INVALID_CONFIG', `${file}:${i + 1}: expected "key = value"`);
    const key = t.slice(0, eq).trim();
    if (!isConfigKey(key)) throw new UcloudError('INVALID_CONFIG', `${file}:${i + 1}: unknown key "${key}"`);
    out[key] = t.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  });
  return out;
}

export function isConfigKey(key: string): key is ConfigKey {
  return Object.hasOwn(CONFIG_KEYS, key);
}

/** Parses `key=value` flag overrides (from `--set`). */
export function parseOverrides(pairs: readonly string[]): Partial<Record<ConfigKey, string>> {
  const out: Partial<Record<ConfigKey, string>> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    const key = eq < 0 ? p : p.slice(0, eq);
    if (eq < 0 || !isConfigKey(key)) {
      throw new UcloudError('INVALID_CONFIG', `--set ${p}: expected key=value with a key from \`ucloud config show\``);
    }
    out[key] = p.slice(eq + 1);
  }
  return out;
}

export function loadConfig(opts: { file?: string; env?: NodeJS.ProcessEnv; overrides?: Partial<Record<ConfigKey, string>> } = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  const explicit = opts.file ?? env.UCLOUD_CONFIG;
  const file = explicit ?? DEFAULT_CONFIG_FILE;
  let fromFile: Partial<Record<ConfigKey, string>> = {};
  try {
    fromFile = parseConfigFile(readFileSync(file, 'utf8'), file);
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    if (!missing || explicit) {
      if (err instanceof UcloudError) throw err;
      throw new UcloudError('INVALID_CONFIG', `cannot read config file ${file}: ${(err as Error).message}`);
    }
  }
  const raw = {} as Record<ConfigKey, string>;
  const sources = {} as Record<ConfigKey, ConfigSource>;
  for (const key of Object.keys(CONFIG_KEYS) as ConfigKey[]) {
    const spec: KeySpec = CONFIG_KEYS[key];
    let value = spec.default;
    let source: ConfigSource = 'default';
    if (fromFile[key] !== undefined) {
      value = fromFile[key]!;
      source = 'file';
    }
    const envName = spec.env?.find((n) => env[n] !== undefined && env[n] !== '');
    if (envName) {
      value = env[envName]!;
      source = 'env';
    }
    if (opts.overrides?.[key] !== undefined) {
      value = opts.overrides[key]!;
      source = 'flag';
    }
    if (spec.kind === 'enum' && !spec.values!.includes(value)) {
      throw new UcloudError('INVALID_CONFIG', `${key} must be one of ${spec.values!.join(', ')}, not "${value}"`);
    }
    raw[key] = value;
    sources[key] = source;
  }
  return { config: toConfig(raw), raw, sources, file };
}

function toInt(key: ConfigKey, v: string): number {
  if (!/^\d+$/.test(v)) throw new UcloudError('INVALID_CONFIG', `${key} must be a whole number, not "${v}"`);
  return Number(v);
}

function cpuModelOf(v: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(v)) throw new UcloudError('INVALID_CONFIG', `cpu_model must be a QEMU CPU model name (see qemu-system-x86_64 -cpu help), not "${v}"`);
  return v;
}

/** A duration etcd takes as a lease TTL: whole seconds, at least one. */
function wholeSeconds(key: ConfigKey, v: string): number {
  const ms = toDuration(key, v);
  if (ms < 1000 || ms % 1000 !== 0) throw new UcloudError('INVALID_CONFIG', `${key} must be whole seconds, at least 1s, not "${v}"`);
  return ms;
}

function atLeastOne(key: ConfigKey, v: string): number {
  const n = toInt(key, v);
  if (n < 1) throw new UcloudError('INVALID_CONFIG', `${key} must be at least 1, not "${v}"`);
  return n;
}

/** An allocation ratio: a decimal above 0 and at most 100 (the host record's bounds). */
function toRatio(key: ConfigKey, v: string): number {
  const n = parseRatio(v);
  if (n === undefined) throw new UcloudError('INVALID_CONFIG', `${key} must be a number above 0 and at most 100, like 4.0 or 1.5, not "${v}"`);
  return n;
}

function toSize(key: ConfigKey, v: string, min: number): number {
  let bytes: number;
  try {
    bytes = parseSize(v);
  } catch {
    throw new UcloudError('INVALID_CONFIG', `${key} must be a size like 1MiB, not "${v}"`);
  }
  if (bytes < min) throw new UcloudError('INVALID_CONFIG', `${key} must be at least ${min} bytes, not "${v}"`);
  return bytes;
}

function toPort(key: ConfigKey, v: string): number {
  const port = toInt(key, v);
  if (port < 1 || port > 65535) throw new UcloudError('INVALID_CONFIG', `${key} must be a port (1-65535), not "${v}"`);
  return port;
}

function toPortRange(key: ConfigKey, v: string): { first: number; last: number } {
  const m = /^(\d+)-(\d+)$/.exec(v);
  const [first, last] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
  if (first < 1 || last > 65535 || first > last) throw new UcloudError('INVALID_CONFIG', `${key} must be first-last ports within 1-65535, like 49152-49407, not "${v}"`);
  return { first, last };
}

/** host_lease_ttl, fence_timeout and failover_margin, in the order that keeps an HA VM from running twice (docs/architecture.md). */
function fencingTimes(ttl: string, fence: string, margin: string): { hostLeaseTtlMs: number; fenceTimeoutMs: number; failoverMarginMs: number } {
  const hostLeaseTtlMs = toDuration('host_lease_ttl', ttl);
  const fenceTimeoutMs = toDuration('fence_timeout', fence);
  const failoverMarginMs = toDuration('failover_margin', margin);
  if (failoverMarginMs < 1000) throw new UcloudError('INVALID_CONFIG', `failover_margin must be at least 1s (the fence watchdog's kill and the clocks' drift must fit in it), not "${margin}"`);
  if (hostLeaseTtlMs < 2000 || hostLeaseTtlMs % 1000 !== 0) throw new UcloudError('INVALID_CONFIG', `host_lease_ttl must be whole seconds, at least 2s (etcd leases count seconds), not "${ttl}"`);
  if (fenceTimeoutMs < 1000 || fenceTimeoutMs > hostLeaseTtlMs - 1000) throw new UcloudError('INVALID_CONFIG', `fence_timeout must be at least 1s and at least 1s below host_lease_ttl (${ttl}), not "${fence}": an HA VM must be dead before its host's lease can end`);
  return { hostLeaseTtlMs, fenceTimeoutMs, failoverMarginMs };
}

function toDuration(key: ConfigKey, v: string): number {
  try {
    return parseDuration(v);
  } catch {
    throw new UcloudError('INVALID_CONFIG', `${key} must be a duration like 10s or 500ms, not "${v}"`);
  }
}

/** "[::1]:8470", "127.0.0.1:8470" or ":8470" (all addresses). */
export function parseListen(key: string, v: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.%\w]*)\]|([^:[\]]*)):(\d{1,5})$/.exec(v);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new UcloudError('INVALID_CONFIG', `${key} must look like [::1]:8470 or 0.0.0.0:8470, not "${v}"`);
  return { host: m[1] ?? (m[2] || '::'), port };
}

function parseRange(key: string, v: string): { first: number; last: number } {
  const m = /^(\d+)-(\d+)$/.exec(v);
  const first = Number(m?.[1]);
  const last = Number(m?.[2]);
  if (!m || first < 1 || last > 16777215 || first > last) throw new UcloudError('INVALID_CONFIG', `${key} must be first-last within 1-16777215, not "${v}"`);
  return { first, last };
}

/** A uid range for VMs: never 0 (root) and below 2^31 (tools that store ids as signed ints). */
function parseUidRange(v: string): { first: number; last: number } | undefined {
  if (v === 'off') return undefined;
  const m = /^(\d+)-(\d+)$/.exec(v);
  const first = Number(m?.[1]);
  const last = Number(m?.[2]);
  if (!m || first < 1 || last > 2 ** 31 - 2 || first > last) {
    throw new UcloudError('INVALID_CONFIG', `qemu_uid_range must be first-last within 1-${2 ** 31 - 2}, or off, not "${v}"`);
  }
  return { first, last };
}

/** One BGP peer of bgp_peers. */
export interface BgpPeer {
  address: string;
  as: number;
}

function toAs(key: string, v: string): number {
  const n = /^\d{1,10}$/.test(v) ? Number(v) : 0;
  if (n < 1 || n > 4294967295) throw new UcloudError('INVALID_CONFIG', `${key}: an AS number is 1-4294967295, not "${v}"`);
  return n;
}

/** `2001:db8::1 as 65000, 2001:db8::2 as 65000`: global unicast addresses (BIRD peers without an interface). */
export function parseBgpPeers(v: string): BgpPeer[] {
  const peers: BgpPeer[] = [];
  for (const item of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\S+)\s+as\s+(\S+)$/i.exec(item);
    if (!m) throw new UcloudError('INVALID_CONFIG', `bgp_peers: expected "ADDRESS as ASN" (e.g. 2001:db8:0:1::1 as 65000), not "${item}"`);
    let value: bigint;
    try {
      value = parseIPv6(m[1]!);
    } catch {
      throw new UcloudError('INVALID_CONFIG', `bgp_peers: "${m[1]}" is not an IPv6 address`);
    }
    const address = formatIPv6(value);
    // 2000::/3 or fc00::/7.
    if (value >> 125n !== 1n && value >> 121n !== 0x7en) throw new UcloudError('INVALID_CONFIG', `bgp_peers: ${address} is not a global or unique-local unicast address (link-local peers are not supported)`);
    if (peers.some((p) => p.address === address)) throw new UcloudError('INVALID_CONFIG', `bgp_peers: ${address} is listed twice`);
    peers.push({ address, as: toAs('bgp_peers', m[2]!) });
  }
  return peers;
}

/** routed_protected_prefixes: `addr/len` each, host bits cleared. */
export function parseProtectedPrefixes(v: string): string[] {
  return v.split(',').map((s) => s.trim()).filter(Boolean).map((item) => {
    const m = /^([^/\s]+)\/(\d{1,3})$/.exec(item);
    let value: bigint | undefined;
    try {
      value = m ? parseIPv6(m[1]!) : undefined;
    } catch {
      value = undefined;
    }
    const len = Number(m?.[2]);
    if (value === undefined || len > 128) throw new UcloudError('INVALID_CONFIG', `routed_protected_prefixes: expected IPv6 prefixes like 2001:db8:0:5::/64, not "${item}"`);
    const mask = len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(128 - len);
    return `${formatIPv6(value & mask)}/${len}`;
  });
}

function routing(raw: Record<ConfigKey, string>): Pick<Config, 'routeMode' | 'routedDefault' | 'bgpPeers' | 'bgpLocalAs' | 'routedProtectedPrefixes'> {
  const routeMode = raw.route_mode as Config['routeMode'];
  const bgpPeers = parseBgpPeers(raw.bgp_peers);
  const bgpLocalAs = toAs('bgp_local_as', raw.bgp_local_as);
  const routedDefault = raw.network_routed_default === 'routed';
  if (routeMode === 'bgp' && !bgpPeers.length) throw new UcloudError('INVALID_CONFIG', 'route_mode bgp needs bgp_peers (e.g. bgp_peers = 2001:db8:0:1::1 as 65000)');
  if (routedDefault && routeMode === 'off') throw new UcloudError('INVALID_CONFIG', 'network_routed_default routed needs route_mode static or bgp');
  return { routeMode, routedDefault, bgpPeers, bgpLocalAs, routedProtectedPrefixes: parseProtectedPrefixes(raw.routed_protected_prefixes) };
}

function toConfig(raw: Record<ConfigKey, string>): Config {
  return {
    etcdEndpoints: raw.etcd_endpoints.split(',').map((s) => s.trim()).filter(Boolean),
    etcdPrefix: raw.etcd_prefix.endsWith('/') ? raw.etcd_prefix : `${raw.etcd_prefix}/`,
    localEtcdUrl: raw.local_etcd_url,
    etcdUsername: raw.etcd_username,
    etcdPasswordFile: raw.etcd_password_file || (raw.etcd_endpoints.split(',').some((e) => e.trim()) ? '' : join(raw.state_dir, 'etcd-password')),
    stateDir: raw.state_dir,
    runDir: raw.run_dir,
    consoleLogBytes: toSize('console_log_size', raw.console_log_size, 8 * 1024),
    consoleListen: parseListen('console_listen', raw.console_listen),
    logDir: raw.log_dir,
    logLevel: raw.log_level as Config['logLevel'],
    imagePath: raw.image_path,
    filesPath: raw.files_path,
    filescannerIntervalMs: toDuration('filescanner_interval', raw.filescanner_interval),
    importConcurrency: atLeastOne('import_concurrency', raw.import_concurrency),
    eventRetentionMs: Math.max(1000, toDuration('event_retention', raw.event_retention)),
    eventBucketMax: atLeastOne('event_bucket_max', raw.event_bucket_max),
    uploadMaxBytes: toSize('upload_max_size', raw.upload_max_size, 1),
    filesQuotaBytes: toSize('files_quota', raw.files_quota, 0),
    uploadIdleMs: toDuration('upload_idle_timeout', raw.upload_idle_timeout),
    quotaDefaults: {
      vms: toInt('quota_vms', raw.quota_vms),
      vcpus: toInt('quota_vcpus', raw.quota_vcpus),
      ram: toSize('quota_ram', raw.quota_ram, 0),
      disk: toSize('quota_disk', raw.quota_disk, 0),
      networks: toInt('quota_networks', raw.quota_networks),
      images: toInt('quota_images', raw.quota_images),
    },
    rateLimitPerMinute: toInt('rate_limit_per_minute', raw.rate_limit_per_minute),
    apiBodyTimeoutMs: toDuration('api_body_timeout', raw.api_body_timeout),
    defaultImageStore: raw.default_image_store,
    apiListen: parseListen('api_listen', raw.api_listen),
    metricsListen: Object.fromEntries(METRICS_COMPONENTS.map((c) => {
      const key = `${c}_metrics_listen` as const;
      return [c, raw[key] === 'off' ? undefined : parseListen(key, raw[key])];
    })) as Config['metricsListen'],
    vniRange: parseRange('vni_range', raw.vni_range),
    ipv6Pool: raw.ipv6_pool,
    vxlanUnderlay: raw.vxlan_underlay,
    metadataPort: toPort('metadata_port', raw.metadata_port),
    metadataRecheckMs: toDuration('metadata_recheck', raw.metadata_recheck),
    dnsResolvers: checkResolvers(raw.dns_resolvers.split(',').map((s) => s.trim()).filter(Boolean), 'INVALID_CONFIG', 'dns_resolvers'),
    ...routing(raw),
    hostName: raw.host_name || hostname(),
    hostAddress: raw.host_address,
    ...fencingTimes(raw.host_lease_ttl, raw.fence_timeout, raw.failover_margin),
    haDefault: raw.ha_default === 'on',
    web: raw.web === 'on',
    accel: raw.accel as Config['accel'],
    qemuBinary: raw.qemu_binary,
    qemuMachine: raw.qemu_machine as Config['qemuMachine'],
    cpuModel: cpuModelOf(raw.cpu_model),
    qemuUidRange: parseUidRange(raw.qemu_uid_range),
    stopTimeoutMs: toDuration('stop_timeout', raw.stop_timeout),
    migrationMaxDowntimeMs: atLeastOne('migration_max_downtime_ms', raw.migration_max_downtime_ms),
    migrationMaxBandwidth: raw.migration_max_bandwidth === '0' ? 0 : parseSize(raw.migration_max_bandwidth),
    migrationPrepareTimeoutMs: atLeastOne('migration_prepare_timeout_ms', raw.migration_prepare_timeout_ms),
    migrationTimeoutMs: atLeastOne('migration_timeout_s', raw.migration_timeout_s) * 1000,
    migrationPorts: toPortRange('migration_ports', raw.migration_ports),
    migrationTlsDir: raw.migration_tls === 'on' ? raw.migration_tls_dir : undefined,
    drainParallel: atLeastOne('drain_parallel', raw.drain_parallel),
    leaderLeaseTtlMs: wholeSeconds('leader_lease_ttl', raw.leader_lease_ttl),
    capacityCpu: toInt('capacity_cpu', raw.capacity_cpu),
    capacityRam: raw.capacity_ram,
    capacityDisk: raw.capacity_disk,
    reservedRam: raw.reserved_ram,
    allocationRatio: {
      cpu: toRatio('cpu_allocation_ratio', raw.cpu_allocation_ratio),
      ram: toRatio('ram_allocation_ratio', raw.ram_allocation_ratio),
      disk: toRatio('disk_allocation_ratio', raw.disk_allocation_ratio),
    },
  };
}
