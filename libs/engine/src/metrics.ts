import type { SourceMetrics } from '@sinew/connectors';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The engine's Prometheus metrics, in a registry of their own (one per engine). */
export class EngineMetrics {
  readonly registry = new Registry();
  readonly received: Counter<'channel'>;
  readonly duplicates: Counter<'channel'>;
  readonly filtered: Counter<'channel'>;
  readonly rejected: Counter<'channel'>;
  readonly errored: Counter<'channel'>;
  readonly unavailable: Counter<'channel'>;
  readonly mappingWarnings: Counter<'channel' | 'code'>;
  readonly sent: Counter<'channel' | 'destination'>;
  readonly attemptsFailed: Counter<'channel' | 'destination'>;
  readonly deadLettered: Counter<'channel' | 'destination'>;
  readonly sends: Counter<'channel' | 'destination'>;
  readonly outcomesUnrecorded: Counter<'channel' | 'destination'>;
  readonly destinationUp: Gauge<'channel' | 'destination'>;
  readonly ackLatency: Histogram<'channel'>;
  readonly endToEnd: Histogram<'channel' | 'destination'>;
  readonly queueDepth: Gauge<'queue' | 'state'>;
  readonly queueOldest: Gauge<'queue'>;
  readonly sourceConnectionsClosed: Counter<'channel' | 'reason'>;

  constructor(defaultMetrics = true) {
    const registers = [this.registry];
    const counter = <L extends string>(name: string, help: string, labelNames: L[]) =>
      new Counter<L>({ name, help, labelNames, registers });
    this.received = counter('sinew_messages_received_total', 'Messages committed to the ledger', ['channel']);
    this.duplicates = counter('sinew_messages_duplicate_total', 'Duplicates answered with the original ACK', [
      'channel',
    ]);
    this.filtered = counter('sinew_messages_filtered_total', 'Messages dropped by a filter step', [
      'channel',
    ]);
    this.rejected = counter(
      'sinew_messages_rejected_total',
      'Messages refused (malformed, or a reject policy)',
      ['channel'],
    );
    this.errored = counter('sinew_messages_errored_total', 'Messages whose pipeline failed (dead-lettered)', [
      'channel',
    ]);
    this.unavailable = counter(
      'sinew_messages_unavailable_total',
      'Messages refused because the ledger could not be written',
      ['channel'],
    );
    this.mappingWarnings = counter(
      'sinew_mapping_warnings_total',
      'Mapping warnings: optional elements dropped (a value that could not be converted), required elements given their default',
      ['channel', 'code'],
    );
    this.sent = counter('sinew_deliveries_sent_total', 'Deliveries accepted by the destination', [
      'channel',
      'destination',
    ]);
    this.attemptsFailed = counter('sinew_delivery_attempts_failed_total', 'Delivery attempts that failed', [
      'channel',
      'destination',
    ]);
    this.deadLettered = counter('sinew_deliveries_dead_lettered_total', 'Deliveries dead-lettered', [
      'channel',
      'destination',
    ]);
    this.sends = counter(
      'sinew_delivery_sends_total',
      'Delivery attempts that may have reached the destination (all but those that could not connect)',
      ['channel', 'destination'],
    );
    this.outcomesUnrecorded = counter(
      'sinew_delivery_outcomes_unrecorded_total',
      'Delivery outcomes the ledger could not record at once (held in memory, no send until recorded)',
      ['channel', 'destination'],
    );
    this.destinationUp = new Gauge({
      name: 'sinew_destination_up',
      help: '1 while the destination takes deliveries, 0 from a failed attempt until the next success',
      labelNames: ['channel', 'destination'],
      registers,
    });
    this.ackLatency = new Histogram({
      name: 'sinew_ack_latency_seconds',
      help: 'From a message read to its ACK being ready',
      labelNames: ['channel'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers,
    });
    this.endToEnd = new Histogram({
      name: 'sinew_end_to_end_latency_seconds',
      help: 'From receipt to the destination accepting it',
      labelNames: ['channel', 'destination'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120, 600, 3600],
      registers,
    });
    this.queueDepth = new Gauge({
      name: 'sinew_queue_jobs',
      help: 'Jobs in a queue by state',
      labelNames: ['queue', 'state'],
      registers,
    });
    this.queueOldest = new Gauge({
      name: 'sinew_queue_oldest_age_seconds',
      help: 'Age of the oldest waiting job',
      labelNames: ['queue'],
      registers,
    });
    this.sourceConnectionsClosed = counter(
      'sinew_source_connections_closed_total',
      'Connections a source refused on arrival or closed (not_allowed, per_peer_limit, full, evicted, frame_timeout, idle)',
      ['channel', 'reason'],
    );
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'sinew_' });
  }

  /** The counters a channel's source reports through (its `SourceContext.metrics`). */
  forSource(channel: string): SourceMetrics {
    return { connectionClosed: (reason) => this.sourceConnectionsClosed.inc({ channel, reason }) };
  }
}
