import type { Client } from '../client/client.js';
import type { VmStats } from '../model/index.js';
import { fill, h } from './dom.js';

/** How many samples a graph keeps: two minutes at one every 2 s. */
const KEEP = 60;
const EVERY_MS = 2000;

interface Series {
  label: string;
  unit: (v: number) => string;
  /** The value of a sample, from it and the one before (rates); undefined for the first. */
  of: (now: VmStats, before: VmStats | undefined, seconds: number) => number | undefined;
  values: number[];
}

/** 1536 → "1.5 KiB": rates and sizes that are no round number. */
function human(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}
const rate = (n: number) => `${human(n)}/s`;
const sum = <T>(xs: T[], f: (x: T) => number) => xs.reduce((a, x) => a + f(x), 0);

/**
 * A VM's CPU, memory, disk and network, sampled from `GET /v1/vms/:ref/stats`
 * every 2 s and drawn as small graphs on canvases (script-drawn, so the CSP
 * needs nothing more). Returns a function that stops it.
 */
export function showStats(el: HTMLElement, client: Client, vmId: string, onError: (err: unknown) => void): () => void {
  const series: Series[] = [
    { label: 'CPU', unit: (v) => `${v.toFixed(0)}%`, of: (n, b, s) => (b && n.cpuSeconds !== undefined && b.cpuSeconds !== undefined ? ((n.cpuSeconds - b.cpuSeconds) / s) * 100 : undefined), values: [] },
    { label: 'Memory (RSS)', unit: human, of: (n) => n.memoryRssBytes, values: [] },
    { label: 'Disk read', unit: rate, of: (n, b, s) => (b ? (sum(n.disks, (d) => d.readBytes) - sum(b.disks, (d) => d.readBytes)) / s : undefined), values: [] },
    { label: 'Disk written', unit: rate, of: (n, b, s) => (b ? (sum(n.disks, (d) => d.writtenBytes) - sum(b.disks, (d) => d.writtenBytes)) / s : undefined), values: [] },
    { label: 'Network in', unit: rate, of: (n, b, s) => (b ? (sum(n.nics, (x) => x.receiveBytes) - sum(b.nics, (x) => x.receiveBytes)) / s : undefined), values: [] },
    { label: 'Network out', unit: rate, of: (n, b, s) => (b ? (sum(n.nics, (x) => x.transmitBytes) - sum(b.nics, (x) => x.transmitBytes)) / s : undefined), values: [] },
  ];
  const cells = series.map((s, i) => {
    const value = h('strong', { 'data-stat': String(i) }, '…');
    const canvas = h('canvas', { width: '240', height: '48', 'aria-hidden': 'true' });
    return { value, canvas, card: h('div', { class: 'stat' }, h('span', { class: 'muted small' }, s.label), value, canvas) };
  });
  fill(el, h('div', { class: 'stats' }, cells.map((c) => c.card)));
  let before: VmStats | undefined;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const sample = async () => {
    try {
      const now = await client.vms.stats(vmId);
      const seconds = before ? Math.max((Date.parse(now.at) - Date.parse(before.at)) / 1000, 0.001) : 1;
      series.forEach((s, i) => {
        const v = s.of(now, before, seconds);
        if (v === undefined || !Number.isFinite(v)) return;
        s.values.push(Math.max(v, 0));
        if (s.values.length > KEEP) s.values.shift();
        cells[i]!.value.textContent = s.unit(v);
        draw(cells[i]!.canvas, s.values);
      });
      before = now;
    } catch (err) {
      onError(err);
    }
    if (!stopped) timer = setTimeout(() => void sample(), EVERY_MS);
  };
  void sample();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function draw(canvas: HTMLCanvasElement, values: number[]): void {
  const g = canvas.getContext('2d');
  if (!g) return;
  const { width: w, height: hgt } = canvas;
  g.clearRect(0, 0, w, hgt);
  const max = Math.max(...values, 1e-9);
  g.strokeStyle = '#2456c7';
  g.lineWidth = 1.5;
  g.beginPath();
  values.forEach((v, i) => {
    // The newest at the right edge, older ones to its left.
    const x = w - ((values.length - 1 - i) / (KEEP - 1)) * w;
    const y = hgt - 2 - (v / max) * (hgt - 4);
    if (i === 0) g.moveTo(x, y);
    else g.lineTo(x, y);
  });
  g.stroke();
}
