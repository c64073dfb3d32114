import { Counter, Gauge, Histogram, type Registry } from '../common/metrics.js';

/** The imagescanner's metrics (docs/metrics.md); made once per process, kept across leadership terms. */
export class ImportMetrics {
  readonly imports: Counter<'result'>;
  readonly bytes: Counter;
  readonly duration: Histogram<'result'>;
  readonly inProgress: Gauge;

  constructor(registry: Registry) {
    this.imports = new Counter({ name: 'ucloud_image_imports_total', help: 'Image imports finished, by result (ok, error).', labelNames: ['result'], registers: [registry] });
    this.bytes = new Counter({ name: 'ucloud_image_import_bytes_total', help: 'Bytes of the source files of imports that finished ok.', registers: [registry] });
    this.duration = new Histogram({ name: 'ucloud_image_import_duration_seconds', help: 'How long an import took, by result.', labelNames: ['result'], buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600], registers: [registry] });
    this.inProgress = new Gauge({ name: 'ucloud_image_imports_in_progress', help: 'Imports running now.', registers: [registry] });
    // Both results present from the start: rate() and alerts on `error` need the series before the first failure.
    for (const result of ['ok', 'error']) this.imports.inc({ result }, 0);
  }
}
