import '@xterm/xterm/css/xterm.css';
import './style.css';
import type { Client } from '../client/client.js';
import { UcloudError } from '../common/errors.js';
// From common.js itself, as the client does: the model's index would bring every schema into the bundle.
import { LIST_LIMITS } from '../model/common.js';
import type { Event, HostView, Image, Network, SshKey, User, Vm } from '../model/index.js';
import { bytes, fill, h, patch } from './dom.js';
import { follow } from './live.js';
import { Paged } from './paging.js';
import { showStats } from './stats.js';
import { session } from './session.js';

/** The dashboard (docs/web.md): one page, views chosen by the URL's #fragment. */
interface State {
  client: Client;
  token: string;
  me: User;
  vms: Paged<Vm>;
  networks: Network[];
  keys: SshKey[];
  images: Image[];
  hosts: Paged<HostView>;
}

const VIEWS = ['vms', 'networks', 'keys', 'images', 'hosts'] as const;
type View = (typeof VIEWS)[number];
const TITLES: Record<View, string> = { vms: 'VMs', networks: 'Networks', keys: 'SSH keys', images: 'Images', hosts: 'Hosts' };

const app = document.getElementById('app')!;
let st: State | undefined;
let stopFollowing: (() => void) | undefined;
let closeView: (() => void) | undefined;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;

function describe(err: unknown): string {
  if (err instanceof UcloudError) return `${err.code}: ${err.message}${err.hint ? ` (${err.hint})` : ''}`;
  return (err as Error).message;
}

/** A line under the header saying what went wrong (or right); replaced by the next. */
function notice(text: string, kind: 'error' | 'ok' = 'error'): void {
  const el = document.getElementById('notice');
  if (el) fill(el, text ? h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text) : null);
}

async function run(what: () => Promise<unknown>, done?: string): Promise<void> {
  try {
    await what();
    if (done) notice(done, 'ok');
  } catch (err) {
    if (err instanceof UcloudError && err.code === 'UNAUTHENTICATED') return logout('your token no longer works: log in again');
    notice(describe(err));
  }
}

// ---- log in / out ----

function loginView(message?: string): void {
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true, placeholder: 'API token', 'aria-label': 'API token' });
  const error = h('p', { class: 'notice error', role: 'alert', hidden: !message }, message ?? '');
  const form = h('form', { class: 'login card', method: 'post', onsubmit: (e: SubmitEvent) => {
    e.preventDefault();
    const token = input.value.trim();
    input.value = '';
    void login(token).catch((err: unknown) => {
      error.hidden = false;
      fill(error, describe(err));
    });
  } },
  h('h1', {}, 'ucloud'),
  h('label', { for: 'token' }, 'API token'),
  input,
  h('button', { id: 'login', type: 'submit' }, 'Log in'),
  error,
  h('p', { class: 'muted' }, 'Make one with ', h('code', {}, 'ucloud token create NAME'), '. It is kept in this tab only (sessionStorage) and sent only to this server.'));
  fill(app, form);
  input.focus();
}

async function login(token: string): Promise<void> {
  const client = session.client(token);
  const me = await client.users.whoami();
  session.save(token);
  const limit = LIST_LIMITS.default;
  st = {
    client, token, me, networks: [], keys: [], images: [],
    vms: new Paged('vms', 'vm-pager', (cursor) => client.vms.page({ all: me.role === 'admin', limit, ...(cursor !== undefined ? { cursor } : {}) })),
    hosts: new Paged('hosts', 'host-pager', (cursor) => client.hosts.page({ limit, ...(cursor !== undefined ? { cursor } : {}) })),
  };
  shell();
  stopFollowing = follow(client, {
    all: me.role === 'admin',
    onChange: (e?: Event) => scheduleRefresh(e),
    onState: (live) => {
      const el = document.getElementById('live');
      if (el) {
        el.textContent = live ? 'live' : 'reconnecting…';
        el.className = live ? 'badge ok' : 'badge warn';
      }
    },
    onAuth: () => logout('your token no longer works: log in again'),
  });
  route();
}

function logout(message?: string): void {
  stopFollowing?.();
  closeView?.();
  stopFollowing = closeView = undefined;
  session.clear();
  st = undefined;
  if (location.hash) history.replaceState(null, '', location.pathname);
  loginView(message);
}

// ---- data ----

function scheduleRefresh(_e?: Event): void {
  clearTimeout(refreshTimer);
  // Events come in bursts (a create is several): one reload for each burst.
  refreshTimer = setTimeout(() => void refresh().then(renderAll), 150);
}

let loads = 0;

/**
 * Reads what the view on screen shows (the VMs view: the page of VMs and the
 * create form's choices) and keeps it, unless a later read has begun
 * meanwhile. Only that: every burst of events reloads, and an admin's fleet
 * has thousands of hosts that no other view needs.
 */
async function refresh(): Promise<void> {
  const s = st;
  if (!s) return;
  const { view, consoleOf, screenOf, statsOf } = currentView();
  // A console, a screen or stats draws nothing from the lists.
  if (consoleOf ?? screenOf ?? statsOf) return;
  const seq = ++loads;
  const keep = <K extends 'networks' | 'keys' | 'images'>(k: K, read: Promise<State[K]>) => read.then((v) => () => void (s[k] = v));
  await run(async () => {
    const reads = {
      vms: () => [s.vms.read(), keep('networks', s.client.networks.list()), keep('keys', s.client.keys.list()), keep('images', s.client.images.list())],
      networks: () => [keep('networks', s.client.networks.list())],
      keys: () => [keep('keys', s.client.keys.list())],
      images: () => [keep('images', s.client.images.list())],
      hosts: () => [s.hosts.read()],
    }[view]();
    const arrived = await Promise.all(reads);
    // Older than what the read begun since will bring (a page turned, another burst of events, another view).
    if (seq !== loads || st !== s) return;
    for (const put of arrived) put();
  });
}

// ---- the frame ----

function currentView(): { view: View; consoleOf?: string; screenOf?: string; statsOf?: string } {
  const [v, arg] = location.hash.replace(/^#\/?/, '').split('/');
  if (v === 'console' && arg) return { view: 'vms', consoleOf: decodeURIComponent(arg) };
  if (v === 'screen' && arg) return { view: 'vms', screenOf: decodeURIComponent(arg) };
  if (v === 'stats' && arg) return { view: 'vms', statsOf: decodeURIComponent(arg) };
  return { view: VIEWS.includes(v as View) && (v !== 'hosts' || st?.me.role === 'admin') ? (v as View) : 'vms' };
}

function shell(): void {
  const s = st!;
  const nav = h('nav', { 'aria-label': 'views' }, VIEWS.filter((v) => v !== 'hosts' || s.me.role === 'admin').map((v) => h('a', { href: `#/${v}`, 'data-view': v }, TITLES[v])));
  fill(app,
    h('header', {},
      h('strong', { class: 'brand' }, 'ucloud'),
      nav,
      h('span', { class: 'who' }, h('span', { id: 'live', class: 'badge warn' }, 'connecting…'), ` ${s.me.name} (${s.me.role}) `, h('button', { id: 'logout', class: 'link', onclick: () => logout() }, 'Log out'))),
    h('div', { id: 'notice' }),
    h('main', { id: 'view' }),
    h('datalist', { id: MIGRATE_HOSTS }));
}

function route(): void {
  if (!st) return;
  closeView?.();
  closeView = undefined;
  notice('');
  const { view, consoleOf, screenOf, statsOf } = currentView();
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav a')) a.setAttribute('aria-current', a.dataset.view === view && !consoleOf && !screenOf && !statsOf ? 'page' : 'false');
  const main = document.getElementById('view')!;
  if (consoleOf) return consoleView(main, consoleOf);
  if (screenOf) return screenView(main, screenOf);
  if (statsOf) return statsView(main, statsOf);
  fill(main, h('div', { id: 'form' }), h('div', { id: 'list' }));
  if (view === 'vms') vmForm(document.getElementById('form')!);
  if (view === 'networks') networkForm(document.getElementById('form')!);
  if (view === 'keys') keyForm(document.getElementById('form')!);
  // What was last read at once, then what this view shows now (other views' lists are not kept current).
  renderView();
  void refresh().then(renderAll);
}

/** Redraws the current list from the state (forms keep what was typed). */
function renderView(): void {
  const list = document.getElementById('list');
  const s = st;
  if (!list || !s) return;
  const { view } = currentView();
  const admin = s.me.role === 'admin';
  const turned = () => void refresh().then(renderAll);
  if (view === 'vms') patch(list, table('vms', ['Name', ...(admin ? ['Owner'] : []), 'Status', '~Size', 'Host', '~Addresses', ''], s.vms.items.map((v) => vmRow(v, admin))), s.vms.pager(turned));
  if (view === 'networks') patch(list, table('networks', ['Name', ...(admin ? ['Owner'] : []), 'Prefix', 'VNI', ''], s.networks.map((n) => h('tr', { 'data-network': n.name, 'data-id': `${n.owner}/${n.name}` }, h('td', {}, n.name), admin && h('td', {}, n.owner), h('td', { class: 'mono' }, n.prefix), h('td', {}, n.vni), h('td', { class: 'actions' }, n.owner === s.me.name && h('button', { 'data-act': 'delete', class: 'danger', onclick: () => confirm(`Delete network ${n.name}?`) && void run(() => s.client.networks.delete(n.name).then(refresh).then(renderView), `network ${n.name} deleted`) }, 'Delete'))))));
  if (view === 'keys') patch(list, table('keys', ['Name', 'Type', 'Fingerprint', ''], s.keys.map((k) => h('tr', { 'data-key': k.name }, h('td', {}, k.name), h('td', {}, `${k.type} ${k.bits}`), h('td', { class: 'mono' }, k.fingerprint), h('td', { class: 'actions' }, h('button', { 'data-act': 'delete', class: 'danger', onclick: () => confirm(`Delete key ${k.name}?`) && void run(() => s.client.keys.delete(k.name).then(refresh).then(renderView), `key ${k.name} deleted`) }, 'Delete'))))));
  if (view === 'images') patch(list, table('images', ['Name', 'Owner', 'Status', 'Store', 'Public'], s.images.map((i) => h('tr', { 'data-image': `${i.owner}/${i.name}` }, h('td', {}, i.name), h('td', {}, i.owner), h('td', {}, statusBadge(i.status), i.progress !== undefined && i.status !== 'ready' ? ` ${Math.round(i.progress * 100)}%` : ''), h('td', {}, i.store), h('td', {}, i.public ? 'yes' : 'no')))));
  if (view === 'hosts') patch(list, table('hosts', ['Name', 'State', 'VMs', 'CPU used', 'RAM used', 'Disk used', ''], s.hosts.items.map(hostRow)), s.hosts.pager(turned));
}

/** `head`: the column titles; a leading "~" marks a column left out on a narrow screen (its cells have class wide-only). */
function table(name: string, head: string[], rows: HTMLElement[]): HTMLElement {
  return h('div', { class: 'card' },
    h('h2', {}, TITLES[name as View] ?? name),
    rows.length === 0 ? h('p', { class: 'muted', 'data-empty': name }, 'None yet.') : h('div', { class: 'scroll' }, h('table', { 'data-list': name }, h('thead', {}, h('tr', {}, head.map((t) => h('th', { class: t.startsWith('~') ? 'wide-only' : undefined }, t.replace(/^~/, ''))))), h('tbody', {}, rows))));
}

function statusBadge(status: string): HTMLElement {
  const tone = ['running', 'ready', 'alive'].includes(status) ? 'ok' : ['error', 'failed', 'dead'].includes(status) ? 'bad' : ['stopped'].includes(status) ? 'off' : 'warn';
  return h('span', { class: `badge ${tone}`, 'data-status': status }, status);
}

// ---- VMs ----

function vmRow(v: Vm, admin: boolean): HTMLElement {
  const s = st!;
  const act = (verb: string, label: string, fn: (e: MouseEvent) => Promise<unknown>, cls = '') =>
    h('button', { 'data-act': verb, class: cls, onclick: (e: MouseEvent) => void run(() => fn(e), `${label}: ${v.name}`) }, label);
  const running = v.status === 'running';
  const stopped = v.status === 'stopped';
  // Its choices are read when it is focused: a fleet's thousands of hosts in every row would be a page of options.
  const target = h('input', { 'aria-label': `migrate ${v.name} to`, list: MIGRATE_HOSTS, placeholder: 'any host', autocomplete: 'off', spellcheck: 'false', 'data-typed': true, onfocus: (e: FocusEvent) => void run(() => offerHosts(e.currentTarget as HTMLInputElement, v.host)) });
  return h('tr', { 'data-vm': v.name, 'data-id': v.id },
    h('td', {}, v.name),
    admin && h('td', {}, v.owner),
    h('td', { class: 'status' }, statusBadge(v.status), v.error ? h('div', { class: 'muted small' }, v.error.code) : null),
    h('td', { class: 'wide-only' }, `${v.cpu} CPU, ${bytes(v.ramBytes)}, ${bytes(v.diskBytes)}`),
    h('td', { 'data-host': v.host ?? '' }, v.host ?? '–'),
    h('td', { class: 'mono small wide-only' }, (v.nics ?? []).map((n) => h('div', {}, n.address))),
    h('td', { class: 'actions' },
      stopped && act('start', 'Start', () => s.client.vms.start(v.id)),
      running && act('stop', 'Stop', () => s.client.vms.stop(v.id)),
      running && act('reboot', 'Reboot', () => s.client.vms.reboot(v.id)),
      running && h('a', { class: 'button', href: `#/console/${encodeURIComponent(v.id)}`, 'data-act': 'console' }, 'Console'),
      running && v.display === 'vnc' && h('a', { class: 'button', href: `#/screen/${encodeURIComponent(v.id)}`, 'data-act': 'screen' }, 'Screen'),
      running && h('a', { class: 'button', href: `#/stats/${encodeURIComponent(v.id)}`, 'data-act': 'stats' }, 'Stats'),
      // The host typed or chosen in the field on the page (a live update keeps that one, not `target`).
      admin && running && h('span', { class: 'migrate' }, target, act('migrate', 'Migrate', async (e) => {
        const field = (e.currentTarget as HTMLElement).closest('.migrate')?.querySelector('input');
        const to = field?.value.trim();
        await s.client.vms.migrate(v.id, to ? { to } : {});
        // Where it goes is its own host soon: a second Migrate must not send it there.
        if (field) field.value = '';
      })),
      h('button', { 'data-act': 'delete', class: 'danger', onclick: () => confirm(`Delete VM ${v.name} and its disks?`) && void run(() => s.client.vms.delete(v.id), `deleting ${v.name}`) }, 'Delete')));
}

/** The one list of hosts every migrate field offers (`<datalist>`), outside the redrawn list. */
const MIGRATE_HOSTS = 'migrate-hosts';

/** How long the hosts read for one migrate field serve the next ones (tabbing down a page reads them once). */
const HOSTS_FRESH_MS = 10_000;
let hostsRead: { at: number; hosts: Promise<HostView[]> } | undefined;
let offers = 0;

/**
 * Offers the hosts the VM of `field`, on `from`, can move to: alive, not
 * drained, not its own (every page of them). Nothing is offered until they
 * are known, and only while that field still has the focus: a slower read for
 * a field left meanwhile must not fill another VM's suggestions.
 */
async function offerHosts(field: HTMLInputElement, from: string | undefined): Promise<void> {
  const list = document.getElementById(MIGRATE_HOSTS);
  if (!list) return;
  const seq = ++offers;
  fill(list);
  if (!hostsRead || Date.now() - hostsRead.at > HOSTS_FRESH_MS) {
    const read = { at: Date.now(), hosts: st!.client.hosts.list() };
    hostsRead = read;
    read.hosts.catch(() => hostsRead === read && (hostsRead = undefined));
  }
  const hosts = await hostsRead.hosts;
  if (seq !== offers || document.activeElement !== field) return;
  fill(list, hosts.filter((x) => x.alive && !x.drained && x.name !== from).map((x) => h('option', { value: x.name })));
}

const SIZES: Record<string, [number, string, string]> = { tiny: [1, '128MiB', '1GiB'], small: [1, '1GiB', '10GiB'], medium: [2, '4GiB', '40GiB'], large: [4, '8GiB', '80GiB'] };

function vmForm(el: HTMLElement): void {
  const s = st!;
  const field = (label: string, input: HTMLElement) => h('label', {}, h('span', {}, label), input);
  const name = h('input', { id: 'vm-name', required: true, pattern: '[a-z][a-z0-9\\-]{0,62}', placeholder: 'web1', autocomplete: 'off' });
  const image = h('select', { id: 'vm-image', required: true });
  const cpu = h('input', { id: 'vm-cpu', type: 'number', min: '1', value: '1', required: true });
  const ram = h('input', { id: 'vm-ram', value: '1GiB', required: true });
  const disk = h('input', { id: 'vm-disk', value: '10GiB', required: true });
  const size = h('select', { id: 'vm-size', onchange: () => {
    const p = SIZES[size.value];
    if (p) [cpu.value, ram.value, disk.value] = [String(p[0]), p[1], p[2]];
  } }, Object.entries(SIZES).map(([k, [c, r, d]]) => h('option', { value: k, selected: k === 'small' }, `${k}: ${c} CPU, ${r}, ${d}`)), h('option', { value: 'custom' }, 'custom'));
  const network = h('select', { id: 'vm-network' });
  const display = h('select', { id: 'vm-display' }, h('option', { value: 'none' }, 'none (serial console)'), h('option', { value: 'vnc' }, 'VNC screen'));
  const keys = h('p', { class: 'muted small', id: 'vm-keys' });
  const fillChoices = () => {
    const chosen = image.value;
    fill(image, s.images.filter((i) => i.status === 'ready').map((i) => {
      const ref = i.owner === s.me.name ? i.name : `${i.owner}/${i.name}`;
      return h('option', { value: ref, selected: ref === chosen }, ref);
    }));
    const net = network.value;
    fill(network, h('option', { value: '' }, 'default (made on first use)'), s.networks.filter((n) => n.owner === s.me.name).map((n) => h('option', { value: n.name, selected: n.name === net }, n.name)));
    fill(keys, s.keys.length ? `SSH keys installed in the guest: all of yours (${s.keys.map((k) => k.name).join(', ')}).` : 'You have no SSH keys: add one under SSH keys to log in to the guest.');
  };
  fillChoices();
  for (const e of [cpu, ram, disk]) e.addEventListener('input', () => (size.value = 'custom'));
  const form = h('form', { class: 'card grid', id: 'vm-form', method: 'post', onsubmit: (e: SubmitEvent) => {
    e.preventDefault();
    void run(async () => {
      const vm = await s.client.vms.create({ name: name.value, image: image.value, cpu: Number(cpu.value), ram: ram.value, disk: disk.value, ...(network.value ? { networks: [network.value] } : {}), ...(display.value === 'vnc' ? { display: 'vnc' as const } : {}) });
      name.value = '';
      s.vms.items = [...s.vms.items.filter((v) => v.id !== vm.id), vm];
      renderView();
    }, `VM ${name.value} created: it starts in a moment`);
  } },
  h('h2', {}, 'New VM'),
  field('Name', name), field('Image', image), field('Size', size), field('CPUs', cpu), field('RAM', ram), field('Disk', disk), field('Network', network), field('Display', display),
  keys,
  h('button', { id: 'vm-create', type: 'submit' }, 'Create VM'));
  // The choices follow the lists as they change.
  (form as HTMLElement & { refill?: () => void }).refill = fillChoices;
  fill(el, form);
}

// ---- networks, keys ----

function networkForm(el: HTMLElement): void {
  const s = st!;
  const name = h('input', { id: 'net-name', required: true, pattern: '[a-z][a-z0-9\\-]{0,62}', placeholder: 'lab', autocomplete: 'off' });
  fill(el, h('form', { class: 'card row', method: 'post', onsubmit: (e: SubmitEvent) => {
    e.preventDefault();
    void run(async () => {
      await s.client.networks.create(name.value);
      name.value = '';
      await refresh();
      renderView();
    }, 'network created');
  } }, h('h2', {}, 'New network'), h('label', {}, h('span', {}, 'Name'), name), h('button', { type: 'submit' }, 'Create network')));
}

function keyForm(el: HTMLElement): void {
  const s = st!;
  const name = h('input', { id: 'key-name', required: true, placeholder: 'laptop', autocomplete: 'off' });
  const pub = h('textarea', { id: 'key-public', required: true, rows: '2', placeholder: 'ssh-ed25519 AAAA… you@laptop' });
  fill(el, h('form', { class: 'card grid', method: 'post', onsubmit: (e: SubmitEvent) => {
    e.preventDefault();
    void run(async () => {
      await s.client.keys.add(name.value, pub.value.trim());
      name.value = pub.value = '';
      await refresh();
      renderView();
    }, 'key added');
  } }, h('h2', {}, 'Add an SSH key'), h('label', {}, h('span', {}, 'Name'), name), h('label', { class: 'wide' }, h('span', {}, 'Public key'), pub), h('button', { type: 'submit' }, 'Add key')));
}

// ---- hosts (admins) ----

function hostRow(x: HostView): HTMLElement {
  const s = st!;
  const pct = (used: number, cap: number) => (cap ? `${Math.round((used / cap) * 100)}%` : '–');
  return h('tr', { 'data-host': x.name },
    h('td', {}, x.name, h('div', { class: 'muted small mono' }, x.address)),
    h('td', {}, statusBadge(x.alive ? (x.drained ? 'drained' : 'alive') : 'dead')),
    h('td', {}, x.vms),
    h('td', {}, `${x.used.cpu}/${x.allowed.cpu} (${pct(x.used.cpu, x.allowed.cpu)})`),
    h('td', {}, `${bytes(x.used.ramBytes)} / ${bytes(x.allowed.ramBytes)}`),
    h('td', {}, `${bytes(x.used.diskBytes)} / ${bytes(x.allowed.diskBytes)}`),
    h('td', { class: 'actions' }, x.drained
      ? h('button', { 'data-act': 'undrain', onclick: () => void run(() => s.client.hosts.undrain(x.name).then(refresh).then(renderView), `${x.name} takes VMs again`) }, 'Undrain')
      : h('button', { 'data-act': 'drain', onclick: () => confirm(`Drain ${x.name}? Its VMs migrate away.`) && void run(() => s.client.hosts.drain(x.name).then(refresh).then(renderView), `draining ${x.name}`) }, 'Drain')));
}

/** `<what>: <the VM's name>`: from the page read when it is there, else asked of the API (a link opened directly). */
function vmTitle(what: string, id: string): HTMLElement {
  const s = st!;
  const known = s.vms.items.find((v) => v.id === id || v.name === id);
  const title = h('h2', {}, `${what}: ${known?.name ?? id}`);
  if (!known) void s.client.vms.get(id).then((v) => (title.textContent = `${what}: ${v.name}`), () => undefined);
  return title;
}

// ---- stats ----

function statsView(main: HTMLElement, id: string): void {
  const s = st!;
  const vm = s.vms.items.find((v) => v.id === id || v.name === id);
  const body = h('div', { id: 'stats' });
  fill(main, h('div', { class: 'card' },
    h('div', { class: 'row' }, h('a', { href: '#/vms', class: 'button' }, '← VMs'), vmTitle('Stats', id)),
    body,
    h('p', { class: 'muted small' }, 'Read from its host every 2 s; the graphs keep two minutes.')));
  closeView = showStats(body, s.client, vm?.id ?? id, (err) => notice(describe(err)));
}

// ---- console ----

function consoleView(main: HTMLElement, id: string): void {
  const s = st!;
  const vm = s.vms.items.find((v) => v.id === id || v.name === id);
  const state = h('span', { id: 'console-state', class: 'badge warn' }, 'connecting…');
  const term = h('div', { id: 'term', class: 'term' });
  fill(main, h('div', { class: 'card console' },
    h('div', { class: 'row' }, h('a', { href: '#/vms', class: 'button' }, '← VMs'), vmTitle('Console', id), state),
    term,
    h('p', { class: 'muted small' }, 'The serial console: what you type goes to the guest. One viewer at a time can type; others watch.')));
  // xterm.js is most of the bundle: loaded when a console is first opened.
  void import('./console.js').then(({ openConsole }) => {
    if (location.hash !== `#/console/${encodeURIComponent(id)}` && location.hash !== `#/console/${id}`) return;
    closeView = openConsole(term, s.token, vm?.id ?? id, (c) => {
      state.textContent = c.text;
      state.className = `badge ${c.kind === 'open' ? 'ok' : c.kind === 'connecting' ? 'warn' : 'bad'}`;
      state.dataset.state = c.kind;
    });
  }, (err: unknown) => notice(`cannot load the console: ${(err as Error).message}`));
}

// ---- screen (display vnc) ----

function screenView(main: HTMLElement, id: string): void {
  const s = st!;
  const vm = s.vms.items.find((v) => v.id === id || v.name === id);
  const state = h('span', { id: 'screen-state', class: 'badge warn' }, 'connecting…');
  const screen = h('div', { id: 'screen', class: 'screen' });
  const cad = h('button', { 'data-act': 'ctrl-alt-del', disabled: true }, 'Ctrl-Alt-Del');
  fill(main, h('div', { class: 'card console' },
    h('div', { class: 'row' }, h('a', { href: '#/vms', class: 'button' }, '← VMs'), vmTitle('Screen', id), cad, state),
    screen,
    h('p', { class: 'muted small' }, 'The VM\'s display (VNC): keys and pointer go to the guest, for everyone who has it open.')));
  // noVNC, like xterm.js, is a chunk of its own, loaded when a screen is first opened.
  void import('./screen.js').then(({ openScreen }) => {
    if (location.hash !== `#/screen/${encodeURIComponent(id)}` && location.hash !== `#/screen/${id}`) return;
    const opened = openScreen(screen, s.token, vm?.id ?? id, (c) => {
      state.textContent = c.text;
      state.className = `badge ${c.kind === 'open' ? 'ok' : c.kind === 'connecting' ? 'warn' : 'bad'}`;
      state.dataset.state = c.kind;
      cad.disabled = c.kind !== 'open';
    });
    cad.onclick = () => opened.ctrlAltDel();
    closeView = opened.close;
  }, (err: unknown) => notice(`cannot load the screen: ${(err as Error).message}`));
}

/** The list, and the create form's choices (what was typed stays). */
function renderAll(): void {
  renderView();
  (document.getElementById('vm-form') as (HTMLElement & { refill?: () => void }) | null)?.refill?.();
}

window.addEventListener('hashchange', route);
const saved = session.token();
if (saved) login(saved).catch((err: unknown) => logout(describe(err)));
else loginView();
