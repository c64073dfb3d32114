// The one error catalogue. Every error a user can see has a stable code listed
// here; the HTTP status and CLI exit code are derived from the code in this file
// and nowhere else. Codes travel as fields and are never parsed back from text.

export type ErrorClass =
  | 'invalid' // the request itself is wrong
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'unavailable' // a dependency (etcd, qemu, ceph) is down or missing
  | 'internal';

interface CatalogueEntry {
  class: ErrorClass;
  /** What a person can do about it; shown under the message. */
  hint?: string;
  /** An HTTP status more precise than the class's (429, 507); the exit code still follows the class. */
  status?: number;
}

export const CATALOGUE = {
  // request validation
  VALIDATION_FAILED: { class: 'invalid' },
  UNKNOWN_FIELD: { class: 'invalid', hint: 'remove the field; see `ucloud <noun> <verb> --help` for the accepted ones' },
  INVALID_SIZE: { class: 'invalid', hint: 'write a size like 256MiB, 1GiB, 500MB (units: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)' },
  SIZE_OUT_OF_RANGE: { class: 'invalid' },
  INVALID_NAME: { class: 'invalid', hint: 'names are 1-63 characters: lowercase letters, digits and "-", starting with a letter' },
  DISK_SMALLER_THAN_IMAGE: { class: 'invalid', hint: 'ask for an OS disk at least as large as the image (see `ucloud image show`)' },
  USER_DATA_TOO_LARGE: { class: 'invalid', hint: 'user-data is at most 16384 bytes (16 KiB, as on EC2): let it fetch the rest (#include URL, or a runcmd that downloads it)' },
  USER_DATA_INVALID: { class: 'invalid', hint: 'user-data is UTF-8 text without NUL bytes: a #cloud-config, a #! script or a MIME multipart' },
  INVALID_CURSOR: { class: 'invalid', hint: 'pass back the `next` cursor of the same list exactly as it came, or leave cursor out to start from the first page' },
  CURSOR_EXPIRED: { class: 'invalid', hint: 'a cursor is good for 24 hours: list again from the first page (leave cursor out)' },
  MALFORMED_REQUEST: { class: 'invalid', hint: 'the bytes sent are not an HTTP/1.1 request this server can parse (request line, header syntax, Content-Length or chunking): the connection was closed; send a well-formed request' },
  REQUEST_HEADERS_TOO_LARGE: { class: 'invalid', status: 431, hint: 'the request line and headers together may be at most 16 KiB: send fewer or shorter headers (a name in the path is at most 64 characters anyway)' },
  REQUEST_BODY_TOO_LARGE: { class: 'invalid', status: 413, hint: 'a JSON request body is at most 1 MiB (files go up with PUT /v1/files/NAME, which streams)' },
  REQUEST_TIMEOUT: { class: 'invalid', status: 408, hint: 'the request did not arrive in time (headers or body too slow): send it again, faster' },
  INVALID_CONFIG: { class: 'invalid', hint: 'fix the value in /etc/ucloud/ucloud.conf, the environment or the flag' },
  // authentication and authorization
  UNAUTHENTICATED: { class: 'unauthenticated', hint: 'pass a token: `ucloud up` writes ~/.config/ucloud/config.json, `ucloud profile add` adds one, or set UCLOUD_TOKEN' },
  TOKEN_EXPIRED: { class: 'unauthenticated', hint: 'make a new token with another one that still works (`ucloud token create NAME --expires 30d`), or ask an admin' },
  USER_DISABLED: { class: 'unauthenticated', hint: 'an admin disabled this user; an admin enables it again with `ucloud user enable NAME`' },
  FORBIDDEN: { class: 'forbidden' },
  TOTP_REQUIRED: { class: 'forbidden', hint: 'you enabled a second factor: add the code your authenticator shows (`ucloud token create NAME --totp 123456`)' },
  TOTP_INVALID: { class: 'forbidden', hint: 'give the code your authenticator shows now (each code works once; after 5 wrong ones wait 5 minutes); lost it? an admin turns it off: `ucloud user totp disable --user NAME`' },
  // missing things
  NOT_FOUND: { class: 'not_found' },
  VM_NOT_FOUND: { class: 'not_found', hint: 'see `ucloud vm list`' },
  IMAGE_NOT_FOUND: { class: 'not_found', hint: 'see `ucloud image list`' },
  IMAGE_STORE_NOT_FOUND: { class: 'not_found', hint: 'see `ucloud image-store list`' },
  HOST_NOT_FOUND: { class: 'not_found', hint: 'see `ucloud host list`' },
  HOST_NOT_REGISTERED: { class: 'not_found', hint: 'an admin registers it first: `ucloud host add <name>`' },
  USER_NOT_FOUND: { class: 'not_found', hint: 'see `ucloud user list`' },
  TOKEN_NOT_FOUND: { class: 'not_found', hint: 'see `ucloud token list` (ids are the 12 hex digits in its first column)' },
  PROFILE_NOT_FOUND: { class: 'not_found', hint: 'see `ucloud profile list`; add one with `ucloud profile add <name> --url <api url>`' },
  // conflicts with what is stored
  CONFLICT: { class: 'conflict', hint: 'someone changed it meanwhile; try again' },
  VM_NAME_TAKEN: { class: 'conflict', hint: 'pick another name or delete the old VM' },
  USER_EXISTS: { class: 'conflict' },
  USER_HAS_RESOURCES: { class: 'conflict', hint: 'the user (or an admin) deletes their VMs, networks, images and files first; details counts them. Tokens and SSH keys go with the user' },
  USER_IS_CALLER: { class: 'conflict', hint: 'another admin disables or deletes you; this keeps a cluster from losing the admin who is working on it' },
  LAST_ADMIN: { class: 'conflict', hint: 'make another admin first (`ucloud user create NAME --role admin`)' },
  TOTP_ENABLED: { class: 'conflict', hint: 'a second factor is already on: turn it off first (`ucloud user totp disable --totp CODE`), then enable again' },
  TOTP_NOT_ENABLED: { class: 'conflict', hint: 'start with `ucloud user totp enable`, then confirm with `ucloud user totp confirm CODE`' },
  TOO_MANY_TOKENS: { class: 'conflict', hint: 'a user holds at most 50 tokens (expired ones make room for new ones): revoke the ones no longer used (`ucloud token list`, `ucloud token revoke ID`)' },
  TOKEN_NAME_TAKEN: { class: 'conflict', hint: 'pick another name, or revoke the old token first (`ucloud token list`, `ucloud token revoke ID`)' },
  HOST_EXISTS: { class: 'conflict' },
  UP_ALREADY_RUNNING: { class: 'conflict', hint: 'one `ucloud up` per state directory: stop the running one (Ctrl-C in its terminal, or `kill <pid>`), or give this one another state_dir' },
  IMAGE_EXISTS: { class: 'conflict' },
  IMAGE_NOT_READY: { class: 'conflict', hint: 'wait until `ucloud image show` says ready' },
  VM_BUSY: { class: 'conflict', hint: 'wait for the current operation to finish (`ucloud vm status`)' },
  VM_MUST_BE_STOPPED: { class: 'conflict', hint: 'stop it first: ucloud vm stop <name> --wait' },
  VM_MIGRATING: { class: 'conflict', hint: 'wait for the migration to end (`ucloud vm migrate <name> --wait`) or cancel it (`--cancel`), then ask again' },
  VM_TRANSITION_REFUSED: { class: 'conflict', hint: 'the VM changed meanwhile or this process may not make that change: see `ucloud vm show <name>`' },
  VM_NOT_RUNNING: { class: 'conflict', hint: 'only a running VM migrates live or reboots: start it (`ucloud vm start <name> --wait`) or wait until `ucloud vm status` says running' },
  MIGRATION_IN_PROGRESS: { class: 'conflict', hint: 'one migration at a time: follow it with `ucloud vm migrate <name> --wait`, or cancel it with `--cancel`' },
  // No longer raised (a VM with local disks now migrates with a disk copy); kept so the code stays stable for clients that match on it.
  MIGRATION_NOT_SUPPORTED: { class: 'conflict', hint: 'no longer raised: a VM whose disks are not on a shared store migrates with a disk copy; a client still matching on it can drop the case' },
  HOST_INCOMPATIBLE: { class: 'conflict', hint: 'the destination\'s QEMU lacks the VM\'s machine type or CPU model (see `qemu-system-x86_64 -machine help` / `-cpu help` there): pick another host, or upgrade its QEMU; a VM with cpu_model host or max moves only between hosts with the same CPU and QEMU' },
  MIGRATION_SAME_HOST: { class: 'invalid', hint: 'name another host with --to (see `ucloud host list`), or leave --to out to let the scheduler pick one' },
  NO_MIGRATION: { class: 'conflict', hint: 'the VM is not migrating: see `ucloud vm show <name>` (lastMigration tells how the last one ended)' },
  HOST_FENCED: { class: 'unavailable', hint: "this host's agent holds no presence lease now (etcd unreachable, or it was frozen): it acts again once announced on a new one" },
  VM_NOT_RECOVERABLE: { class: 'conflict', hint: 'only a VM marked HOST_DEAD on a host that is still dead, with every disk on shared storage, is recovered elsewhere; see `ucloud vm show <name>`' },
  HOST_NOT_FENCED: { class: 'conflict', hint: 'a store of this VM cannot revoke the dead host\'s access to its disks: make sure that host is powered off, then `ucloud vm recover <name> --host-is-off`' },
  HOST_DEAD: { class: 'conflict', hint: 'the host\'s agent is not running (see `ucloud host list`, alive): pick another host or start `ucloud host` there' },
  HOST_NOT_EMPTY: { class: 'conflict', hint: 'move or delete its VMs first: `ucloud host drain <name> --wait`, then `ucloud host remove <name>`' },
  HOST_DRAINED: { class: 'conflict', hint: 'a drained host takes no VMs: pick another host, or `ucloud host undrain <name>` first' },
  // dependencies
  ETCD_UNAVAILABLE: { class: 'unavailable', hint: 'check that etcd runs and UCLOUD_ETCD_ENDPOINTS points at it' },
  ETCD_AUTH_REQUIRED: { class: 'unavailable', hint: 'etcd wants a user and password: set etcd_password_file (and etcd_username); `ucloud up` keeps its local etcd\'s in <state_dir>/etcd-password' },
  ETCD_AUTH_FAILED: { class: 'unavailable', hint: 'etcd refused the user and password: check etcd_username and the file named by etcd_password_file' },
  WEB_NOT_BUILT: { class: 'unavailable', hint: 'the dashboard\'s files are not built: run `npm run build` (it bundles src/web into dist/web), or turn the dashboard off with web = off' },
  API_UNREACHABLE: { class: 'unavailable', hint: 'is `ucloud up` (or `ucloud api`) running? check the url of the profile in use (`ucloud profile list`)' },
  PREFLIGHT_FAILED: { class: 'unavailable' },
  QEMU_START_FAILED: { class: 'internal', hint: 'see the host log and the VM serial log' },
  QEMU_EXITED: { class: 'internal', hint: 'the VM process ended without being asked; `ucloud vm start` boots it again' },
  QMP_ERROR: { class: 'internal' },
  MIGRATION_DESTINATION_LOST: { class: 'unavailable', hint: 'the destination host never got ready or its agent went away; the VM keeps running where it was' },
  MIGRATION_FAILED: { class: 'internal', hint: 'the VM keeps running where it was; see `ucloud vm show` (lastMigration) and the host logs' },
  MIGRATION_TIMEOUT: { class: 'unavailable', hint: 'the migration did not finish within migration_timeout_s (a guest dirtying RAM faster than the link carries it, or a slow link): the VM keeps running where it was; raise migration_max_bandwidth or migration_timeout_s, or migrate when the guest is quieter' },
  MIGRATION_STORE_FULL: { class: 'unavailable', hint: 'the destination\'s store has less free space than the VM\'s disks need: free space there, or migrate to another host (`--to`); the VM keeps running where it was' },
  MIGRATION_GUEST_ON_DESTINATION: { class: 'conflict', hint: 'the incoming QEMU finished the migration (or runs) although the record does not place the VM there: an admin decides which copy lives (compare both hosts\' QEMUs, `ucloud vm show`), the other is removed by hand' },
  HOST_CERTS_EXIST: { class: 'conflict', hint: 'the --out directory already holds host certificates: pass --force to replace them (renewal), or name another --out' },
  MIGRATION_TLS_FILES_MISSING: { class: 'invalid', hint: 'make this host\'s certificates with `ucloud host certs --ca-dir <cluster CA dir> --host <name> --address <its ipv6> --out <migration_tls_dir>` (on the machine that keeps the CA; copy the directory here), or set migration_tls=off' },
  MIGRATION_TLS_MISMATCH: { class: 'conflict', hint: 'turn migration_tls on (or off) on every host alike, then migrate again; nothing was sent and the VM keeps running where it was' },
  MIGRATION_TLS_FAILED: { class: 'unavailable', hint: 'the hosts\' certificates do not verify each other: both must come from the same cluster CA (`ucloud host certs`) and the destination\'s must name its address; the VM keeps running where it was' },
  QMP_TIMEOUT: { class: 'unavailable' },
  QMP_DISCONNECTED: { class: 'unavailable' },
  STORAGE_FAILED: { class: 'internal', hint: 'see the host log' },
  COMMAND_FAILED: { class: 'internal' },
  COMMAND_TIMEOUT: { class: 'unavailable' },
  NO_CAPACITY: { class: 'conflict' },
  CAPACITY_BELOW_BOOKED: { class: 'conflict', hint: 'a host\'s capacity × allocation ratio cannot go below what its VMs book: delete VMs on it first, or keep more (see `ucloud host list`)' },
  HOST_UIDS_EXHAUSTED: { class: 'unavailable', hint: 'widen qemu_uid_range on this host (each VM here takes one uid)' },
  // storage and images
  DISK_SHRINK_REFUSED: { class: 'invalid', hint: 'disks only grow; ask for a size larger than the current one' },
  DISK_TAMPERED: { class: 'conflict', hint: 'the disk\'s metadata was changed from inside the VM (or is damaged), so ucloud will not open it: an admin inspects the file (qemu-img info -U), restores it or deletes the VM' },
  IMAGE_INVALID: { class: 'invalid', hint: 'upload a qcow2 or raw disk image' },
  IMAGE_HAS_BACKING_FILE: { class: 'invalid', hint: 'flatten it first: qemu-img convert -O qcow2 in.qcow2 out.qcow2' },
  IMAGE_IN_USE: { class: 'conflict', hint: 'delete the VMs made from it first' },
  IMAGE_AMBIGUOUS: { class: 'conflict', hint: 'the VM was made before image names were per owner and several owners now have an image of that name: an admin sets the VM record\'s image.owner' },
  IMAGE_TOO_LARGE: { class: 'invalid', hint: 'shrink the image (virt-sparsify, or a smaller disk before uploading), or import it into a store with more free space' },
  IMAGE_STORE_EXISTS: { class: 'conflict' },
  IMAGE_STORE_REQUIRED: { class: 'invalid', hint: 'pass --store (see `ucloud image-store list`), or an admin sets default_image_store' },
  UNKNOWN_STORAGE_DRIVER: { class: 'invalid', hint: 'see `GET /v1/storage-drivers` for the drivers this ucloud has' },
  INVALID_STORE_SETTINGS: { class: 'invalid', hint: 'see docs/storage.md for each driver\'s settings' },
  INVALID_STORAGE_REF: { class: 'invalid', hint: 'a volume reference is a plain name inside its store: no "/", "..", control characters, at most 255 bytes' },
  FILE_NOT_FOUND: { class: 'not_found', hint: 'see `ucloud file list`' },
  FILE_REFUSED: { class: 'invalid', hint: 'ucloud reads only regular files inside your own folder: no symlinks, devices, FIFOs or sockets' },
  FILE_HARD_LINKED: { class: 'invalid', hint: 'ucloud reads only files with a single link: copy the file (cp) instead of hard-linking it (ln)' },
  INVALID_FILE_NAME: { class: 'invalid', hint: 'an uploaded file\'s name is one path component of at most 255 bytes: no "/", no NUL or control characters, not starting with "." nor ending in .part or .tmp' },
  FILE_EXISTS: { class: 'conflict', hint: 'pick another name (--name), or replace it: ucloud file upload … --replace' },
  FILE_TOO_LARGE: { class: 'invalid', hint: 'the API takes files up to upload_max_size (see `ucloud config show` on the API\'s machine)' },
  QUOTA_EXCEEDED: { class: 'conflict', hint: 'delete files you no longer need (`ucloud file delete NAME`; their records go with them), or ask an admin to raise your files quota (files_quota, or per user `ucloud user quota NAME --files SIZE`)' },
  // per-user quotas (an admin sets them: `ucloud user quota NAME`); files' bytes are QUOTA_EXCEEDED above
  QUOTA_VMS_EXCEEDED: { class: 'conflict', hint: 'delete VMs you no longer need (`ucloud vm delete NAME`), or ask an admin to raise your quota (see `ucloud user quota YOURNAME`)' },
  QUOTA_VCPUS_EXCEEDED: { class: 'conflict', hint: 'ask for fewer vCPUs, delete or shrink VMs (`ucloud vm resize`), or ask an admin to raise your quota (see `ucloud user quota YOURNAME`)' },
  QUOTA_RAM_EXCEEDED: { class: 'conflict', hint: 'ask for less RAM, delete or shrink VMs (`ucloud vm resize`), or ask an admin to raise your quota (see `ucloud user quota YOURNAME`)' },
  QUOTA_DISK_EXCEEDED: { class: 'conflict', hint: 'ask for smaller disks, delete VMs you no longer need, or ask an admin to raise your quota (see `ucloud user quota YOURNAME`)' },
  QUOTA_NETWORKS_EXCEEDED: { class: 'conflict', hint: 'delete networks you no longer need (`ucloud network delete NAME`), or ask an admin to raise your quota (see `ucloud user quota YOURNAME`)' },
  QUOTA_IMAGES_EXCEEDED: { class: 'conflict', hint: 'delete images you no longer need (`ucloud image delete NAME`), or ask an admin to raise your quota (see `ucloud user quota YOURNAME`)' },
  RATE_LIMITED: { class: 'unavailable', status: 429, hint: 'wait the seconds the Retry-After header names, then send again; an admin can raise your rate (`ucloud user quota NAME --rate N`)' },
  CHECKSUM_MISMATCH: { class: 'invalid', hint: 'the bytes that arrived are not the ones sent (the file changed while being read, or the transfer was damaged): upload it again' },
  UPLOAD_INCOMPLETE: { class: 'invalid', hint: 'the connection ended before the whole file arrived, or sent more or less than its Content-Length: upload it again' },
  TOO_MANY_CONSOLES: { class: 'unavailable', status: 429, hint: 'each user has at most 16 interactive consoles open through one API at once: close one (Ctrl-] in `ucloud vm console`, or the browser tab)' },
  TOO_MANY_STREAMS: { class: 'unavailable', status: 429, hint: 'each user has at most 5 event streams open at once (ucloud events --follow, --wait): close one, then follow again' },
  TOO_MANY_UPLOADS: { class: 'unavailable', status: 429, hint: 'each user has at most 4 uploads at once (and the API 32 in all): wait for one to finish, then upload again' },
  STORAGE_FULL: { class: 'unavailable', status: 507, hint: 'the disk under files_path is full, over its quota or read-only: an admin frees space; nothing of the upload was kept' },
  FILES_PATH_MISSING: { class: 'unavailable', hint: 'an admin mounts or creates files_path on the API\'s machine (ucloud never creates it during an upload, so a missing mount cannot fill the root filesystem)' },
  FOLDER_TOO_LARGE: { class: 'conflict', hint: 'your folder holds more than 100000 entries or is nested more than 32 deep: delete or merge files (`ucloud file delete NAME`)' },
  USER_FOLDER_REFUSED: { class: 'conflict', hint: 'an admin makes <files_path>/<user> a real folder (not a symlink) again' },
  CEPH_UNAVAILABLE: { class: 'unavailable', hint: 'check the Ceph cluster (`ceph -s`) and the store\'s conf/pool settings' },
  // keys and networks
  INVALID_SSH_KEY: { class: 'invalid', hint: 'give an OpenSSH public key (ed25519, ecdsa, or rsa of 2048 bits or more), e.g. ~/.ssh/id_ed25519.pub' },
  KEY_EXISTS: { class: 'conflict' },
  KEY_NOT_FOUND: { class: 'not_found', hint: 'see `ucloud key list`' },
  NETWORK_NOT_FOUND: { class: 'not_found', hint: 'see `ucloud network list`' },
  NETWORK_EXISTS: { class: 'conflict' },
  NETWORK_IN_USE: { class: 'conflict', hint: 'delete or move the VMs on it first' },
  POOL_EXHAUSTED: { class: 'conflict', hint: 'an operator widens the pool (vni_range, ipv6_pool) in the configuration' },
  INVALID_RESOLVER: { class: 'invalid', hint: 'give at most 3 global or unique-local IPv6 unicast addresses, e.g. --dns 2001:db8::53' },
  ROUTING_OFF: { class: 'invalid', hint: 'this cluster routes no network (route_mode = off): create it without --routed, or ask the operator to set route_mode = static or bgp' },
  // consoles
  CONSOLE_UNAVAILABLE: { class: 'unavailable', hint: 'the console is kept by the agent of the VM\'s host: see `ucloud vm status` (host) and `ucloud host list` (alive)' },
  CONSOLE_TICKET_INVALID: { class: 'forbidden', hint: 'console tickets are minted by the API and work once, for a few seconds' },
  CONSOLE_TICKETS_THROTTLED: { class: 'unavailable', status: 429, hint: "a host's console endpoint turns away, for the rest of a minute, an address that presented 20 refused tickets in it; the API's own tickets are never refused, so look for what else on the management network sends tickets to the host" },
  VM_NO_DISPLAY: { class: 'conflict', hint: 'only a VM created with a display has a screen (`ucloud vm create NAME --display vnc`); the display is fixed at creation: this VM has its serial console (`ucloud vm console NAME`)' },
  WEBSOCKET_REQUIRED: { class: 'invalid', status: 426, hint: 'this route is a WebSocket: open it with `Upgrade: websocket` (`ucloud vm console NAME` does)' },
  WAIT_TIMEOUT: { class: 'unavailable', hint: 'the operation goes on; follow it with `ucloud vm status`' },
  INTERNAL: { class: 'internal' },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof CATALOGUE;

const HTTP_STATUS: Record<ErrorClass, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unavailable: 503,
  internal: 500,
};

/** Documented in docs/cli.md; `ucloud --help` prints the same table. */
export const EXIT_CODES: Record<ErrorClass | 'ok' | 'usage' | 'failed_state', number> = {
  ok: 0,
  internal: 1,
  usage: 2,
  invalid: 2,
  not_found: 3,
  conflict: 4,
  unauthenticated: 5,
  forbidden: 5,
  unavailable: 6,
  failed_state: 7,
};

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  hint?: string;
  details?: Record<string, unknown>;
}

export class UcloudError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, opts: { hint?: string; details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'UcloudError';
    this.code = code;
    this.hint = opts.hint ?? (CATALOGUE[code] as CatalogueEntry).hint;
    this.details = opts.details;
  }

  get class(): ErrorClass {
    return CATALOGUE[this.code].class;
  }

  get httpStatus(): number {
    return httpStatusOf(this.code);
  }

  toBody(): ErrorBody {
    const body: ErrorBody = { code: this.code, message: this.message };
    if (this.hint) body.hint = this.hint;
    if (this.details) body.details = this.details;
    return body;
  }
}

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(CATALOGUE, code);
}

export function httpStatusOf(code: ErrorCode): number {
  return (CATALOGUE[code] as CatalogueEntry).status ?? HTTP_STATUS[CATALOGUE[code].class];
}

export function exitCodeOf(code: ErrorCode): number {
  return EXIT_CODES[CATALOGUE[code].class];
}

/** Wraps anything thrown into a UcloudError; unknown errors become INTERNAL. */
export function toUcloudError(err: unknown): UcloudError {
  if (err instanceof UcloudError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new UcloudError('INTERNAL', message, { cause: err });
}
